# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Meta-World envs: experts succeed, seeding replays, episodes end cleanly, vector infos pass."""

import warnings

from gymnasium.utils.env_checker import check_env
import numpy as np
import pytest

from lago_ros.envs.instructions import instructions_for
from lago_ros.envs.metaworld_env import ActionError, ResetNeededError
from lago_ros.envs.registry import (get_task, make_env, make_expert, make_vec_env,
                                    METAWORLD_TASKS)
from lago_ros.envs.state_view import feature_view, text_view

pytestmark = pytest.mark.filterwarnings('ignore:Constant.*may be too high:UserWarning')
SEEDS = (0, 1, 2)
# The experts need 40-130 steps on these tasks; a cap well below 500 keeps failures cheap.
EXPERT_STEP_CAP = 250


def run_expert(env, expert, seed):
    """Run one episode until the first success or the cap; return (success, observations)."""
    obs, info = env.reset(seed=seed)
    seen = [obs]
    for _ in range(EXPERT_STEP_CAP):
        obs, _, terminated, truncated, info = env.step(expert(obs))
        seen.append(obs)
        assert isinstance(info['success'], bool)
        if info['success'] or terminated or truncated:
            break
    return info['success'], seen


@pytest.mark.parametrize('task', METAWORLD_TASKS)
def test_expert_succeeds_on_most_seeds(task):
    env = make_env(task, seed=SEEDS[0])
    expert = make_expert(task, env)
    results = [run_expert(env, expert, seed) for seed in SEEDS]
    successes = sum(success for success, _ in results)
    assert successes >= 2, f'{task}: expert succeeded on {successes} of {len(SEEDS)} seeds'
    for _, observations in results:
        for obs in observations:
            assert obs.dtype == np.float32 and env.observation_space.contains(obs)
    env.close()


@pytest.fixture(scope='module')
def reach_env():
    """One reach-v3 env (seed 0, 500-step episodes) shared by the tests that reset it."""
    env = make_env('reach-v3', seed=0)
    yield env
    env.close()


def test_same_seed_replays_episodes_and_other_seeds_differ():
    env_a, env_b = make_env('push-v3', seed=7), make_env('push-v3', seed=7)
    starts_a = [env_a.reset() for _ in range(3)]
    obs_b, info_b = env_b.reset()
    np.testing.assert_array_equal(starts_a[0][0], obs_b)
    assert starts_a[0][1]['instruction'] == info_b['instruction']
    assert text_view('push-v3', starts_a[0][0]) == text_view('push-v3', obs_b)
    goals = [feature_view('push-v3', obs)['goal_pos'] for obs, _ in starts_a]
    assert not np.allclose(goals[0], goals[1]), 'successive episodes should draw new goals'

    other_obs, _ = make_env('push-v3', seed=8).reset()
    assert not np.allclose(feature_view('push-v3', other_obs)['goal_pos'], goals[0])

    for _ in range(20):
        env_b.step(env_b.action_space.sample())
    replay = [env_b.reset(seed=7)] + [env_b.reset() for _ in range(2)]
    for (obs_a, info_a), (obs_r, info_r) in zip(starts_a, replay, strict=True):
        np.testing.assert_array_equal(obs_a, obs_r)
        assert info_a['instruction'] == info_r['instruction']
    reseeded_goal = feature_view('push-v3', env_b.reset(seed=11)[0])['goal_pos']
    assert not np.allclose(reseeded_goal, goals[0])


def test_instruction_comes_with_every_observation_and_follows_split():
    env = make_env('drawer-open-v3', seed=0, split='test')
    with pytest.raises(ResetNeededError, match='call reset'):
        env.step(np.zeros(4, np.float32))
    test_phrasings = instructions_for('drawer-open-v3', 'test')
    _, info = env.reset()
    assert info['instruction'] in test_phrasings and info['success'] is False
    for _ in range(3):
        _, _, _, _, step_info = env.step(np.zeros(4, np.float32))
        assert step_info['instruction'] == info['instruction']


def test_reset_option_sets_the_instruction(reach_env):
    drawn = reach_env.reset(seed=0)[1]['instruction']
    _, info = reach_env.reset(seed=0, options={'instruction': 'Touch the red dot.'})
    assert info['instruction'] == 'Touch the red dot.' != drawn
    assert reach_env.step(np.zeros(4, np.float32))[4]['instruction'] == 'Touch the red dot.'
    with pytest.raises(ValueError, match="expected only 'instruction'"):
        reach_env.reset(options={'goal': 1})


def test_episode_truncates_at_500_and_needs_reset(reach_env):
    reach_env.reset(seed=0)
    truncations = [reach_env.step(np.zeros(4, np.float32))[3] for _ in range(500)]
    assert truncations[-1] and not any(truncations[:-1])
    with pytest.raises(RuntimeError, match='reset'):
        reach_env.step(np.zeros(4, np.float32))
    reach_env.reset()
    assert reach_env.step(np.zeros(4, np.float32))[3] is False


@pytest.mark.parametrize('action', [np.zeros(3), np.array([0.0, np.nan, 0.0, 0.0])])
def test_bad_action_is_rejected(reach_env, action):
    reach_env.reset()
    with pytest.raises(ActionError, match='expected 4 finite numbers'):
        reach_env.step(action)


def test_out_of_range_action_is_clipped_not_rejected(reach_env):
    reach_env.reset(seed=0)
    obs_big = reach_env.step(np.full(4, 5.0))[0]
    reach_env.reset(seed=0)
    obs_one = reach_env.step(np.ones(4))[0]
    np.testing.assert_array_equal(obs_big, obs_one)


def test_gymnasium_env_checker_passes_without_warnings():
    env = make_env('door-open-v3', seed=123)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        check_env(env, skip_render_check=True)
    spec = get_task('door-open-v3')
    assert env.observation_space.shape == (spec.obs_dim,)
    assert np.all(np.isfinite(env.observation_space.low))
    assert np.all(np.isfinite(env.observation_space.high))


def test_vector_env_seeds_autoresets_and_passes_infos():
    vec = make_vec_env('reach-v3', num_envs=2, seed=3, max_episode_steps=3)
    obs, info = vec.reset(seed=3)
    single_obs, single_info = make_env('reach-v3', seed=4).reset()
    np.testing.assert_array_equal(obs[1], single_obs)
    assert info['instruction'][1] == single_info['instruction']
    assert obs.dtype == np.float32 and obs.shape == (2, 39)
    assert info['instruction'].dtype == object and info['_instruction'].all()
    zeros = np.zeros((2, 4), np.float32)
    for _ in range(2):
        _, _, _, truncated, info = vec.step(zeros)
        assert not truncated.any() and 'final_obs' not in info
    obs, _, terminated, truncated, info = vec.step(zeros)
    assert truncated.all() and not terminated.any()
    assert info['final_obs'].dtype == object and info['final_obs'][0].shape == (39,)
    assert not np.array_equal(info['final_obs'][0], obs[0])
    assert set(info['final_info']['instruction']) <= set(instructions_for('reach-v3', 'train'))
    assert info['final_info']['success'].dtype == bool
    assert all(isinstance(s, str) for s in info['instruction'])
    _, _, _, truncated, _ = vec.step(zeros)
    assert not truncated.any()
    vec.close()
