# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Meta-World v3 single tasks as well-behaved gymnasium envs, plus their scripted experts.

`MetaWorldEnv` wraps `gym.make('Meta-World/MT1', env_name=..., seed=...)` and fixes what the raw
env gets wrong for us:
- a float32 observation `Box` with finite bounds from `state_view` (Meta-World declares infinite
  object bounds and zero goal bounds); observations are clipped to it, so they always lie inside;
- seeding: the construction seed fixes the env's 50 MT1 goals (Meta-World's benchmark protocol),
  and `reset(seed=s)` restarts the draw among them and the instruction draw (Meta-World itself
  ignores `reset(seed=)`), so envs made with one seed replay the same episodes after any reset
  with the same `s`;
- ends of episodes: after `terminated` or `truncated` a step raises `ResetNeededError` instead of
  Meta-World's ValueError (vector envs reset in the same step, so they never hit it);
- `info['success']` is a bool and `info['instruction']` comes with every observation.
"""

from typing import Any, Optional

import gymnasium as gym
from gymnasium.utils import seeding
import metaworld  # noqa: F401  (importing it registers the 'Meta-World/MT1' env id)
from metaworld.policies import ENV_POLICY_MAP
import numpy as np

from lago_ros.envs import image_obs
from lago_ros.envs.instructions import instructions_for
from lago_ros.envs.state_view import observation_bounds
from lago_ros.envs.tasks import (get_task, METAWORLD_ACTION_DIM, METAWORLD_MAX_EPISODE_STEPS,
                                 METAWORLD_TASKS)


class ResetNeededError(RuntimeError):
    """`step` called before the first `reset` or after the episode ended."""


class ActionError(ValueError):
    """An action with the wrong shape or non-finite values."""


class MetaWorldEnv(gym.Env):
    """One Meta-World v3 task with 39 float32 observations and 4 actions in [-1, 1]."""

    metadata = {'render_modes': ['human', 'rgb_array', 'depth_array'], 'render_fps': 80}

    def __init__(self, task: str, seed: Optional[int] = None, split: str = 'train',
                 max_episode_steps: int = METAWORLD_MAX_EPISODE_STEPS,
                 terminate_on_success: bool = False, render_mode: Optional[str] = None,
                 obs_mode: str = 'state', image_size: int = 64) -> None:
        """
        Make the MT1 env of `task`; `obs_mode` (image_obs.OBS_MODES) adds camera frames.

        Frames are image_size pixels square and need render_mode None or 'rgb_array' (render()
        then returns frames of that size too).
        """
        spec = get_task(task)
        if task not in METAWORLD_TASKS:
            raise ValueError(f'task {task!r} is a {spec.family} task; expected a Meta-World one')
        if not 1 <= max_episode_steps <= METAWORLD_MAX_EPISODE_STEPS:
            raise ValueError(f'max_episode_steps is {max_episode_steps}; expected 1 to '
                             f'{METAWORLD_MAX_EPISODE_STEPS} (Meta-World stops at 500)')
        self.obs_mode = image_obs.check_obs_mode(obs_mode)
        frames = image_obs.needs_frames(obs_mode)
        if frames and render_mode not in (None, 'rgb_array'):
            raise ValueError(f'obs_mode {obs_mode!r} renders rgb_array frames; render_mode is '
                             f'{render_mode!r}, expected None or rgb_array')
        self.task = task
        self.split = split
        self.render_mode = render_mode
        self._instructions = instructions_for(task, split)
        low, high = observation_bounds(task)
        self.observation_space = image_obs.observation_space(
            obs_mode, gym.spaces.Box(low, high, dtype=np.float32),
            image_obs.check_image_size(image_size))
        self.action_space = gym.spaces.Box(-1.0, 1.0, (METAWORLD_ACTION_DIM,), dtype=np.float32)
        self._clip_low = low.astype(np.float64)
        self._clip_high = high.astype(np.float64)
        camera = ({'render_mode': 'rgb_array', 'width': image_size, 'height': image_size}
                  if frames else {'render_mode': render_mode})
        # The raw env's checker would warn about Meta-World's own (wrong) bounds: ours are checked.
        self._env = gym.make('Meta-World/MT1', env_name=task, seed=seed,
                             max_episode_steps=max_episode_steps,
                             terminate_on_success=terminate_on_success,
                             disable_env_checker=True, **camera)
        self._reseed(seed)
        self._needs_reset = True
        self.instruction = ''

    def _reseed(self, seed: Optional[int]) -> None:
        """Restart the goal draw (among this env's MT1 goals) and the instruction draw."""
        if seed is not None:
            self._env.unwrapped.seed(seed)
        self._np_random, self._np_random_seed = seeding.np_random(seed)

    def reset(self, *, seed: Optional[int] = None,
              options: Optional[dict] = None) -> tuple[np.ndarray, dict[str, Any]]:
        """
        Start an episode; `seed` restarts the goal and instruction draws from that seed.

        options: {'instruction': str} replaces the drawn instruction for this episode (to run a
        policy on a phrasing of one's own); the draw still happens, so seeding is unaffected.
        """
        options = dict(options or {})
        unknown = set(options) - {'instruction'}
        if unknown:
            raise ValueError(f'unknown reset options {sorted(unknown)}; expected only '
                             "'instruction'")
        if seed is not None:
            self._reseed(int(seed))
        obs, info = self._env.reset()
        choice = int(self.np_random.integers(len(self._instructions)))
        self.instruction = str(options.get('instruction', self._instructions[choice]))
        self._needs_reset = False
        return self._observation(obs), self._info(info, success=False)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply a [dx, dy, dz, gripper] action in [-1, 1] (values outside are clipped)."""
        if self._needs_reset:
            raise ResetNeededError(f'{self.task}: the episode has ended or not started; '
                                   'call reset() before step()')
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (METAWORLD_ACTION_DIM,) or not np.all(np.isfinite(action)):
            raise ActionError(f'action {action!r} is invalid; expected {METAWORLD_ACTION_DIM} '
                              'finite numbers in [-1, 1]')
        obs, reward, terminated, truncated, info = self._env.step(np.clip(action, -1.0, 1.0))
        terminated, truncated = bool(terminated), bool(truncated)
        self._needs_reset = terminated or truncated
        return (self._observation(obs), float(reward), terminated, truncated,
                self._info(info, success=bool(info['success'])))

    def render(self) -> Any:
        """Render with the `render_mode` given at construction (MUJOCO_GL=egl when headless)."""
        return self._env.render()

    def close(self) -> None:
        """Release the simulator."""
        self._env.close()

    def _observation(self, obs: np.ndarray) -> Any:
        state = np.clip(obs, self._clip_low, self._clip_high).astype(np.float32)
        frame = self._env.render() if image_obs.needs_frames(self.obs_mode) else None
        return image_obs.observation(self.obs_mode, state, frame)

    def _info(self, info: dict[str, Any], success: bool) -> dict[str, Any]:
        return {**info, 'success': success, 'instruction': self.instruction}


class ScriptedExpert:
    """Meta-World's scripted policy for one task: `expert(obs)` -> float32 action in [-1, 1]."""

    def __init__(self, task: str) -> None:
        if task not in ENV_POLICY_MAP:
            raise ValueError(f'Meta-World has no scripted policy for {task!r}; expected one of '
                             f'{", ".join(sorted(ENV_POLICY_MAP))}')
        self.task = task
        self._policy = ENV_POLICY_MAP[task]()
        self.source = f'metaworld.policies.{type(self._policy).__name__}'

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Return the expert action for one 39-number observation."""
        action = self._policy.get_action(np.asarray(obs, dtype=np.float64))
        return np.clip(action, -1.0, 1.0).astype(np.float32)
