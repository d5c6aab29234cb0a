# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Demonstrations into Minari datasets: collect them there directly, or convert a demo folder.

`collect_minari_demos` runs the same episodes as `demos.collect_demos` (the same episode loop,
seeds, dropped failures and `steps_after_success` cut) and also keeps every episode's final
next observation, which a demo folder does not store. `demos_to_minari` converts an existing
demo folder; as the folder has no final observations, each episode's last observation stands in
for its final next one, and the dataset's metadata says so (`final_observations: 'repeated'`).
The format itself is in `minari_io`.
"""

import os
from typing import Any, Union

import gymnasium
import numpy as np
from tqdm import tqdm

from lago_ros.data.demos import _run_episode, DemoCollectionError, load_demos
from lago_ros.data.minari_io import check_target, Episode, write_dataset
from lago_ros.envs.registry import get_task, make_env, make_expert


class _Recorder(gymnasium.Wrapper):
    """Keep the observations and infos the env returns in an episode, the reset's first."""

    def reset(self, **kwargs: Any) -> Any:
        """Reset and start a new record."""
        obs, info = self.env.reset(**kwargs)
        self.observations, self.infos = [np.array(obs)], [info]
        return obs, info

    def step(self, action: Any) -> Any:
        """Step and record the next observation and its info."""
        result = self.env.step(action)
        self.observations.append(np.array(result[0]))
        self.infos.append(result[4])
        return result


def _episode(recorder: _Recorder, rows: dict[str, list], action_type: str) -> Episode:
    """Join an episode's rows (actions, flags as the loop cut them) with its recorded obs."""
    steps = len(rows['rewards'])
    observations = recorder.observations
    if len(observations) != steps + 1:
        raise RuntimeError(f'recorded {len(observations)} observations for {steps} steps; '
                           f'expected {steps + 1} (something stepped the env past the recorder)')
    instruction = rows['instructions'][0]
    reset_success = bool(recorder.infos[0].get('success', False))
    return Episode(
        observations=np.asarray(observations, np.float32),
        actions=np.asarray(rows['actions'],
                           np.int64 if action_type == 'discrete' else np.float32),
        rewards=np.asarray(rows['rewards'], np.float32),
        terminations=np.asarray(rows['terminations'], bool),
        truncations=np.asarray(rows['truncations'], bool),
        instructions=[str(instruction)] * (steps + 1),
        successes=np.asarray([reset_success] + list(rows['successes']), bool))


def collect_minari_demos(task: str, episodes: int, seed: int, dataset_id: str,
                         split: str = 'train', progress: bool = True, keep_failed: bool = False,
                         stop_on_success: bool = True, overwrite: bool = False,
                         steps_after_success: int = 0, **env_options: Any) -> str:
    """
    Run `episodes` expert episodes of `task` into the Minari dataset `dataset_id`; return it.

    Arguments mean what they mean for `demos.collect_demos`, which keeps the same episodes.
    """
    spec = get_task(task)
    if episodes < 1:
        raise ValueError(f'episodes is {episodes}; expected at least 1')
    if steps_after_success < 0:
        raise ValueError(f'steps_after_success is {steps_after_success}; expected >= 0')
    check_target(dataset_id, overwrite)  # before the episodes run
    extra = steps_after_success if stop_on_success and steps_after_success > 0 else None
    env_kwargs = {'seed': seed, 'split': split,
                  'terminate_on_success': stop_on_success and extra is None, **env_options}
    env = _Recorder(make_env(task, **env_kwargs))
    expert = make_expert(task, env)
    kept, successes = [], 0
    bar = tqdm(range(episodes), desc=f'demos {task}', unit='ep', disable=not progress)
    for index in bar:
        rows = _run_episode(env, expert, seed if index == 0 else None, extra)
        succeeded = bool(np.any(rows['successes']))
        successes += succeeded
        if succeeded or keep_failed:
            kept.append(_episode(env, rows, spec.action_type))
        bar.set_postfix(success=f'{successes}/{index + 1}')
    env.close()
    if not kept:
        raise DemoCollectionError(f'the {task} expert succeeded in none of {episodes} episodes; '
                                  'nothing to save (pass keep_failed=True to keep failures)')
    metadata = {
        'task': task, 'family': spec.family, 'obs_dim': spec.obs_dim,
        'action_type': spec.action_type, 'action_dim': spec.action_dim, 'split': split,
        'seed': seed, 'source_policy': getattr(expert, 'source', type(expert).__qualname__),
        'episodes': len(kept), 'episodes_attempted': episodes,
        'episodes_dropped': episodes - len(kept), 'keep_failed': keep_failed,
        'stop_on_success': stop_on_success, 'steps_after_success': steps_after_success,
        'transitions': int(sum(len(ep.rewards) for ep in kept)),
        'success_rate': successes / episodes, 'final_observations': 'recorded',
    }
    write_dataset(dataset_id, task, kept, metadata, env_kwargs, overwrite=overwrite)
    return dataset_id


def demos_to_minari(folder: Union[str, os.PathLike], dataset_id: str,
                    overwrite: bool = False) -> str:
    """Convert a demo folder to the Minari dataset `dataset_id` (see the module docstring)."""
    demos = load_demos(folder)
    meta = {k: v for k, v in demos.metadata.items() if k != 'format_version'}
    task = meta['task']
    episodes = []
    for episode_id in np.unique(demos.episode_ids):
        rows = np.flatnonzero(demos.episode_ids == episode_id)
        observations = demos.observations[rows]
        episodes.append(Episode(
            observations=np.concatenate([observations, observations[-1:]]),
            actions=demos.actions[rows], rewards=demos.rewards[rows],
            terminations=demos.terminations[rows], truncations=demos.truncations[rows],
            instructions=[str(demos.instructions[rows[0]])] * (len(rows) + 1),
            successes=np.concatenate([[False], demos.successes[rows]])))
    steps_after = meta.get('steps_after_success') or 0
    stop = meta.get('stop_on_success', True)
    env_kwargs = {'split': meta.get('split', 'train'),
                  'terminate_on_success': bool(stop and not steps_after)}
    if meta.get('seed') is not None:
        env_kwargs['seed'] = int(meta['seed'])
    meta.update(final_observations='repeated', converted_from=str(folder))
    write_dataset(dataset_id, task, episodes, meta, env_kwargs, overwrite=overwrite)
    return dataset_id
