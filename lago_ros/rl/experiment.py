# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
`lago train`: one training run from a YAML config, in-process envs and prior.

    python -m lago_ros.rl.experiment config.yaml ppo.beta=0.1 seed=1

The config is a TrainConfig (lago_ros/rl/train_config.py); the run itself (resume check,
guidance, evaluation, the files of the run folder) is the run service's (lago_ros/rl/run.py),
which the trainer node shares. Running again on a folder with a checkpoint resumes it.
"""

import argparse
import json
import logging
import os
from typing import Any, Dict, Optional, Sequence

from lago_ros.config import apply_override, ConfigError
from lago_ros.rl.checkpoint import load_checkpoint
from lago_ros.rl.evaluate import EvalResult, evaluate
from lago_ros.rl.ppo import PPO
from lago_ros.rl.run import EVAL_SEED_OFFSET, load_prior, TrainingRun
from lago_ros.rl.train_config import config_to_dict, load_config, PRIOR_BACKENDS, TrainConfig
from lago_ros.utils import configure_logging, PathLike

__all__ = ['apply_override', 'config_to_dict', 'ConfigError', 'EVAL_SEED_OFFSET',
           'evaluate_checkpoint', 'load_config', 'main', 'PRIOR_BACKENDS', 'run_training',
           'TrainConfig']

LOGGER = logging.getLogger(__name__)


def run_training(cfg: TrainConfig) -> Dict[str, Any]:
    """Train (resuming from the run folder's checkpoint if present), evaluate, write artefacts."""
    from lago_ros.envs import registry

    run = TrainingRun(cfg)
    with run:
        prior = None
        if cfg.prior is not None:
            prior = load_prior(cfg.prior, cfg.prior_backend, cfg.prior_int8,
                               threads=os.cpu_count() or 1)
        envs = registry.make_vec_env(cfg.task, cfg.num_envs, cfg.seed, split=cfg.train_split,
                                     vector_env=cfg.vector_env)
        try:
            run.start(envs, prior)
            run.learn()
            # Both 'train': reuse the training envs (evaluate() reseeds them), as before.
            if (cfg.train_split, cfg.eval_split) != ('train', 'train'):
                envs.close()
                envs = registry.make_vec_env(cfg.task, cfg.num_envs,
                                             cfg.seed + EVAL_SEED_OFFSET, split=cfg.eval_split,
                                             vector_env=cfg.vector_env)
            return run.finish(envs)
        finally:
            envs.close()


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
    configure_logging()  # the project's loggers only, not PyOpenGL's notes
    cfg = load_config(None if args.config == '-' else args.config, args.overrides)
    print(json.dumps(run_training(cfg), indent=2))


if __name__ == '__main__':
    main()
