# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Stable-Baselines3 trains on a registered `LaGO/...` id as on any gymnasium env."""

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import PPO
import torch

import lago_ros  # noqa: F401 (registers the ids)

pytestmark = pytest.mark.filterwarnings('ignore:Constant.*may be too high:UserWarning')


@pytest.mark.parametrize('gym_id', ['LaGO/reach-v3', 'LaGO/ClevrRobot-v0'])
def test_sb3_ppo_learns_on_an_id(gym_id):
    env = gym.make(gym_id)
    model = PPO('MlpPolicy', env, n_steps=64, batch_size=32, n_epochs=2, seed=0,
                device='cpu', policy_kwargs={'net_arch': [32, 32]})
    before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    model.learn(256)
    assert model.num_timesteps >= 256
    changed = [k for k, v in model.policy.state_dict().items() if not torch.equal(v, before[k])]
    assert changed, 'no policy parameter changed while learning'
    obs, _ = env.reset(seed=3)
    action, _ = model.predict(obs, deterministic=True)
    assert np.shape(action) == env.action_space.shape
    assert env.action_space.contains(np.asarray(action, dtype=env.action_space.dtype))
    env.close()
