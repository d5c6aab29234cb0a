# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Image observations (obs_mode rgb and state+rgb) for both families, rendered headless."""

import warnings

import gymnasium as gym
from gymnasium.utils.env_checker import check_env
import numpy as np
import pytest

import lago_ros  # noqa: F401  (registers the gymnasium ids)
from lago_ros.envs.image_obs import OBS_MODES
from lago_ros.envs.registry import make_env

pytestmark = pytest.mark.filterwarnings('ignore:Constant.*may be too high:UserWarning')
# A few pushes or hand moves that visibly change the scene, per task.
ACTIONS = {'reach-v3': [np.array([1.0, -1.0, 1.0, 0.0], np.float32)] * 6,
           'clevr-robot': [3, 11, 19]}


def _rollout(env, task):
    observations = [env.reset(seed=4)[0]]
    observations += [env.step(action)[0] for action in ACTIONS[task]]
    return observations


@pytest.mark.parametrize('task', sorted(ACTIONS))
@pytest.mark.parametrize('obs_mode', ['rgb', 'state+rgb'])
def test_frames_come_with_unchanged_states(task, obs_mode):
    env = make_env(task, seed=3, obs_mode=obs_mode)
    state_env = make_env(task, seed=3)
    images, states = _rollout(env, task), _rollout(state_env, task)
    for obs, state in zip(images, states, strict=True):
        assert env.observation_space.contains(obs)
        frame = obs if obs_mode == 'rgb' else obs['rgb']
        assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8 and frame.std() > 5
        if obs_mode == 'state+rgb':
            np.testing.assert_array_equal(obs['state'], state)
    first, last = (obs if obs_mode == 'rgb' else obs['rgb'] for obs in (images[0], images[-1]))
    assert np.abs(first.astype(int) - last).max() > 50, 'the frames do not show the moves'
    env.close()
    state_env.close()


@pytest.mark.parametrize('gym_id', ['LaGO/reach-v3', 'LaGO/ClevrRobot-v0'])
def test_check_env_passes_with_image_observations(gym_id):
    env = gym.make(gym_id, seed=0, obs_mode='state+rgb')
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        check_env(env.unwrapped, skip_render_check=True)
    assert set(env.observation_space.spaces) == {'state', 'rgb'}
    env.close()


def test_frame_size_and_bad_modes():
    env = make_env('clevr-robot', seed=0, obs_mode='rgb', render_size=32)
    assert env.reset()[0].shape == (32, 32, 3)
    env.close()
    assert OBS_MODES == ('state', 'rgb', 'state+rgb')
    for task in ('reach-v3', 'clevr-robot'):
        with pytest.raises(ValueError, match=r"obs_mode is 'depth'; expected one of"):
            make_env(task, obs_mode='depth')
    with pytest.raises(ValueError, match='render_mode is .human., expected None or rgb_array'):
        make_env('reach-v3', obs_mode='rgb', render_mode='human')
    with pytest.raises(ValueError, match='image_size is 0'):
        make_env('reach-v3', obs_mode='rgb', image_size=0)
