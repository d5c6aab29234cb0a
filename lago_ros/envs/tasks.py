# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The task table: one `TaskSpec` per registered task name, and its look-ups.

A leaf module (standard library only) so that every other envs module, the export and the nodes
can read a task's shape without importing a simulator or each other.
"""

from dataclasses import dataclass
import difflib

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
GYM_NAMESPACE = 'LaGO'


@dataclass(frozen=True)
class TaskSpec:
    """What a learner needs to know about a task before making its env."""

    name: str
    """Registry name, e.g. 'reach-v3' or 'clevr-robot'."""
    family: str
    """'metaworld' or 'clevr': the `TaskFamily` (envs/families.py) that makes its envs."""
    obs_dim: int
    """Length of the flat float32 observation."""
    action_type: str
    """'discrete' or 'continuous'."""
    action_dim: int
    """Number of actions (discrete) or action vector length (continuous)."""
    max_episode_steps: int
    """Steps after which an episode is truncated."""
    gym_id: str
    """Gymnasium id that `import lago_ros` registers, e.g. 'LaGO/reach-v3'."""


_TASKS: dict[str, TaskSpec] = {
    **{name: TaskSpec(name, 'metaworld', METAWORLD_OBS_DIM, 'continuous', METAWORLD_ACTION_DIM,
                      METAWORLD_MAX_EPISODE_STEPS, f'{GYM_NAMESPACE}/{name}')
       for name in METAWORLD_TASKS},
    CLEVR_TASK: TaskSpec(CLEVR_TASK, 'clevr', 24, 'discrete', 40, 50,
                         f'{GYM_NAMESPACE}/ClevrRobot-v0'),
}


class UnknownTaskError(ValueError):
    """A task name that is not registered; the message lists the valid names."""

    def __init__(self, name: object) -> None:
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
