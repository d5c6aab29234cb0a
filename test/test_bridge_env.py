# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
BridgeEnv over a scripted stand-in for RemoteVecEnv: episodes, autoreset, demo collection.

No ROS graph: the fake answers like a bridge of one env (SAME_STEP autoreset, final_obs and
final_info on the step that ends an episode) and counts its resets, so the tests see when the
scene would be reset. The process-level run is test_topic_backend_pipeline.py.
"""

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip('rclpy')
from lago_ros.nodes.bridge_env import BridgeEnv  # noqa: E402

OBS_DIM = 39


class FakeRemote:
    """One env whose episode e lasts `length` steps and succeeds from step `success_at`."""

    num_envs = 1
    single_observation_space = gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)
    single_action_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)

    def __init__(self, length=5, success_at=None, terminate_on_success=False):
        self.length, self.success_at = length, success_at
        self.terminate_on_success = terminate_on_success
        self.resets, self.seeds, self.actions = 0, [], []
        self.episode = self.t = 0

    def _obs(self):
        return np.full((1, OBS_DIM), 100 * self.episode + self.t, np.float32)

    def _instruction(self):
        return np.asarray([f'episode {self.episode}'], dtype=object)

    def reset(self, seed=None):
        self.resets += 1
        self.seeds.append(seed)
        self.episode, self.t = self.episode + 1, 0
        return self._obs(), {'instruction': self._instruction()}

    def step(self, actions):
        assert actions.shape == (1, 4)
        self.actions.append(actions[0].copy())
        self.t += 1
        success = self.success_at is not None and self.t >= self.success_at
        terminated = success and self.terminate_on_success
        truncated = not terminated and self.t >= self.length
        info = {'instruction': self._instruction(), 'success': np.array([success])}
        if terminated or truncated:
            final = self._obs()
            self.episode, self.t = self.episode + 1, 0  # the next episode, inside this step
            info = {'instruction': self._instruction(), 'success': np.array([False]),
                    'final_obs': np.array([final[0]], dtype=object),
                    'final_info': {'success': np.array([success])}}
        return (self._obs(), np.array([0.5]), np.array([terminated]), np.array([truncated]),
                info)


def test_an_episode_the_bridge_ended_continues_into_the_one_it_began():
    remote = FakeRemote(length=2)
    env = BridgeEnv(remote)
    obs, info = env.reset()
    assert obs[0] == 100 and info == {'instruction': 'episode 1', 'success': False}
    assert env.step(np.zeros(4))[1:] == (0.5, False, False,
                                         {'instruction': 'episode 1', 'success': False})
    obs, reward, terminated, truncated, info = env.step(np.zeros(4))
    assert (obs[0], truncated, info['instruction']) == (102, True, 'episode 1')
    obs, info = env.reset()  # episode 2 began inside that step: no second reset of the scene
    assert (obs[0], info['instruction'], remote.resets) == (200, 'episode 2', 1)
    env.step(np.zeros(4))
    obs, info = env.reset()  # cut short by the caller: the bridge must reset
    assert (obs[0], info['instruction'], remote.resets) == (300, 'episode 3', 2)
    env.reset(seed=5)
    assert remote.seeds == [None, None, 5] and remote.resets == 3


def test_a_seeded_reset_after_an_ended_episode_still_resets_the_bridge():
    remote = FakeRemote(length=1)
    env = BridgeEnv(remote)
    env.reset()
    env.step(np.zeros(4))
    obs, _ = env.reset(seed=9)
    assert remote.seeds == [None, 9] and obs[0] == 300


def test_bridge_env_refuses_more_than_one_env():
    remote = FakeRemote()
    remote.num_envs = 2
    with pytest.raises(ValueError, match='drives one env; the RemoteVecEnv has 2'):
        BridgeEnv(remote)


@pytest.mark.parametrize('terminate, flags', [
    (False, (False, True)),  # cut by the collector at the first success: truncated
    (True, (True, False)),  # ended by the bridge at success: terminated
])
def test_collect_demos_through_a_bridge_env(tmp_path, terminate, flags):
    from lago_ros.data.demos import collect_demos, load_demos

    remote = FakeRemote(length=6, success_at=3, terminate_on_success=terminate)
    out = collect_demos('reach-v3', 2, 4, tmp_path / 'demos', env=BridgeEnv(remote),
                        bridge='/robot_bridge', progress=False)
    data = load_demos(out)
    assert data.metadata['bridge'] == '/robot_bridge' and data.metadata['success_rate'] == 1.0
    assert data.episode_ids.tolist() == [0, 0, 0, 1, 1, 1]
    assert data.observations[:, 0].tolist() == [100, 101, 102, 200, 201, 202]
    assert data.instructions.tolist() == ['episode 1'] * 3 + ['episode 2'] * 3
    assert data.successes.tolist() == [False, False, True] * 2
    assert (data.terminations[2], data.truncations[2]) == flags
    np.testing.assert_array_equal(data.actions, np.asarray(remote.actions, np.float32))
    assert np.abs(data.actions).max() <= 1.0
    # Cut by the collector, the bridge is reset for the next episode; ended by it, it is not.
    assert remote.resets == (1 if terminate else 2) and remote.seeds[0] == 4


def test_collect_demos_through_an_env_refuses_env_options_and_the_clevr_oracle(tmp_path):
    from lago_ros.data.demos import collect_demos

    with pytest.raises(ValueError, match=r"env options \['camera'\] apply to an in-process"):
        collect_demos('reach-v3', 1, 0, tmp_path / 'a', env=BridgeEnv(FakeRemote()),
                      camera=True)
    with pytest.raises(ValueError, match='simulates its own env'):
        collect_demos('clevr-robot', 1, 0, tmp_path / 'b', env=BridgeEnv(FakeRemote()))
    assert not list(tmp_path.iterdir())
