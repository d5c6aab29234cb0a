# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
A one-step lookahead expert for CLEVR-Robot, used to record demonstrations.

The original environment ships no expert. For each decision the oracle simulates the 16 pushes of
the two balls the goal names (saving and restoring the MuJoCo state around each), and picks the
first push that satisfies the goal without moving the anchor (strict success); otherwise the one
leaving the target ball closest to the region where the relation holds, preferring pushes that
keep the anchor in place while they make progress.
"""

from typing import Any

import mujoco
import numpy as np

from lago_ros.envs import clevr_language as lang
from lago_ros.envs.clevr_robot import ClevrRobotEnv, NUM_DIRECTIONS, STRICT_ANCHOR_TOLERANCE

# Aim this far inside the relation's region so that later nudges do not undo the goal.
_REGION_MARGIN = 0.05
_COS_LIMIT = lang.MIN_ALIGNMENT
_SIN_LIMIT = float(np.sqrt(1.0 - _COS_LIMIT ** 2))
# A push that keeps the anchor in place must bring the target this much closer to be preferred.
_MIN_PROGRESS = 0.02


def distance_to_relation(offset: np.ndarray, relation: int) -> float:
    """
    Distance from `offset` (target - anchor) to the sector where the relation holds.

    The sector is the cone of directions with cosine > 0.6 to the relation's direction, cut at
    radius 0.7; it is shrunk by a small margin so a zero distance means comfortably inside.
    """
    direction = lang.RELATION_DIRECTIONS[relation]
    # In the relation's frame, with the cone's apex moved forward by the margin.
    point = np.array([offset @ direction - _REGION_MARGIN,
                      direction[0] * offset[1] - direction[1] * offset[0]])
    length = float(np.hypot(*point))
    radius = lang.MAX_DISTANCE - 2.0 * _REGION_MARGIN
    if point[0] > _COS_LIMIT * length:
        return max(0.0, length - radius)
    # Outside the cone: distance to the nearer boundary segment from the apex to the radius.
    edge = np.array([_COS_LIMIT, _SIN_LIMIT if point[1] >= 0.0 else -_SIN_LIMIT])
    reach = float(np.clip(point @ edge, 0.0, radius))
    return float(np.hypot(*(point - reach * edge)))


class ClevrOracle:
    """Callable expert `oracle(obs) -> action` bound to one ClevrRobotEnv (or a wrapper of it)."""

    def __init__(self, env: Any) -> None:
        unwrapped = getattr(env, 'unwrapped', env)
        if not isinstance(unwrapped, ClevrRobotEnv):
            raise TypeError(
                f'ClevrOracle needs a ClevrRobotEnv, got {type(unwrapped).__name__}')
        self.env = unwrapped
        self._spec = mujoco.mjtState.mjSTATE_INTEGRATION
        self._state = np.empty(mujoco.mj_stateSize(unwrapped.model, self._spec))

    def __call__(self, obs: np.ndarray) -> int:
        """
        Return the best push for the env's current state and goal (obs is not needed).

        Pushes that keep the anchor in place win when one of them makes progress; otherwise the
        push ending closest to the goal wins, wherever the anchor ends up.
        """
        env = self.env
        anchor, target, relation = lang.goal_indices(env.goal)
        start = env.start_positions[anchor]
        now = env.ball_positions()
        current = distance_to_relation(now[target] - now[anchor], relation)
        mujoco.mj_getState(env.model, env.data, self._state, self._spec)
        steady: tuple[float, int] = (current - _MIN_PROGRESS, -1)
        overall: tuple[float, int] = (np.inf, -1)
        try:
            for ball in (target, anchor):
                for direction in range(NUM_DIRECTIONS):
                    action = ball * NUM_DIRECTIONS + direction
                    env.apply_push(action)
                    positions = env.ball_positions()
                    success, strict = env.goal_status(positions)
                    mujoco.mj_setState(env.model, env.data, self._state, self._spec)
                    if strict:
                        return action
                    distance = 0.0 if success else distance_to_relation(
                        positions[target] - positions[anchor], relation)
                    overall = min(overall, (distance, action))
                    if np.hypot(*(positions[anchor] - start)) <= STRICT_ANCHOR_TOLERANCE:
                        steady = min(steady, (distance, action))
        finally:
            mujoco.mj_setState(env.model, env.data, self._state, self._spec)
        return steady[1] if steady[1] >= 0 else overall[1]
