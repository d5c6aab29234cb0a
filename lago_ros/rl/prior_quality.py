# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
How good is a prior before any RL? Held-out goals, held-out wordings, and a language control.

For each task of a suite the harness reports, on goals the demonstrations never showed (envs
built with seeds disjoint from the demo seeds, checked on the goal positions themselves):
- the action NLL and MSE of the prior against expert actions on held-out expert episodes;
- the success of the prior used as a controller (its mean action, or argmax), success at any step;
each under three instruction conditions: 'train' (phrasings the prior was fitted on), 'test'
(held-out paraphrases of the same task) and 'mismatch' (a phrasing of another task of the suite:
a prior that uses language must fail there).

    lago prior-eval PRIOR --tasks reach-v3 push-v3 --demo-seeds 50000 50001 --out report.json
"""

from collections.abc import Callable, Sequence
import dataclasses
import json
import math
from pathlib import Path
import time
from typing import Any

import numpy as np
import torch

CONDITIONS = ('train', 'test', 'mismatch')
GOAL_SLICE = slice(36, 39)
"""Where a Meta-World observation holds the goal position (state_view's 'goal' field)."""


class HeldOutError(ValueError):
    """Evaluation goals or seeds overlap with what the prior was fitted on."""


def condition_instructions(task: str, condition: str, suite: Sequence[str]) -> list[str]:
    """Phrasings used under `condition`: the task's train or test split, or other tasks' train."""
    from lago_ros.envs.instructions import instructions_for

    if condition in ('train', 'test'):
        return list(instructions_for(task, condition))
    if condition != 'mismatch':
        raise ValueError(f'condition is {condition!r}, expected one of {CONDITIONS}')
    others = [other for other in suite if other != task]
    if not others:
        raise ValueError('the mismatch condition needs a suite of at least two tasks')
    return [instructions_for(other, 'train')[0] for other in others]


def check_heldout(train_goals: np.ndarray, eval_goals: np.ndarray, what: str) -> None:
    """Raise HeldOutError if an evaluation goal equals (within 1e-6) a goal of the demos."""
    train_goals, eval_goals = np.asarray(train_goals), np.asarray(eval_goals)
    if len(train_goals) == 0 or len(eval_goals) == 0:
        return
    gap = np.abs(eval_goals[:, None, :] - train_goals[None, :, :]).max(-1).min(1)
    if (gap < 1e-6).any():
        raise HeldOutError(f'{what}: {(gap < 1e-6).sum()} evaluation goals are demo goals; '
                           'choose evaluation seeds disjoint from the demo seeds')


def action_metrics(prior: Any, observations: np.ndarray, actions: np.ndarray,
                   instructions: Sequence[str]) -> dict[str, float]:
    """Mean Gaussian NLL (summed over action dims) and MSE of the prior's mean, or CE/accuracy."""
    from lago_ros.prior.train import bc_loss

    with torch.inference_mode():
        out = prior.predict(observations, list(instructions))
        if out.logits is not None:
            logits = torch.from_numpy(out.logits)
            target = torch.from_numpy(np.asarray(actions, dtype=np.int64))
            nll = torch.nn.functional.cross_entropy(logits, target).item()
            return {'nll': nll, 'accuracy': float((logits.argmax(-1) == target).float().mean())}
        mean, std = torch.from_numpy(out.mean), torch.from_numpy(out.std)
        target = torch.from_numpy(np.clip(actions, -1.0, 1.0).astype(np.float32))
        nll = bc_loss(type(out)(mean=mean, std=std), target).item()
        return {'nll': nll, 'mse': float((mean - target).pow(2).mean())}


def prior_policy(prior: Any, instructions: Sequence[str]) -> Callable[[np.ndarray], np.ndarray]:
    """Deterministic controller from a prior (mean action, or argmax); row i reads phrasing i."""
    def act(observations: np.ndarray) -> np.ndarray:
        out = prior.predict(np.asarray(observations, dtype=np.float32), list(instructions))
        if out.logits is not None:
            return out.logits.argmax(-1)
        return np.clip(out.mean, -1.0, 1.0)
    return act


def rollout_success(prior: Any, envs: Any, instructions: Sequence[str], seed: int,
                    train_goals: np.ndarray, what: str) -> list[bool]:
    """One prior-as-policy episode per env (goals drawn from `seed`, checked to be held out)."""
    from lago_ros.rl.evaluate import evaluate

    first, _ = envs.reset(seed=seed)  # evaluate() resets with the same seed: the same goals
    check_heldout(train_goals, np.asarray(first)[:, GOAL_SLICE], what)
    return list(evaluate(prior_policy(prior, instructions), envs, envs.num_envs, seed).successes)


@dataclasses.dataclass
class QualityConfig:
    """What the harness evaluates."""

    tasks: list[str]
    """The suite (the mismatch condition draws other tasks' phrasings from it)."""
    heldout: dict[str, Any]
    """task -> DemoDataset of held-out-goal expert episodes (for NLL/MSE)."""
    demo_goals: dict[str, np.ndarray]
    """task -> goal positions of the prior's training demos (checked against)."""
    episodes: int = 30
    """Prior-as-policy episodes per task and condition (>= 30 for the report)."""
    seed: int = 70_000
    """Env seed of the rollouts: task i's envs are built with seed + 1000 i (their 50 goals) and
    each condition resets them with a further offset (another draw among those goals)."""
    conditions: tuple[str, ...] = CONDITIONS
    """Instruction conditions to run."""


def evaluate_prior(prior: Any, cfg: QualityConfig, log: Callable[[str], None] = print,
                   ) -> dict[str, Any]:
    """Run every task x condition; return {'tasks': {task: {condition: metrics}}, 'mean': ...}."""
    from lago_ros.envs.registry import make_vec_env

    report: dict[str, Any] = {'tasks': {}, 'episodes': cfg.episodes}
    started = time.perf_counter()
    for t_index, task in enumerate(cfg.tasks):
        held = cfg.heldout[task]
        check_heldout(cfg.demo_goals[task], np.unique(held.observations[:, GOAL_SLICE], axis=0),
                      f'{task} held-out expert episodes')
        # One env per episode, built once per task from a seed the demos never used.
        envs = (make_vec_env(task, cfg.episodes, cfg.seed + 1000 * t_index, vector_env='sync')
                if cfg.episodes else None)
        rows: dict[str, Any] = {}
        try:
            for c_index, condition in enumerate(cfg.conditions):
                texts = condition_instructions(task, condition, cfg.tasks)
                per_row = [texts[int(e) % len(texts)] for e in held.episode_ids]
                metrics = action_metrics(prior, held.observations, held.actions, per_row)
                if envs is not None:
                    seed = cfg.seed + 1000 * t_index + c_index
                    per_env = [texts[i % len(texts)] for i in range(cfg.episodes)]
                    successes = rollout_success(prior, envs, per_env, seed,
                                                cfg.demo_goals[task], f'{task} seed {seed}')
                    metrics['success'] = float(np.mean(successes))
                metrics['episodes'] = cfg.episodes
                rows[condition] = metrics
                log(f'{task} {condition}: ' + ', '.join(
                    f'{k}={v:.4g}' for k, v in metrics.items()) +
                    f' [{time.perf_counter() - started:.0f} s]')
        finally:
            if envs is not None:
                envs.close()
        report['tasks'][task] = rows
    report['mean'] = {
        condition: {key: float(np.mean([report['tasks'][t][condition][key] for t in cfg.tasks]))
                    for key in report['tasks'][cfg.tasks[0]][condition]}
        for condition in cfg.conditions}
    report['seconds'] = time.perf_counter() - started
    return report


def evaluate_prior_folder(prior_dir: str | Path, demo_dirs: Sequence[str | Path],
                          episodes: int = 30, heldout_episodes: int = 10, seed: int = 70_000,
                          log: Callable[[str], None] = print) -> dict[str, Any]:
    """
    Run the harness for a saved prior and its demo folders (one per task).

    Held-out expert episodes are collected with seeds `seed - 10000 + task index`, refused if
    a demo folder used that seed; every goal is checked against the demos' goals too.
    """
    import tempfile

    from lago_ros.data.demos import collect_demos, load_demos
    from lago_ros.prior.load import load_prior

    demos = [load_demos(folder) for folder in demo_dirs]
    tasks = [d.metadata['task'] for d in demos]
    if len(set(tasks)) != len(tasks):
        raise ValueError(f'one demo folder per task expected, got tasks {tasks}')
    held = {}
    with tempfile.TemporaryDirectory() as scratch:
        for index, (task, data) in enumerate(zip(tasks, demos, strict=True)):
            held_seed = seed - 10_000 + index
            if data.metadata.get('seed') == held_seed:
                raise HeldOutError(f'{task}: the demos used seed {held_seed}; pick another --seed')
            held[task] = load_demos(collect_demos(
                task, heldout_episodes, held_seed, Path(scratch) / task, progress=False,
                steps_after_success=int(data.metadata.get('steps_after_success', 0))))
    cfg = QualityConfig(tasks=tasks, heldout=held,
                        demo_goals={t: demo_goals(d) for t, d in zip(tasks, demos, strict=True)},
                        episodes=episodes, seed=seed)
    conditions = CONDITIONS if len(tasks) > 1 else ('train', 'test')
    cfg.conditions = conditions
    report = evaluate_prior(load_prior(prior_dir), cfg, log=log)
    report['prior'] = str(prior_dir)
    return report


def demo_goals(dataset: Any) -> np.ndarray:
    """Distinct goal positions in a Meta-World demo dataset."""
    return np.unique(np.asarray(dataset.observations)[:, GOAL_SLICE], axis=0)


def write_report(report: dict[str, Any], path: str | Path) -> Path:
    """Write a report as JSON atomically."""
    from lago_ros.utils import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, 'w') as handle:
        json.dump(report, handle, indent=2, default=lambda v: None if math.isnan(v) else v)
    return path
