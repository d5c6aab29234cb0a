# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
One training run from a YAML config: envs, optional prior, PPO, evaluation and artefacts.

    python -m lago_ros.rl.experiment config.yaml ppo.beta=0.1 seed=1

The beta schedule is part of the `ppo` section (`beta`, `beta_schedule`, `beta_final`,
`beta_decay_steps`); the top-level `seed` seeds both the envs and PPO (so `ppo.seed` is not a
key). A run folder holds config.yaml, metrics.csv, tensorboard/, checkpoint.pt,
learning_curve.png and summary.json; running again on a folder with a checkpoint resumes it.
"""

import argparse
import dataclasses
import json
import math
import logging
import os
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml

from lago_ros.envs.registry import VECTOR_ENVS
from lago_ros.rl.checkpoint import load_checkpoint
from lago_ros.rl.evaluate import EvalResult, evaluate
from lago_ros.rl.metrics import plot_learning_curve
from lago_ros.rl.ppo import CHECKPOINT_NAME, PPO, PPOConfig
from lago_ros.utils import atomic_write, PathLike

LOGGER = logging.getLogger(__name__)

PRIOR_BACKENDS = ('torch', 'onnxruntime')
EVAL_SEED_OFFSET = 10_000
"""Evaluation envs use seed + EVAL_SEED_OFFSET, so they never replay training episodes."""


class ConfigError(ValueError):
    """A training config or override that names an unknown key or has a value of the wrong type."""


@dataclass
class TrainConfig:
    """Everything one training run needs; loaded from YAML by `load_config`."""

    task: str = 'reach-v3'
    """registry task name (see lago_ros.envs.registry.list_tasks())"""
    seed: int = 0
    """seed of the training envs and of PPO"""
    total_timesteps: int = 100_000
    """environment steps to train for (summed over the vector env)"""
    num_envs: int = 4
    """parallel environments in the vector env"""
    vector_env: str = 'split'
    """
    how the envs run (registry.VECTOR_ENVS): 'split' steps half of them in one worker process
    alongside this one (reach-v3, 4 envs, 2 idle cores: ~1.3x vanilla PPO steps/s, but slower
    than 'sync' when other work keeps the cores busy), 'sync' all here; training is identical"""
    ppo: PPOConfig = field(default_factory=PPOConfig)
    """PPO and guidance hyper-parameters, beta schedule included"""
    prior: Optional[str] = None
    """folder of a saved ActionPrior, or None for vanilla PPO"""
    prior_backend: str = 'torch'
    """
    what runs the prior: 'torch', or 'onnxruntime' (the per-state pass exported to ONNX Runtime:
    the same outputs, faster per query; needs a prefix-attention prior)"""
    prior_int8: bool = False
    """int8 prior weights (~2.5x faster on CPU; its outputs move slightly, measured)"""
    run_dir: Optional[str] = None
    """output folder (default runs/<task>-seed<seed>); an existing checkpoint there is resumed"""
    checkpoint_every: int = 10
    """updates between checkpoints (one is always written at the end)"""
    eval_episodes: int = 20
    """episodes of the final deterministic evaluation"""
    eval_split: str = 'train'
    """instruction/goal split the evaluation envs draw from"""

    def __post_init__(self) -> None:
        """Keep `ppo.seed` equal to the run's seed: one seed, one place to set it."""
        self.ppo = dataclasses.replace(self.ppo, seed=self.seed)
        if self.prior_backend not in PRIOR_BACKENDS:
            raise ConfigError(f'prior_backend is {self.prior_backend!r}; expected one of '
                              f'{PRIOR_BACKENDS}')
        if self.vector_env not in VECTOR_ENVS:
            raise ConfigError(f'vector_env is {self.vector_env!r}; expected one of {VECTOR_ENVS}')

    def resolved_run_dir(self) -> Path:
        """Return the run folder, defaulting to runs/<task>-seed<seed>."""
        return Path(self.run_dir or f'runs/{self.task}-seed{self.seed}')


