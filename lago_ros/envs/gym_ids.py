# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Gymnasium ids for every registered task: `LaGO/<task>` (Meta-World) and `LaGO/ClevrRobot-v0`.

`import lago_ros` calls `register_gym_ids()`. The ids point at string entry points, so nothing
heavier than gymnasium is imported until `gymnasium.make` builds an env. `gymnasium.make` passes
`seed=` and `split=` (and the env class's other keyword arguments) through to the env; each id's
spec carries the task's `max_episode_steps`, and `info['instruction']` comes with every
observation.
"""

from lago_ros.envs.families import family_of
from lago_ros.envs.tasks import get_task, list_tasks


def register_gym_ids() -> list[str]:
    """Register each task's gymnasium id (once; later calls change nothing); return the ids."""
    import gymnasium

    ids = []
    for name in list_tasks():
        spec, family = get_task(name), family_of(name)
        if spec.gym_id not in gymnasium.registry:
            gymnasium.register(spec.gym_id, entry_point=family.env_entry_point,
                               kwargs=family.env_kwargs(spec),
                               max_episode_steps=spec.max_episode_steps)
        ids.append(spec.gym_id)
    return ids
