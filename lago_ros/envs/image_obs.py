# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Observation modes shared by the envs: the flat state, a rendered RGB frame, or both.

'state' (the default) is the float32 vector the learners use and leaves every number as it was;
'rgb' is a uint8 (size, size, 3) camera frame rendered headless (MUJOCO_GL=egl);
'state+rgb' is a Dict {'state': ..., 'rgb': ...}. An env keeps its state observation and asks
`observation_space` and `observation` for what it hands out.
"""

from typing import Any, Optional

import gymnasium
import numpy as np

OBS_MODES: tuple[str, ...] = ('state', 'rgb', 'state+rgb')


def check_obs_mode(obs_mode: str) -> str:
    """Return `obs_mode` if it is one of OBS_MODES; raise ValueError naming the valid ones."""
    if obs_mode not in OBS_MODES:
        raise ValueError(f'obs_mode is {obs_mode!r}; expected one of {OBS_MODES}')
    return obs_mode


def needs_frames(obs_mode: str) -> bool:
    """Whether observations of `obs_mode` include a rendered frame."""
    return check_obs_mode(obs_mode) != 'state'


def observation_space(obs_mode: str, state_space: gymnasium.spaces.Box,
                      image_size: int) -> gymnasium.Space:
    """Return the observation space of `obs_mode` for a state space and square frames."""
    if check_obs_mode(obs_mode) == 'state':
        return state_space
    frames = gymnasium.spaces.Box(0, 255, (image_size, image_size, 3), dtype=np.uint8)
    if obs_mode == 'rgb':
        return frames
    return gymnasium.spaces.Dict({'state': state_space, 'rgb': frames})


def observation(obs_mode: str, state: np.ndarray, frame: Optional[np.ndarray]) -> Any:
    """Assemble the observation of `obs_mode` from the state and the frame (None for 'state')."""
    if obs_mode == 'state':
        return state
    if obs_mode == 'rgb':
        return frame
    return {'state': state, 'rgb': frame}


def check_image_size(image_size: Any) -> int:
    """Return a positive int frame size; raise ValueError for anything else."""
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) \
            or image_size < 1:
        raise ValueError(f'image_size is {image_size!r}; expected a positive int (pixels)')
    return int(image_size)
