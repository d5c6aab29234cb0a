# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
TrainConfig: everything one training run needs, as YAML (`lago train`) or ROS parameters (trainer).

YAML layout: top-level run settings, and one `ppo:` section holding the fields of PPOConfig
(lago_ros/rl/ppo.py) and of GuidanceConfig (lago_ros/rl/guidance.py, LaGO's beta, schedule,
KL direction, prior subset, std floor and adaptation: `ppo.adaptation=target_kl`,
`ppo.prior_kl_target=4`, docs/adaptive_guidance.md), so `ppo.beta=0.1` keeps working while the
code keeps PPO and guidance apart. The top-level `seed` seeds both the envs and PPO (`ppo.seed`
is no key).
"""

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from lago_ros.config import build, choices, ConfigError, load_yaml, section, to_dict
from lago_ros.envs.registry import VECTOR_ENVS
from lago_ros.rl.guidance import GuidanceConfig
from lago_ros.rl.ppo import PPOConfig
from lago_ros.utils import PathLike

PRIOR_BACKENDS = ('torch', 'onnxruntime')


@dataclass
class TrainConfig:
    """Everything one training run needs; loaded from YAML by `load_config`."""

    task: str = 'reach-v3'
    """registry task name (see lago_ros.envs.registry.list_tasks())"""
    seed: int = 0
    """seed of the training envs and of PPO"""
    total_timesteps: int = 100_000
    """environment steps to train for (summed over the vector env; > 0)"""
    num_envs: int = 4
    """parallel environments in the vector env"""
    vector_env: str = field(default='split', metadata=choices(*VECTOR_ENVS))
    """
    how the envs run (registry.VECTOR_ENVS): 'split' steps half of them in one worker process
    alongside this one (reach-v3, 4 envs, 2 idle cores: ~1.3x vanilla PPO steps/s, but slower
    than 'sync' when other work keeps the cores busy), 'sync' all here; training is identical"""
    ppo: PPOConfig = field(default_factory=PPOConfig, metadata=section('ppo', hidden=('seed',)))
    """PPO hyper-parameters (section `ppo:`)"""
    guidance: GuidanceConfig = field(default_factory=GuidanceConfig, metadata=section('ppo'))
    """LaGO's guidance settings, beta schedule included (also read from section `ppo:`)"""
    prior: Optional[str] = None
    """folder of a saved ActionPrior, or None for vanilla PPO"""
    prior_backend: str = field(default='torch', metadata=choices(*PRIOR_BACKENDS))
    """
    what runs an in-process prior: 'torch' (the reference numerics), or 'onnxruntime' (the
    per-state pass exported to ONNX Runtime: outputs within 1e-5, faster per query; needs a
    prefix-attention prior)"""
    prior_int8: bool = False
    """int8 prior weights (~2.5x faster on CPU; its outputs move slightly, measured)"""
    run_dir: Optional[str] = None
    """output folder (default runs/<task>-seed<seed>); an existing checkpoint there is resumed"""
    checkpoint_every: int = 10
    """updates between checkpoints (0: only at the end, where one is always written)"""
    eval_episodes: int = 20
    """episodes of the final deterministic evaluation"""
    eval_split: str = 'train'
    """instruction/goal split the evaluation envs draw from"""
    train_split: str = 'train'
    """
    instruction split the training envs draw from ('test': the prior is queried only with
    paraphrases it never saw). Unless both splits are 'train', evaluation runs on new envs built
    with seed + EVAL_SEED_OFFSET, i.e. on goals that training never showed"""

    def __post_init__(self) -> None:
        """Keep `ppo.seed` equal to the run's seed; refuse budgets that cannot train."""
        self.ppo = dataclasses.replace(self.ppo, seed=self.seed)
        for name in ('total_timesteps', 'num_envs', 'eval_episodes'):
            if getattr(self, name) <= 0:
                raise ConfigError(f'{name} is {getattr(self, name)}; expected a positive '
                                  'integer')
        if self.checkpoint_every < 0:
            raise ConfigError(f'checkpoint_every is {self.checkpoint_every}; expected >= 0 '
                              '(0: only at the end)')
        if self.prior_backend not in PRIOR_BACKENDS:
            raise ConfigError(f'prior_backend is {self.prior_backend!r}; expected one of '
                              f'{PRIOR_BACKENDS}')
        if self.vector_env not in VECTOR_ENVS:
            raise ConfigError(f'vector_env is {self.vector_env!r}; expected one of {VECTOR_ENVS}')

    def resolved_run_dir(self) -> Path:
        """Return the run folder, defaulting to runs/<task>-seed<seed>."""
        return Path(self.run_dir or f'runs/{self.task}-seed{self.seed}')


def load_config(path: Optional[PathLike], overrides: Sequence[str] = ()) -> TrainConfig:
    """Read a YAML config (or start from defaults when `path` is None) and apply overrides."""
    return build(TrainConfig, load_yaml(path, overrides))


def config_to_dict(cfg: TrainConfig) -> Dict[str, Any]:
    """Plain, YAML-safe form of a config (what `load_config` reads back)."""
    return to_dict(cfg)
