# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Task families: what every task of one kind shares beyond its `TaskSpec`.

A family names its env class as a gymnasium entry point (the registry and the gymnasium ids make
envs through it), makes its scripted expert, and describes its actions for the ONNX metadata.
Shared code asks `family_of(task)` instead of testing family names. Simulators are imported only
when an env, an expert or a CLEVR action layout is made, so this module stays cheap to import.
"""

from abc import ABC, abstractmethod
from typing import Any, Callable, Optional

from lago_ros.envs.tasks import get_task, TaskSpec

Expert = Callable[[Any], Any]
# Meta-World moves the hand by at most 1 cm per step for an action of 1 (metaworld.md).
METAWORLD_METRES_PER_UNIT = 0.01


class TaskFamily(ABC):
    """The env factory, expert and action description shared by the tasks of one family."""

    name: str
    """The `TaskSpec.family` value this family serves."""
    env_entry_point: str
    """'module:Class' of the gymnasium env, imported only when an env is made."""

    def env_kwargs(self, spec: TaskSpec) -> dict[str, Any]:
        """Return the constructor arguments that select task `spec` within the family."""
        return {}

    def make_env(self, spec: TaskSpec, seed: Optional[int], split: str, **options: Any) -> Any:
        """Make the env of task `spec` through the entry point, as `gymnasium.make` would."""
        from gymnasium.envs.registration import load_env_creator

        env_class = load_env_creator(self.env_entry_point)
        return env_class(**self.env_kwargs(spec), seed=seed, split=split, **options)

    @abstractmethod
    def make_expert(self, spec: TaskSpec, env: Any) -> Expert:
        """Return the scripted expert of task `spec` bound to `env`: `expert(obs) -> action`."""

    @abstractmethod
    def action_layout(self, spec: TaskSpec) -> dict[str, Any]:
        """Describe what each action number means (names, units, scale) for model metadata."""


class MetaWorldFamily(TaskFamily):
    """Meta-World v3 single tasks: 39 observations, [dx, dy, dz, gripper] actions in [-1, 1]."""

    name = 'metaworld'
    env_entry_point = 'lago_ros.envs.metaworld_env:MetaWorldEnv'

    def env_kwargs(self, spec: TaskSpec) -> dict[str, Any]:
        """Select the task by name: Meta-World's env class serves every task."""
        return {'task': spec.name}

    def make_expert(self, spec: TaskSpec, env: Any) -> Expert:
        """Return Meta-World's scripted policy for the task (it needs no env)."""
        from lago_ros.envs.metaworld_env import ScriptedExpert

        return ScriptedExpert(spec.name)

    def action_layout(self, spec: TaskSpec) -> dict[str, Any]:
        """Name the hand displacement along x, y, z and the gripper effort."""
        axes = [{'name': f'd{axis}', 'unit': 'm/step', 'scale': METAWORLD_METRES_PER_UNIT,
                 'low': -1.0, 'high': 1.0,
                 'description': f'hand displacement along {axis}; 1.0 moves '
                                f'{METAWORLD_METRES_PER_UNIT} m in one env step'}
                for axis in 'xyz']
        gripper = {'name': 'gripper', 'unit': '1', 'scale': 1.0, 'low': -1.0, 'high': 1.0,
                   'description': 'gripper effort: +1 closes, -1 opens'}
        return {'type': 'continuous', 'fields': axes + [gripper]}


class ClevrFamily(TaskFamily):
    """CLEVR-Robot: 24 observations, 40 discrete pushes (ball * 8 + direction)."""

    name = 'clevr'
    env_entry_point = 'lago_ros.envs.clevr_robot:ClevrRobotEnv'

    def make_expert(self, spec: TaskSpec, env: Any) -> Expert:
        """Return the one-step lookahead oracle, which simulates pushes in `env`."""
        from lago_ros.envs.clevr_oracle import ClevrOracle

        return ClevrOracle(env.unwrapped)

    def action_layout(self, spec: TaskSpec) -> dict[str, Any]:
        """Name the ball and direction each action index pushes."""
        from lago_ros.envs.clevr_language import COLOURS
        from lago_ros.envs.clevr_robot import NUM_DIRECTIONS, PUSH_DIRECTIONS

        return {'type': 'discrete', 'n': spec.action_dim, 'encoding': 'ball * 8 + direction',
                'balls': list(COLOURS), 'num_directions': NUM_DIRECTIONS,
                'directions_xy': PUSH_DIRECTIONS.tolist(),
                'description': 'one push of a ball along a direction (x right, y forward)'}


FAMILIES: dict[str, TaskFamily] = {family.name: family
                                   for family in (MetaWorldFamily(), ClevrFamily())}


def family_of(task: str) -> TaskFamily:
    """Return the family of registered task `task` (UnknownTaskError for other names)."""
    return FAMILIES[get_task(task).family]
