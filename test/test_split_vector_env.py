# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""SplitVectorEnv: the same transitions as SyncVectorEnv, clear errors, no leftover processes."""

import functools
import multiprocessing
import os
import signal

import gymnasium as gym
import numpy as np
import pytest

from lago_ros.envs.registry import make_env, make_vec_env
from lago_ros.envs.split_vector_env import SplitVectorEnv, VectorEnvError


class FailingEnv(gym.Env):
    """A counter env whose step raises at a given count; it ends an episode every 3 steps."""

    observation_space = gym.spaces.Box(-100.0, 100.0, (2,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, fail_at: int = -1) -> None:
        self.fail_at, self.count = fail_at, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {'instruction': 'count'}

    def step(self, action):
        self.count += 1
        if self.count == self.fail_at:
            raise ValueError(f'boom at step {self.count}')
        obs = np.full(2, self.count, np.float32)
        return obs, 1.0, self.count % 3 == 0, False, {'success': self.count % 2 == 0}


def _same(a, b) -> None:
    """Assert two vector-env results (nested dicts, object and numeric arrays) are identical."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _same(a[key], b[key])
    elif isinstance(a, (tuple, list)) or (isinstance(a, np.ndarray) and a.dtype == object):
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    else:
        assert a == b and type(a) is type(b)


def _no_children() -> bool:
    return not multiprocessing.active_children()


def test_split_steps_exactly_like_sync_across_episode_ends():
    sync = make_vec_env('reach-v3', 3, seed=5, max_episode_steps=4)
    split = make_vec_env('reach-v3', 3, seed=5, max_episode_steps=4, vector_env='split')
    try:
        assert split.single_observation_space == sync.single_observation_space
        assert split.action_space == sync.action_space
        assert split.metadata['autoreset_mode'] == gym.vector.AutoresetMode.SAME_STEP
        _same(split.reset(seed=11), sync.reset(seed=11))
        rng = np.random.default_rng(0)
        ends = 0
        for _ in range(10):  # 10 steps of 4-step episodes: two autoresets per env
            actions = rng.uniform(-1, 1, (3, 4)).astype(np.float32)
            expected, got = sync.step(actions), split.step(actions)
            _same(got, expected)
            ends += int(np.sum(got[3]))
            assert list(got[4]['instruction']) == list(expected[4]['instruction'])
        assert ends == 6 and 'final_obs' not in got[4]  # step 10 is no episode end
        _same(split.reset(seed=[1, None, 3])[0][[0, 2]], sync.reset(seed=[1, None, 3])[0][[0, 2]])
    finally:
        sync.close()
        split.close()
    assert _no_children()


def test_split_ppo_training_is_identical_to_sync():
    from lago_ros.rl.ppo import PPO, PPOConfig

    histories = []
    for vector_env in ('sync', 'split'):
        envs = make_vec_env('reach-v3', 2, seed=0, max_episode_steps=20, vector_env=vector_env)
        config = PPOConfig(num_steps=32, minibatch_size=32, update_epochs=2, log_interval=100)
        agent = PPO(config, envs).learn(128)
        timings = ('charts/SPS', 'lago/prior_seconds')
        histories.append([{k: v for k, v in row.items() if k not in timings}
                          for row in agent.history])
        histories.append(agent.policy.state_dict())
        envs.close()
    np.testing.assert_equal(histories[2], histories[0])  # NaN (no KL term) counts as equal
    assert len(histories[0]) == 2 and histories[0][-1]['charts/episodic_return'] > 0
    for name, tensor in histories[1].items():
        assert np.array_equal(tensor.numpy(), histories[3][name].numpy()), name


@pytest.mark.parametrize('fail_env', [0, 1])  # env 0 lives in the worker, env 1 here
def test_an_env_error_names_the_env_and_the_error(fail_env):
    fns = [functools.partial(FailingEnv, 2 if i == fail_env else -1) for i in range(2)]
    envs = SplitVectorEnv(fns)
    try:
        envs.reset(seed=0)
        envs.step(np.zeros((2, 1), np.float32))
        with pytest.raises(VectorEnvError, match=f'env {fail_env} raised ValueError: boom at '
                                                 'step 2'):
            envs.step(np.zeros((2, 1), np.float32))
    finally:
        envs.close()
    assert _no_children()


def test_a_failing_factory_gives_a_clear_error_and_no_leftover_worker():
    with pytest.raises(VectorEnvError, match="env 1 raised UnknownTaskError: unknown task 'nope'"):
        SplitVectorEnv([functools.partial(make_env, 'reach-v3', 0),
                        functools.partial(make_env, 'nope', 1)])
    with pytest.raises(VectorEnvError, match='env 0 raised UnknownTaskError'):
        SplitVectorEnv([functools.partial(make_env, 'nope', 0),
                        functools.partial(make_env, 'reach-v3', 1)])
    assert _no_children()


def test_a_dead_worker_gives_a_clear_error_and_close_still_works():
    envs = SplitVectorEnv([functools.partial(FailingEnv) for _ in range(4)])
    envs.reset(seed=0)
    (worker,) = multiprocessing.active_children()
    os.kill(worker.pid, signal.SIGKILL)
    worker.join(5)
    with pytest.raises(VectorEnvError, match=r'worker process stepping envs 0-1 died \(exit '
                                             r'code -9\)'):
        envs.step(np.zeros((4, 1), np.float32))
    envs.close()
    envs.close()  # idempotent
    assert _no_children()
    with pytest.raises(VectorEnvError, match='closed'):
        envs.step(np.zeros((4, 1), np.float32))


def test_close_ends_the_worker_and_one_env_needs_none():
    envs = SplitVectorEnv([functools.partial(FailingEnv) for _ in range(2)])
    (worker,) = multiprocessing.active_children()
    envs.close()
    assert not worker.is_alive() and worker.exitcode == 0 and _no_children()
    single = SplitVectorEnv([functools.partial(FailingEnv)])
    assert _no_children()
    obs, info = single.reset(seed=0)
    assert obs.shape == (1, 2) and list(info['instruction']) == ['count']
    single.close()


def test_step_async_and_step_wait_must_alternate():
    envs = SplitVectorEnv([functools.partial(FailingEnv) for _ in range(2)])
    try:
        envs.reset(seed=0)
        with pytest.raises(VectorEnvError, match='without a step_async'):
            envs.step_wait()
        envs.step_async(np.zeros((2, 1), np.float32))
        with pytest.raises(VectorEnvError, match='before step_wait'):
            envs.step_async(np.zeros((2, 1), np.float32))
        obs, rewards, *_ = envs.step_wait()
        assert obs.tolist() == [[1.0, 1.0], [1.0, 1.0]] and rewards.tolist() == [1.0, 1.0]
    finally:
        envs.close()


def test_make_vec_env_rejects_an_unknown_vector_env():
    with pytest.raises(ValueError, match=r"vector_env is 'async'; expected one of \('sync', "
                                         r"'split'\)"):
        make_vec_env('reach-v3', 2, vector_env='async')