def _valid_keys(cls: type, exclude: Sequence[str] = ()) -> List[str]:
    return [f.name for f in dataclasses.fields(cls) if f.name not in exclude]


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """Check/convert a YAML value for a field annotated `hint`; raise ConfigError if it can't."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        if value is None and type(None) in args:
            return None
        return _coerce(key, value, next(a for a in args if a is not type(None)))
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f'{key} must be a list, got {value!r}')
        return tuple(_coerce(f'{key}[{i}]', v, args[0]) for i, v in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f'{key} must be true or false, got {value!r}')
        return value
    if hint in (int, float):
        number = value
        if isinstance(value, str):  # YAML 1.1 reads '3e-4' as a string
            try:
                number = float(value)
            except ValueError:
                number = None
        if isinstance(number, bool) or not isinstance(number, (int, float)) or (
                not math.isfinite(number)) or (hint is int and float(number) != int(number)):
            raise ConfigError(f'{key} must be {"an integer" if hint is int else "a number"}, '
                              f'got {value!r}')
        return hint(number)
    if hint is str and not isinstance(value, str):
        raise ConfigError(f'{key} must be a string, got {value!r}')
    return value


def _build(cls: type, data: Dict[str, Any], prefix: str, exclude: Sequence[str] = ()) -> Any:
    """Instantiate dataclass `cls` from `data`, checking keys and value types."""
    if not isinstance(data, dict):
        raise ConfigError(f'{prefix or "the config"} must be a mapping, got {data!r}')
    valid = _valid_keys(cls, exclude)
    odd = [key for key in data if not isinstance(key, str)]
    if odd:
        raise ConfigError(f'{prefix or "the config"} has non-text keys {odd}; expected field '
                          f'names: {", ".join(prefix + k for k in valid)}')
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ConfigError(f'unknown config key(s) {[prefix + k for k in unknown]}; valid keys: '
                          f'{", ".join(prefix + k for k in valid)}')
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        if hints[key] is PPOConfig:
            kwargs[key] = _build(PPOConfig, value, f'{key}.', exclude=('seed',))
        else:
            kwargs[key] = _coerce(prefix + key, value, hints[key])
    try:
        return cls(**kwargs)
    except ValueError as err:
        raise ConfigError(f'invalid config: {err}') from err


def apply_override(data: Dict[str, Any], override: str) -> None:
    """Set a dotted `key=value` override in a nested config dict (value parsed as YAML)."""
    key, sep, text = override.partition('=')
    if not sep or not key.strip():
        raise ConfigError(f'override {override!r} must look like key=value, e.g. ppo.beta=0.1')
    parts = key.strip().split('.')
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f'override {override!r}: {part!r} is not a section')
    try:
        node[parts[-1]] = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f'override {override!r}: value is not valid YAML ({err})') from err


def load_config(path: Optional[PathLike], overrides: Sequence[str] = ()) -> TrainConfig:
    """Read a YAML config (or start from defaults when `path` is None) and apply overrides."""
    data: Any = {}
    if path is not None:
        with open(path) as handle:
            data = yaml.safe_load(handle) or {}
        if not isinstance(data, dict):
            raise ConfigError(f'{path} must hold a mapping of config keys, got '
                              f'{type(data).__name__}')
    for override in overrides:
        apply_override(data, override)
    return _build(TrainConfig, data, '')


def config_to_dict(cfg: TrainConfig) -> Dict[str, Any]:
    """Plain, YAML-safe form of a config (what `load_config` reads back)."""
    data = dataclasses.asdict(cfg)
    data['ppo'].pop('seed')
    data['ppo']['hidden_sizes'] = list(data['ppo']['hidden_sizes'])
    return data


def run_training(cfg: TrainConfig) -> Dict[str, Any]:
    """Train (resuming from the run folder's checkpoint if present), evaluate, write artefacts."""
    from lago_ros.envs import registry

    run_dir = cfg.resolved_run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    prior = None
    if cfg.prior is not None:
        from lago_ros.prior.model import ActionPrior

        loaded = ActionPrior.from_pretrained(cfg.prior)
        if cfg.prior_backend == 'onnxruntime':
            from lago_ros.prior.onnx_runtime import OnnxPrior

            prior = OnnxPrior(loaded, int8=cfg.prior_int8, threads=os.cpu_count() or 1).predict
        else:
            prior = (loaded.quantize_int8() if cfg.prior_int8 else loaded).predict
    envs = registry.make_vec_env(cfg.task, cfg.num_envs, cfg.seed, vector_env=cfg.vector_env)
    checkpoint = run_dir / CHECKPOINT_NAME
    if checkpoint.exists():
        agent = PPO.load(checkpoint, envs, prior, run_dir)
        stored, wanted = dataclasses.asdict(agent.config), dataclasses.asdict(cfg.ppo)
        changed = sorted(k for k in wanted if stored[k] != wanted[k])
        if agent.task not in (None, cfg.task):
            changed.insert(0, f'task ({agent.task})')
        if changed:
            raise ConfigError(f'{checkpoint} was trained with different ppo settings {changed}; '
                              'use a new run_dir or the original config')
        LOGGER.info('resuming %s at step %d', checkpoint, agent.global_step)
    else:
        agent = PPO(cfg.ppo, envs, prior, run_dir, task=cfg.task)
    with atomic_write(run_dir / 'config.yaml', 'w') as handle:
        yaml.safe_dump(config_to_dict(cfg), handle, sort_keys=False)
    start = time.perf_counter()
    eval_seed = cfg.seed + EVAL_SEED_OFFSET
    try:
        agent.learn(cfg.total_timesteps, cfg.checkpoint_every)
        train_seconds = time.perf_counter() - start
        if cfg.eval_split != 'train':  # else reuse the training envs: evaluate() reseeds them
            envs.close()
            envs = registry.make_vec_env(cfg.task, cfg.num_envs, eval_seed, split=cfg.eval_split,
                                         vector_env=cfg.vector_env)
        result = evaluate(agent.predict, envs, cfg.eval_episodes, eval_seed)
    finally:
        agent.close()
        envs.close()
    if (run_dir / 'metrics.csv').exists():
        plot_learning_curve(run_dir / 'metrics.csv', run_dir / 'learning_curve.png')
    last = agent.history[-1] if agent.history else {}
    summary = {'task': cfg.task, 'seed': cfg.seed, 'prior': cfg.prior, 'beta': cfg.ppo.beta,
               'global_step': agent.global_step, 'updates': agent.update_index,
               'train_seconds': train_seconds,
               'train_episodic_return': last.get('charts/episodic_return'),
               'train_success_rate': last.get('charts/success_rate'),
               'eval': result.to_dict(), 'run_dir': str(run_dir), 'checkpoint': str(checkpoint)}
    with atomic_write(run_dir / 'summary.json', 'w') as handle:
        json.dump(summary, handle, indent=2)
    return summary


def evaluate_checkpoint(checkpoint: PathLike, episodes: int = 20, seed: int = 0,
                        split: str = 'train', num_envs: int = 4) -> EvalResult:
    """
    Evaluate a checkpoint's deterministic policy on the task it records.

    Like `run_training`, the envs are seeded with seed + EVAL_SEED_OFFSET, so the training seed
    reproduces a run's final evaluation (same episodes and num_envs).
    """
    from lago_ros.envs import registry

    task = load_checkpoint(checkpoint).get('task')
    if not task:
        raise ConfigError(f'checkpoint {checkpoint} does not record its task; it was not written '
                          'by run_training (PPO(..., task=...) records it)')
    eval_seed = seed + EVAL_SEED_OFFSET
    envs = registry.make_vec_env(task, num_envs, eval_seed, split=split)
    try:
        return evaluate(PPO.load(checkpoint, envs).predict, envs, episodes, eval_seed)
    finally:
        envs.close()


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Command line: a YAML config path (or '-' for defaults) and key=value overrides."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help="YAML config file, or '-' for the defaults")
    parser.add_argument('overrides', nargs='*', help='dotted key=value, e.g. ppo.beta=0.1')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(name)s: %(message)s')
    cfg = load_config(None if args.config == '-' else args.config, args.overrides)
    print(json.dumps(run_training(cfg), indent=2))


if __name__ == '__main__':
    main()
