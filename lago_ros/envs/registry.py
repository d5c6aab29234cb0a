# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The envs' front door: task look-ups and factories for envs, vector envs and experts.

Task specs live in `tasks` (re-exported here) and each task's family (`families`) knows how to
make its env and expert, so this module holds no per-family code. Simulators are imported when
an env or expert is made; looking up a `TaskSpec` stays cheap (nodes, export, configs).
"""

import functools
from typing import Any, Optional

import numpy as np

from lago_ros.envs.families import Expert, family_of
from lago_ros.envs.tasks import (CLEVR_TASK, get_task, list_tasks, METAWORLD_ACTION_DIM,
                                 METAWORLD_MAX_EPISODE_STEPS, METAWORLD_OBS_DIM, METAWORLD_TASKS,
                                 TaskSpec, UnknownTaskError)

__all__ = [
    'CLEVR_TASK', 'Expert', 'get_task', 'list_tasks', 'make_env', 'make_expert', 'make_vec_env',
    'METAWORLD_ACTION_DIM', 'METAWORLD_MAX_EPISODE_STEPS', 'METAWORLD_OBS_DIM', 'METAWORLD_TASKS',
    'TaskSpec', 'UnknownTaskError', 'VECTOR_ENVS',
]

VECTOR_ENVS = ('sync', 'split')
"""
How `make_vec_env` runs its envs: 'sync' steps all in this process (gymnasium SyncVectorEnv);
'split' steps the first half in one worker process at the same time (SplitVectorEnv, for 2+ cores).
"""


def make_env(name: str, seed: Optional[int] = None, split: str = 'train',
             **options: Any) -> Any:
    """
    Make one gymnasium env for task `name`, seeded with `seed`.

    `options` go to the env class: for Meta-World `max_episode_steps`, `terminate_on_success`,
    `render_mode`; for CLEVR-Robot the keyword arguments of `ClevrRobotEnv`.
    """
    return family_of(name).make_env(get_task(name), seed, split, **options)


def make_vec_env(name: str, num_envs: int, seed: Optional[int] = None, split: str = 'train',
                 vector_env: str = 'sync', **options: Any) -> Any:
    """
    Make a vector env of `num_envs` copies of task `name`, env i seeded `seed + i`.

    `vector_env` (one of VECTOR_ENVS) picks how they run; both give the same results.
    Autoreset is SAME_STEP: the step that ends an episode returns the next episode's first
    observation, with the last one in `info['final_obs']` and its info in `info['final_info']`.
    """
    import gymnasium

    get_task(name)
    if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
        raise ValueError(f'num_envs is {num_envs!r}; expected a positive integer')
    if vector_env not in VECTOR_ENVS:
        raise ValueError(f'vector_env is {vector_env!r}; expected one of {VECTOR_ENVS}')
    env_fns = [functools.partial(make_env, name, None if seed is None else seed + i, split,
                                 **options) for i in range(num_envs)]
    if vector_env == 'split':
        from lago_ros.envs.split_vector_env import SplitVectorEnv
        return SplitVectorEnv(env_fns)
    return gymnasium.vector.SyncVectorEnv(
        env_fns, autoreset_mode=gymnasium.vector.AutoresetMode.SAME_STEP)


def make_expert(name: str, env: Any) -> Expert:
    """
    Return the scripted expert of task `name` bound to `env`: a callable `expert(obs)`.

    Meta-World: the task's `metaworld.policies` policy, returning clipped float32 actions.
    CLEVR-Robot: `ClevrOracle`, which simulates pushes in `env` and returns an action index.
    """
    return family_of(name).make_expert(get_task(name), env)
