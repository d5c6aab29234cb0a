# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The run service: one training run, whichever front end starts it.

`lago train` (rl/experiment.py, in-process envs and prior) and the trainer node
(nodes/trainer.py, envs over the bridge, prior over the service) both go through `TrainingRun`:

    run = TrainingRun(cfg)          # refuses a checkpoint trained with other settings
    with run:                       # a failure before the first checkpoint leaves no folder
        run.start(envs, prior)      # resume run_dir/checkpoint.pt, or a fresh PPO + guidance
        run.learn(callback)
        summary = run.finish(eval_envs)

and get the same run folder: config.yaml (at start), metrics.csv, tensorboard/ and checkpoint.pt
(written by PPO), learning_curve.png and summary.json (at the end, after the evaluation).
"""

import dataclasses
import json
import logging
import shutil
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import yaml

from lago_ros.config import ConfigError
from lago_ros.rl.checkpoint import load_checkpoint
from lago_ros.rl.evaluate import evaluate
from lago_ros.rl.guidance import GuidanceConfig, PriorFn, PriorGuidance
from lago_ros.rl.metrics import plot_learning_curve
from lago_ros.rl.ppo import CHECKPOINT_NAME, PPO, PPOConfig
from lago_ros.rl.train_config import config_to_dict, TrainConfig
from lago_ros.utils import atomic_write

LOGGER = logging.getLogger(__name__)

EVAL_SEED_OFFSET = 10_000
"""Evaluation envs use seed + EVAL_SEED_OFFSET, so they never replay training episodes."""
RUN_FILES = ('config.yaml', 'metrics.csv', 'tensorboard', 'checkpoint.pt', 'learning_curve.png',
             'summary.json')
"""What every finished run folder holds, from either front end."""


def load_prior(folder: str, backend: str = 'torch', int8: bool = False,
               threads: int = 1) -> PriorFn:
    """
    Load a saved prior and return its predict callable, run by `backend`.

    'torch' is the default everywhere training numbers are compared (the results study); the
    prior service chooses its own backend for serving (its `backend` parameter).
    """
    from lago_ros.prior.load import load_prior as load_saved_prior
    from lago_ros.prior.model import ActionPrior

    loaded = load_saved_prior(folder)  # a language-model ActionPrior or a baseline MLPPrior
    if (backend == 'onnxruntime' or int8) and not isinstance(loaded, ActionPrior):
        raise ValueError(f'{folder} holds an MLP prior: it runs with the torch backend in float '
                         'only (prior_backend=torch, prior_int8=false)')
    if backend == 'onnxruntime':
        from lago_ros.prior.onnx_runtime import OnnxPrior

        return OnnxPrior(loaded, int8=int8, threads=threads).predict
    return (loaded.quantize_int8() if int8 else loaded).predict


def _changes(section: str, stored: Any, wanted: Any) -> List[str]:
    old, new = dataclasses.asdict(stored), dataclasses.asdict(wanted)
    return [f'{section}.{key} ({old[key]!r} -> {new[key]!r})' for key in new
            if old.get(key) != new[key]]


def resume_conflicts(state: Dict[str, Any], cfg: TrainConfig) -> List[str]:
    """List the settings of `cfg` that differ from those a checkpoint was trained with."""
    changed = []
    task = state.get('task')
    if task not in (None, cfg.task):
        changed.append(f'task ({task} -> {cfg.task})')
    try:
        stored_ppo = PPOConfig(**state['config'])
        stored_guidance = GuidanceConfig(**state.get('guidance', {}).get('config', {}))
    except (TypeError, ValueError) as err:
        raise ConfigError(f'the checkpoint settings cannot be read by this version: {err}'
                          ) from err
    return changed + _changes('ppo', stored_ppo, cfg.ppo) + _changes(
        'ppo', stored_guidance, cfg.guidance)


class TrainingRun:
    """One run folder: resume check, PPO with guidance, evaluation and artefacts."""

    def __init__(self, cfg: TrainConfig, managed: Sequence[str] = (),
                 prior_source: Optional[str] = None) -> None:
        """
        Check a resume before anything is loaded; raise ConfigError if the settings changed.

        `managed`: TrainConfig keys the front end replaces (the trainer node's graph provides
        the prior and the envs), left out of config.yaml. `prior_source` names the prior in
        summary.json (default: cfg.prior).
        """
        self.cfg = cfg
        self.run_dir = cfg.resolved_run_dir()
        self.checkpoint = self.run_dir / CHECKPOINT_NAME
        self.managed = tuple(managed)
        self.prior_source = prior_source if prior_source is not None else cfg.prior
        self.agent: Optional[PPO] = None
        self.train_seconds = 0.0
        self._created = not self.run_dir.exists()
        if self.checkpoint.exists():
            changed = resume_conflicts(load_checkpoint(self.checkpoint), cfg)
            if changed:
                raise ConfigError(f'{self.checkpoint} was trained with different settings: '
                                  f'{", ".join(changed)}; use a new run_dir or the original '
                                  'settings')

    def start(self, envs: Any, prior: Optional[PriorFn]) -> PPO:
        """Resume the folder's checkpoint or start a fresh agent; write config.yaml."""
        guidance = PriorGuidance(self.cfg.guidance, prior)
        if self.checkpoint.exists():
            self.agent = PPO.load(self.checkpoint, envs, guidance, self.run_dir)
            LOGGER.info('resuming %s at step %d', self.checkpoint, self.agent.global_step)
        else:
            self.agent = PPO(self.cfg.ppo, envs, guidance, self.run_dir, task=self.cfg.task)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        data = {k: v for k, v in config_to_dict(self.cfg).items() if k not in self.managed}
        with atomic_write(self.run_dir / 'config.yaml', 'w') as handle:
            yaml.safe_dump(data, handle, sort_keys=False)
        return self.agent

    def learn(self, callback: Optional[Callable[[PPO, Dict[str, float]], Optional[bool]]] = None
              ) -> None:
        """Train up to cfg.total_timesteps (absolute: a resumed run continues)."""
        start = time.perf_counter()
        try:
            self.agent.learn(self.cfg.total_timesteps, self.cfg.checkpoint_every, callback)
        finally:
            self.train_seconds += time.perf_counter() - start

    def finish(self, eval_envs: Any) -> Dict[str, Any]:
        """Evaluate deterministically, write learning_curve.png and summary.json; the summary."""
        agent, cfg = self.agent, self.cfg
        eval_seed = cfg.seed + EVAL_SEED_OFFSET
        result = evaluate(agent.predict, eval_envs, cfg.eval_episodes, eval_seed)
        agent.close()
        if (self.run_dir / 'metrics.csv').exists():
            plot_learning_curve(self.run_dir / 'metrics.csv', self.run_dir / 'learning_curve.png')
        last = agent.history[-1] if agent.history else {}
        summary = {'task': cfg.task, 'seed': cfg.seed, 'prior': self.prior_source,
                   'beta': cfg.guidance.beta, 'global_step': agent.global_step,
                   'updates': agent.update_index, 'train_seconds': self.train_seconds,
                   'train_episodic_return': last.get('charts/episodic_return'),
                   'train_success_rate': last.get('charts/success_rate'),
                   'eval': result.to_dict(), 'run_dir': str(self.run_dir),
                   'checkpoint': str(self.checkpoint)}
        with atomic_write(self.run_dir / 'summary.json', 'w') as handle:
            json.dump(summary, handle, indent=2)
        return summary

    def close(self) -> None:
        """Close the metrics writers."""
        if self.agent is not None:
            self.agent.close()

    def discard_if_unused(self) -> None:
        """Remove the run folder if this run created it and never wrote a checkpoint."""
        if self._created and self.run_dir.exists() and not self.checkpoint.exists():
            shutil.rmtree(self.run_dir)
            LOGGER.info('removed %s: the run failed before its first checkpoint', self.run_dir)

    def __enter__(self) -> 'TrainingRun':
        """Use as a context: on an error the metrics close and an unused folder goes."""
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        """Close; after an error (not Ctrl-C) remove the folder if nothing resumable is in it."""
        self.close()
        if kind is not None and not issubclass(kind, KeyboardInterrupt):
            self.discard_if_unused()
