# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
CLEVR-Robot on MuJoCo 3: push five coloured balls into a language-specified relation.

Each of the 40 discrete actions is one "perfect" push: ball * 8 + direction. The pusher is
teleported 0.15 behind the ball, its velocity zeroed, and its motors driven along the direction
for 40 physics steps (0.4 s). The model is loaded once per env; resets only rewrite state.
"""

from importlib import resources
import os
from pathlib import Path
from typing import Any

import gymnasium
from gymnasium import spaces

# Headless rendering by default; must be set before mujoco is first imported to take effect.
os.environ.setdefault('MUJOCO_GL', 'egl')
import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from lago_ros.envs import clevr_language as lang  # noqa: E402
from lago_ros.envs import image_obs  # noqa: E402
from lago_ros.envs.tasks import CLEVR_TASK, get_task  # noqa: E402

ENV_ID = get_task(CLEVR_TASK).gym_id
NUM_BALLS = len(lang.COLOURS)
BALL_Z = -0.195  # table top (-0.325) plus the ball radius (0.13)
SPAWN_LOW = np.array([-0.5, -0.3])
SPAWN_HIGH = np.array([0.5, 0.5])
MIN_BALL_SEPARATION = 0.36
# Push directions in action order: +x, +y, -x, -y, then the diagonals counter-clockwise from +x+y.
PUSH_DIRECTIONS = np.array([
    [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0],
    [0.8, 0.8], [-0.8, 0.8], [-0.8, -0.8], [0.8, -0.8],
])
NUM_DIRECTIONS = len(PUSH_DIRECTIONS)
NUM_ACTIONS = NUM_BALLS * NUM_DIRECTIONS
PUSH_OFFSET = 0.15
PUSH_SUBSTEPS = 40
# strict_success also requires the anchor ball to be within this distance of its start position
# (a sixth of one cardinal push, ~0.24), so knocking the anchor around does not count.
STRICT_ANCHOR_TOLERANCE = 0.04
OBS_DIM = 2 * NUM_BALLS + 2 * NUM_BALLS + len(lang.RELATIONS)
RENDER_SIZE = 64


class InvalidActionError(ValueError):
    """An action that is not an integer in 0..39."""


class ResetNeededError(RuntimeError):
    """step() or render() was called before reset()."""


def sim_path(name: str) -> Path:
    """
    Find a scene file: package data first (importlib.resources), the ament share dir second.

    The package carries its MJCF files in lago_ros/envs/assets/, so a plain pip install or the
    source tree needs no ROS variable; the share dir (share/lago_ros/sim) is the fallback for
    installs that left package data out.
    """
    packaged = resources.files('lago_ros.envs') / 'assets' / name
    if isinstance(packaged, Path) and packaged.is_file():  # MuJoCo reads files, not zip members
        return packaged
    try:
        from ament_index_python.packages import get_package_share_directory

        installed = Path(get_package_share_directory('lago_ros')) / 'sim' / name
    except (ImportError, LookupError, OSError):
        installed = None
    if installed is not None and installed.is_file():
        return installed
    raise FileNotFoundError(
        f'cannot find the scene {name}: looked in the lago_ros.envs package data (assets/) and '
        'in the lago_ros share directory (sim/); reinstall lago_ros with its package data')


def action_index(action: Any) -> int:
    """Return a validated action index; raise InvalidActionError for anything else."""
    if isinstance(action, np.ndarray) and action.shape == () and action.dtype.kind in 'iu':
        action = action.item()
    if isinstance(action, bool) or not isinstance(action, (int, np.integer)):
        raise InvalidActionError(
            f'action must be an integer in 0..{NUM_ACTIONS - 1} (ball * 8 + direction), '
            f'got {action!r} of type {type(action).__name__}')
    if not 0 <= action < NUM_ACTIONS:
        raise InvalidActionError(
            f'action {action} is out of range; expected 0..{NUM_ACTIONS - 1} '
            '(ball * 8 + direction)')
    return int(action)


class ClevrRobotEnv(gymnasium.Env):
    """Language-conditioned ball pushing with 40 discrete pushes and a binary goal reward."""

    metadata = {'render_modes': ['rgb_array'], 'render_fps': 1.0 / (PUSH_SUBSTEPS * 0.01)}

    def __init__(self, seed: int | None = None, split: str = 'train',
                 random_start: bool = True, terminate_on_success: bool = False,
                 max_episode_steps: int = 50, render_mode: str | None = None,
                 top_down: bool = False, render_size: int = RENDER_SIZE,
                 obs_mode: str = 'state') -> None:
        """
        Load the scene; `obs_mode` (image_obs.OBS_MODES) adds render_size frames to observations.

        The frames are rendered whatever `render_mode` is (64 x 64 by default, as published).
        """
        self._goals, self._phrasings = lang.split_contents(split)
        self.obs_mode = image_obs.check_obs_mode(obs_mode)
        render_size = image_obs.check_image_size(render_size)
        if render_mode not in (None, 'rgb_array'):
            raise ValueError(f'unknown render_mode {render_mode!r}; expected None or rgb_array')
        steps = max_episode_steps
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f'max_episode_steps must be a positive int, got {steps!r}')
        self.split = split
        self.random_start = random_start
        self.terminate_on_success = terminate_on_success
        self.max_episode_steps = max_episode_steps
        self.render_mode = render_mode
        self.top_down = top_down
        self.render_size = render_size
        self._initial_seed = seed

        self.model = mujoco.MjModel.from_xml_path(str(sim_path('clevr_robot.xml')))
        self.data = mujoco.MjData(self.model)
        ball_joints = [self.model.joint(f'ball_{c}') for c in lang.COLOURS]
        self._ball_qpos = np.array([[j.qposadr[0], j.qposadr[0] + 1] for j in ball_joints])
        pusher = [self.model.joint(name) for name in ('pusher_x', 'pusher_y')]
        self._pusher_qpos = np.array([j.qposadr[0] for j in pusher])
        self._pusher_qvel = np.array([j.dofadr[0] for j in pusher])
        # Precomputed indices of the split's goals, to test them all at once at reset.
        self._goal_index = np.array([lang.goal_indices(g) for g in self._goals]).T

        bound = np.full(OBS_DIM, 1.0, dtype=np.float32)
        bound[:2 * NUM_BALLS] = 2.0
        low = np.zeros(OBS_DIM, dtype=np.float32)
        low[:2 * NUM_BALLS] = -2.0
        self.observation_space = image_obs.observation_space(
            obs_mode, spaces.Box(low, bound, dtype=np.float32), render_size)
        self.action_space = spaces.Discrete(NUM_ACTIONS)

        self._obs = np.zeros(OBS_DIM, dtype=np.float32)
        self._goal: lang.Goal | None = None
        self._goal_ids = (0, 0, 0)
        self._instruction = ''
        self._start_positions = np.zeros((NUM_BALLS, 2))
        self._steps = 0
        self._renderer: mujoco.Renderer | None = None
        self._camera: mujoco.MjvCamera | None = None

    # -- public state accessors (the oracle and tests use these) --------------------------------

    @property
    def goal(self) -> lang.Goal:
        """The current episode's goal."""
        self._require_reset()
        return self._goal

    @property
    def instruction(self) -> str:
        """The current episode's instruction."""
        self._require_reset()
        return self._instruction

    @property
    def start_positions(self) -> np.ndarray:
        """Ball centres (5, 2) at the start of the episode."""
        return self._start_positions.copy()

    def ball_positions(self) -> np.ndarray:
        """Ball centres (5, 2), x and y, in colour order."""
        return self.data.qpos[self._ball_qpos]

    def set_ball_positions(self, positions: np.ndarray) -> None:
        """Place the balls at rest at the given (5, 2) centres, e.g. to hand-build a scene."""
        positions = np.asarray(positions, dtype=float)
        if positions.shape != (NUM_BALLS, 2):
            raise ValueError(f'positions has shape {positions.shape}; expected ({NUM_BALLS}, 2)')
        self.data.qvel[:] = 0.0
        self.data.qpos[self._ball_qpos] = positions
        self.data.qpos[self._ball_qpos[:, 1] + 1] = BALL_Z
        mujoco.mj_forward(self.model, self.data)

    def goal_status(self, positions: np.ndarray) -> tuple[bool, bool]:
        """Return (success, strict_success) of the current goal for ball centres `positions`."""
        self._require_reset()
        success = lang.relation_holds(positions, self._goal)
        anchor = self._goal_ids[0]
        moved = np.hypot(*(positions[anchor] - self._start_positions[anchor]))
        return success, success and bool(moved <= STRICT_ANCHOR_TOLERANCE)

    def apply_push(self, action: int) -> None:
        """Advance the physics by one push, without any episode bookkeeping."""
        ball, direction = divmod(action_index(action), NUM_DIRECTIONS)
        push = PUSH_DIRECTIONS[direction]
        data = self.data
        data.qpos[self._pusher_qpos] = data.qpos[self._ball_qpos[ball]] - PUSH_OFFSET * push
        data.qvel[self._pusher_qvel] = 0.0
        data.ctrl[:] = push
        mujoco.mj_step(self.model, data, nstep=PUSH_SUBSTEPS)

    # -- gymnasium API -------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """
        Sample a new layout and a goal that is false in it (or take one from `options`).

        options: {'goal': (anchor, target, relation)} or {'instruction': str} fix the goal.
        """
        if seed is None and self._initial_seed is not None:
            seed, self._initial_seed = self._initial_seed, None
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - {'goal', 'instruction'}
        if unknown or len(options) > 1:
            raise ValueError(
                f'reset options {sorted(options)} are not valid; expected at most one of '
                "'goal' or 'instruction'")

        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[self._ball_qpos] = self._sample_layout()
        self.data.qpos[self._ball_qpos[:, 1] + 1] = BALL_Z
        if self.random_start:
            self.data.qpos[self._pusher_qpos] = self.np_random.uniform(SPAWN_LOW, SPAWN_HIGH)
        mujoco.mj_forward(self.model, self.data)
        positions = self.ball_positions()
        self._start_positions = positions.copy()

        if 'instruction' in options:
            self._goal = lang.parse_instruction(options['instruction'])
            self._instruction = options['instruction']
        else:
            self._goal = (lang.as_goal(options['goal']) if 'goal' in options
                          else self._sample_false_goal(positions))
            phrasing = self._phrasings[self.np_random.integers(len(self._phrasings))]
            self._instruction = lang.instruction_for(self._goal, phrasing)
        self._goal_ids = lang.goal_indices(self._goal)
        self._obs[2 * NUM_BALLS:] = lang.encode_goal(self._goal)
        self._steps = 0
        success, strict = self.goal_status(positions)
        return self._observation(positions), self._info(success, strict)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply one push; reward 1.0 when the goal relation holds afterwards."""
        self._require_reset()
        self.apply_push(action)
        self._steps += 1
        positions = self.ball_positions()
        success, strict = self.goal_status(positions)
        terminated = self.terminate_on_success and success
        truncated = self._steps >= self.max_episode_steps
        return (self._observation(positions), float(success), terminated, truncated,
                self._info(success, strict))

    def render(self) -> np.ndarray | None:
        """Return a (size, size, 3) uint8 image of the scene when render_mode is 'rgb_array'."""
        if self.render_mode is None:
            gymnasium.logger.warn('render() called without a render_mode; returning None')
            return None
        return self._frame()

    def close(self) -> None:
        """Free the renderer's GL context."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # -- helpers -------------------------------------------------------------------------------

    def _frame(self) -> np.ndarray:
        """Render the scene as a (size, size, 3) uint8 image (one renderer per env)."""
        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.model, self.render_size, self.render_size)
            self._camera = mujoco.MjvCamera()
            self._camera.lookat[:] = (0.0, 0.25, -0.325)
            self._camera.distance = 1.75
            self._camera.azimuth = 90.0
            self._camera.elevation = -90.0 if self.top_down else -45.0
        self._renderer.update_scene(self.data, camera=self._camera)
        return self._renderer.render()

    def _require_reset(self) -> None:
        if self._goal is None:
            raise ResetNeededError('call reset() before using the episode (no goal yet)')

    def _sample_layout(self) -> np.ndarray:
        """
        Rejection-sample ball centres at least MIN_BALL_SEPARATION apart.

        Balls are placed one at a time from batches of candidates; when a whole batch finds no
        room for the next ball, the layout starts over.
        """
        min_gap2 = MIN_BALL_SEPARATION ** 2
        placed = []
        while len(placed) < NUM_BALLS:
            before = len(placed)
            for x, y in self.np_random.uniform(SPAWN_LOW, SPAWN_HIGH, size=(64, 2)).tolist():
                if all((x - px) ** 2 + (y - py) ** 2 >= min_gap2 for px, py in placed):
                    placed.append((x, y))
                    if len(placed) == NUM_BALLS:
                        break
            if len(placed) == before:
                placed.clear()
        return np.array(placed)

    def _sample_false_goal(self, positions: np.ndarray) -> lang.Goal:
        """Pick uniformly among the split's goals that do not already hold."""
        holds = lang.relation_matrix(positions)[tuple(self._goal_index)]
        candidates = np.flatnonzero(~holds)
        return self._goals[candidates[self.np_random.integers(len(candidates))]]

    def _observation(self, positions: np.ndarray) -> Any:
        self._obs[:2 * NUM_BALLS] = positions.ravel()
        frame = self._frame() if image_obs.needs_frames(self.obs_mode) else None
        return image_obs.observation(self.obs_mode, self._obs.copy(), frame)

    def _info(self, success: bool, strict: bool) -> dict[str, Any]:
        return {'instruction': self._instruction, 'success': bool(success),
                'strict_success': bool(strict)}
