# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Reward, success and the end of an episode on a robot, from the named state fields (ROS-free).

A task rule is an object with `start(state)` (the episode's first state) and `__call__(state)
-> (reward, success)`, where `state` maps layout field names (`lago_ros.envs.state_view`) to
arrays in the layout's units. Built-in rules follow the Meta-World task's own success rule;
`make_task_rule('my_pkg.rules:factory', options)` plugs in another (the factory is called with
the options as keyword arguments). `RobotEpisode` adds the time limit and optional termination
on success.
"""

import importlib
from typing import Any, Callable, Dict, Optional, Protocol, Sequence, Tuple

import numpy as np

State = Dict[str, np.ndarray]
METAWORLD_TARGET_RADIUS = 0.05
"""Meta-World's success distance for reach-v3 and push-v3, metres."""
LONG_TAIL_VALUE_AT_MARGIN = 0.1
"""Meta-World's reward_utils.tolerance default value at the margin."""


class TaskRuleError(ValueError):
    """A task function that cannot be found or built."""


class TaskRule(Protocol):
    """Reward and success of one task from named state fields."""

    def start(self, state: State) -> None:
        """Note the first state of an episode (initial distances for reward margins)."""

    def __call__(self, state: State) -> Tuple[float, bool]:
        """Return (reward, success) of `state`."""


def long_tail_tolerance(distance: float, radius: float, margin: float) -> float:
    """Meta-World's `tolerance(distance, (0, radius), margin, 'long_tail')`, 1 at the goal."""
    if distance <= radius:
        return 1.0
    if margin <= 0:
        return 0.0
    scale = np.sqrt(1.0 / LONG_TAIL_VALUE_AT_MARGIN - 1.0)
    return float(1.0 / (((distance - radius) / margin * scale) ** 2 + 1.0))


def _vector(values: Optional[Sequence[float]], name: str) -> Optional[np.ndarray]:
    if values is None:
        return None
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (3,) or not np.isfinite(array).all():
        raise TaskRuleError(f'task option {name} is {values!r}; expected three numbers (m)')
    return array


class ReachRule:
    """
    Meta-World reach-v3: success when the tool centre is within 5 cm of the goal.

    Reward `10 * tolerance(tcp_to_goal, (0, 0.05), margin=|hand_init - goal|, long_tail)`, as
    Meta-World's v2 reward. The tool centre is `hand_pos + tcp_offset` (Meta-World's Sawyer
    measures success at the finger pads, about 4.5 cm below its `hand_pos`); `hand_init_pos`
    is the margin's start, the episode's first hand position unless given (Meta-World uses its
    configured (0, 0.6, 0.2)).
    """

    def __init__(self, tcp_offset: Sequence[float] = (0.0, 0.0, 0.0),
                 hand_init_pos: Optional[Sequence[float]] = None) -> None:
        """Keep the tool-centre offset and the optional fixed initial hand position."""
        self.tcp_offset = _vector(tcp_offset, 'tcp_offset')
        self.hand_init_pos = _vector(hand_init_pos, 'hand_init_pos')
        self._margin = 0.0

    def start(self, state: State) -> None:
        """Measure the reward margin from the initial hand position to the goal."""
        init = state['hand_pos'] if self.hand_init_pos is None else self.hand_init_pos
        self._margin = float(np.linalg.norm(np.asarray(init, np.float64) - state['goal_pos']))

    def __call__(self, state: State) -> Tuple[float, bool]:
        """Return the reach reward and whether the tool centre is at the goal."""
        tcp = np.asarray(state['hand_pos'], np.float64) + self.tcp_offset
        distance = float(np.linalg.norm(tcp - state['goal_pos']))
        reward = 10.0 * long_tail_tolerance(distance, METAWORLD_TARGET_RADIUS, self._margin)
        return reward, distance <= METAWORLD_TARGET_RADIUS


class PushRule:
    """
    Meta-World push-v3's success: the first object within 5 cm of the goal.

    Reward: the in-place term of Meta-World's push reward, `10 * tolerance(obj_to_goal, (0,
    0.05), margin=initial obj_to_goal, long_tail)`, without its grasp term (that needs the
    finger pads' contact with the object, which a state vector does not carry).
    """

    def __init__(self) -> None:
        """No options."""
        self._margin = 0.0

    def start(self, state: State) -> None:
        """Measure the reward margin from the object's initial distance to the goal."""
        self._margin = float(np.linalg.norm(state['obj1_pos'] - state['goal_pos']))

    def __call__(self, state: State) -> Tuple[float, bool]:
        """Return the in-place reward and whether the object is at the goal."""
        distance = float(np.linalg.norm(state['obj1_pos'] - state['goal_pos']))
        reward = 10.0 * long_tail_tolerance(distance, METAWORLD_TARGET_RADIUS, self._margin)
        return reward, distance <= METAWORLD_TARGET_RADIUS


BUILTIN_RULES: Dict[str, Callable[..., TaskRule]] = {'reach': ReachRule, 'push': PushRule}
"""Built-in task rules by name."""


def make_task_rule(name: str, options: Dict[str, Any]) -> TaskRule:
    """Build the rule `name`: a BUILTIN_RULES key or 'module:factory', with `options`."""
    if name in BUILTIN_RULES:
        factory = BUILTIN_RULES[name]
    elif ':' in name:
        module, _, attribute = name.partition(':')
        try:
            factory = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as err:
            raise TaskRuleError(f'task_function {name!r} cannot be imported ({err}); expected '
                                "'module:factory' on the Python path") from None
    else:
        raise TaskRuleError(f'task_function is {name!r}; expected one of '
                            f"{sorted(BUILTIN_RULES)} or 'module:factory'")
    try:
        return factory(**options)
    except TypeError as err:
        raise TaskRuleError(f'task_options do not fit task_function {name!r}: {err}') from None


class RobotEpisode:
    """Step count, time limit and termination of one robot episode around a task rule."""

    def __init__(self, rule: TaskRule, time_limit_steps: int,
                 terminate_on_success: bool = False) -> None:
        """Truncate after `time_limit_steps` steps; terminate on success if asked."""
        self.rule, self.time_limit_steps = rule, time_limit_steps
        self.terminate_on_success = terminate_on_success
        self.steps = 0

    def start(self, state: State) -> None:
        """Begin an episode at `state`."""
        self.steps = 0
        self.rule.start(state)

    def step(self, state: State) -> Tuple[float, bool, bool, bool]:
        """Count a step reaching `state`; return (reward, terminated, truncated, success)."""
        self.steps += 1
        reward, success = self.rule(state)
        terminated = bool(success and self.terminate_on_success)
        truncated = not terminated and self.steps >= self.time_limit_steps
        return float(reward), terminated, truncated, bool(success)
