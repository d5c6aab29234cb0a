# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The task registry: one name per task, its specification, and factories for envs and experts.

This module imports only the standard library and numpy at load time; simulators are imported
when an env or expert is made, so looking up a `TaskSpec` stays cheap (nodes, export, configs).
"""

from dataclasses import dataclass
import difflib
import functools
from typing import Any, Callable, Optional

import numpy as np

# Meta-World v3 tasks we register. Each exists in metaworld 3.1.1 and has a scripted policy in
# metaworld.policies.ENV_POLICY_MAP (checked by test/test_registry.py).
METAWORLD_TASKS: tuple[str, ...] = (
    'reach-v3', 'push-v3', 'pick-place-v3', 'button-press-v3', 'door-unlock-v3',
    'door-open-v3', 'window-open-v3', 'faucet-open-v3', 'coffee-push-v3', 'coffee-button-v3',
    'drawer-open-v3',
)
METAWORLD_OBS_DIM = 39
METAWORLD_ACTION_DIM = 4
METAWORLD_MAX_EPISODE_STEPS = 500
CLEVR_TASK = 'clevr-robot'
VECTOR_ENVS = ('sync', 'split')
"""
How `make_vec_env` runs its envs: 'sync' steps all in this process (gymnasium SyncVectorEnv);
'split' steps the first half in one worker process at the same time (SplitVectorEnv, for 2+ cores).
"""


@dataclass(frozen=True)
class TaskSpec:
    """What a learner needs to know about a task before making its env."""

    name: str
    """Registry name, e.g. 'reach-v3' or 'clevr-robot'."""
    family: str
    """'metaworld' or 'clevr': selects the env class, expert and observation layout."""
    obs_dim: int
    """Length of the flat float32 observation."""
    action_type: str
    """'discrete' or 'continuous'."""
    action_dim: int
    """Number of actions (discrete) or action vector length (continuous)."""
    max_episode_steps: int
    """Steps after which an episode is truncated."""


_TASKS: dict[str, TaskSpec] = {
    **{name: TaskSpec(name, 'metaworld', METAWORLD_OBS_DIM, 'continuous', METAWORLD_ACTION_DIM,
                      METAWORLD_MAX_EPISODE_STEPS) for name in METAWORLD_TASKS},
    CLEVR_TASK: TaskSpec(CLEVR_TASK, 'clevr', 24, 'discrete', 40, 50),
}

Expert = Callable[[np.ndarray], Any]


class UnknownTaskError(ValueError):
    """A task name that is not registered; the message lists the valid names."""

    def __init__(self, name: str) -> None:
        names = list(_TASKS)
        close = difflib.get_close_matches(str(name), names, n=3)
        hint = f' Did you mean {" or ".join(repr(c) for c in close)}?' if close else ''
        super().__init__(f'unknown task {name!r}; expected one of: {", ".join(names)}.{hint}')


def list_tasks() -> list[str]:
    """Return the registered task names, Meta-World first, in a stable order."""
    return list(_TASKS)


def get_task(name: str) -> TaskSpec:
    """Return the spec of task `name`; raise UnknownTaskError for an unregistered name."""
    try:
        return _TASKS[name]
    except (KeyError, TypeError):
        raise UnknownTaskError(name) from None


def make_env(name: str, seed: Optional[int] = None, split: str = 'train',
             **options: Any) -> Any:
    """
    Make one gymnasium env for task `name`, seeded with `seed`.

    `options` go to the env class: for Meta-World `max_episode_steps`, `terminate_on_success`,
    `render_mode`; for CLEVR-Robot the keyword arguments of `ClevrRobotEnv`.
    """
    spec = get_task(name)
    if spec.family == 'metaworld':
        from lago_ros.envs.metaworld_env import MetaWorldEnv
        return MetaWorldEnv(name, seed=seed, split=split, **options)
    from lago_ros.envs.clevr_robot import ClevrRobotEnv
    return ClevrRobotEnv(seed=seed, split=split, **options)


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
    spec = get_task(name)
    if spec.family == 'metaworld':
        from lago_ros.envs.metaworld_env import ScriptedExpert
        return ScriptedExpert(name)
    from lago_ros.envs.clevr_oracle import ClevrOracle
    return ClevrOracle(env.unwrapped)
