# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests for the CLEVR-Robot environment, its language layer and its oracle."""

from pathlib import Path

import gymnasium
from gymnasium.utils.env_checker import check_env
import imageio.v3 as iio
import numpy as np
import pytest

from lago_ros.envs import clevr_language as lang
from lago_ros.envs import clevr_robot
from lago_ros.envs.clevr_oracle import ClevrOracle
from lago_ros.envs.clevr_robot import (ClevrRobotEnv, ENV_ID, InvalidActionError, NUM_ACTIONS,
                                       OBS_DIM, sim_path, STRICT_ANCHOR_TOLERANCE)

ANCHOR = np.array([0.0, 0.2])
# The three balls not named by a goal wait in corners, far from the anchor.
PARKED = np.array([[-0.47, -0.17], [0.47, -0.17], [0.47, 0.57]])


def scene(target_offset: np.ndarray) -> np.ndarray:
    """Red anchor in the middle, blue target at `target_offset` from it, the others parked."""
    return np.vstack([ANCHOR, ANCHOR + target_offset, PARKED])


def rotate(vector: np.ndarray, degrees: float) -> np.ndarray:
    angle = np.radians(degrees)
    c, s = np.cos(angle), np.sin(angle)
    return np.array([c * vector[0] - s * vector[1], s * vector[0] + c * vector[1]])


@pytest.fixture
def env():
    environment = ClevrRobotEnv(seed=0)
    yield environment
    environment.close()


@pytest.mark.parametrize('relation', lang.RELATIONS)
def test_relation_geometry_on_hand_placed_scenes(env, relation):
    direction = lang.RELATION_DIRECTIONS[lang.RELATIONS.index(relation)]
    goal = lang.make_goal('red', 'blue', relation)
    env.reset(options={'goal': goal})
    cases = {
        'straight, near': (0.4 * direction, True),
        'off by 45 degrees': (rotate(0.4 * direction, 45.0), True),
        'off by 60 degrees': (rotate(0.4 * direction, 60.0), False),
        'too far': (0.75 * direction, False),
        'opposite side': (-0.4 * direction, False),
    }
    for name, (offset, expected) in cases.items():
        positions = scene(offset)
        assert lang.relation_holds(positions, goal) is expected, name
        assert lang.relation_matrix(positions)[0, 1, lang.RELATIONS.index(relation)] == expected
        env.set_ball_positions(positions)
        assert env.goal_status(env.ball_positions())[0] is expected, name


def test_relation_matrix_matches_the_single_goal_test():
    positions = np.random.default_rng(0).uniform(-0.5, 0.5, size=(5, 2))
    matrix = lang.relation_matrix(positions)
    for goal in lang.ALL_GOALS:
        anchor, target, relation = lang.goal_indices(goal)
        assert matrix[anchor, target, relation] == lang.relation_holds(positions, goal)
    assert not matrix[np.arange(5), np.arange(5)].any()


def test_strict_success_needs_the_anchor_in_place(env):
    env.reset(options={'goal': ('red', 'blue', 'front')})
    start = env.start_positions
    held = start.copy()
    held[1] = start[0] + [0.0, 0.4]
    assert env.goal_status(held) == (True, True)
    nudged = held.copy()
    nudged[0:2] += [STRICT_ANCHOR_TOLERANCE * 2, 0.0]
    assert env.goal_status(nudged) == (True, False)


def test_cardinal_push_moves_a_lone_ball_about_a_quarter(env):
    env.reset(seed=1)
    env.set_ball_positions(np.vstack([ANCHOR, PARKED, [-0.47, 0.57]]))
    for direction in range(4):
        before = env.ball_positions()[0].copy()
        env.apply_push(direction)
        moved = np.linalg.norm(env.ball_positions()[0] - before)
        assert 0.18 < moved < 0.3, (direction, moved)


def test_same_seed_gives_the_same_episode():
    def episode(seed):
        env = ClevrRobotEnv()
        obs, info = env.reset(seed=seed)
        trace, instructions = [obs], {info['instruction']}
        for action in (3, 17, 22, 39, 0, 8):
            obs, _, _, _, info = env.step(action)
            trace.append(obs)
            instructions.add(info['instruction'])
        return np.array(trace), instructions

    first, words = episode(7)
    second, words_again = episode(7)
    np.testing.assert_array_equal(first, second)
    assert words == words_again and len(words) == 1
    assert not np.array_equal(first, episode(8)[0])


def test_constructor_seed_fixes_the_first_episode():
    first = ClevrRobotEnv(seed=5).reset()
    again = ClevrRobotEnv(seed=5).reset()
    np.testing.assert_array_equal(first[0], again[0])
    assert first[1]['instruction'] == again[1]['instruction']


def test_observation_layout_info_and_episode_length():
    env = ClevrRobotEnv(seed=3, max_episode_steps=4)
    obs, info = env.reset()
    assert obs.shape == (OBS_DIM,) and obs.dtype == np.float32
    np.testing.assert_allclose(obs[:10], env.ball_positions().ravel(), atol=1e-6)
    np.testing.assert_array_equal(obs[10:], lang.encode_goal(env.goal))
    assert lang.parse_instruction(info['instruction']) == env.goal
    model = env.model
    for step in range(1, 5):
        obs, reward, terminated, truncated, info = env.step(step)
        assert info['instruction'] == env.instruction
        assert reward == float(info['success'])
        assert not terminated
        assert truncated is (step == 4)
    env.reset()
    assert env.model is model


def test_sampled_goals_are_false_at_the_start():
    env = ClevrRobotEnv()
    for seed in range(40):
        _, info = env.reset(seed=seed)
        assert not info['success']
        assert not lang.relation_holds(env.ball_positions(), env.goal)


@pytest.mark.parametrize('split', lang.SPLITS)
def test_splits_draw_their_own_goals_and_phrasings(split):
    goals, phrasings = lang.split_contents(split)
    allowed = {lang.instruction_for(g, p) for g in goals for p in phrasings}
    env = ClevrRobotEnv(split=split)
    for seed in range(15):
        _, info = env.reset(seed=seed)
        assert info['instruction'] in allowed
    held_out = lang.SYSTEMATIC_HELD_OUT_ANCHOR
    assert (split == 'systematic_test') == all(g.anchor == held_out for g in goals)


def test_split_phrasings_and_anchors_are_disjoint():
    assert not set(lang.TRAIN_PHRASINGS) & set(lang.TEST_PHRASINGS)
    assert len(lang.TRAIN_PHRASINGS) + len(lang.TEST_PHRASINGS) == lang.NUM_PHRASINGS
    train, _ = lang.split_contents('systematic_train')
    test, _ = lang.split_contents('systematic_test')
    assert not set(train) & set(test) and len(train) + len(test) == 80


def test_all_640_instructions_round_trip():
    pairs = lang.all_instructions()
    assert len(pairs) == 640 and len({text for text, _ in pairs}) == 640
    for text, goal in pairs:
        assert lang.parse_instruction(text) == goal
        assert lang.parse_instruction('  ' + text.upper() + ' ') == goal


def test_explicit_goal_and_instruction_options(env):
    obs, info = env.reset(options={'goal': ('purple', 'green', 'behind')})
    assert env.goal == lang.Goal('purple', 'green', 'behind')
    assert lang.parse_instruction(info['instruction']) == env.goal
    text = 'Push the cyan ball in back of the red ball.'
    obs, info = env.reset(options={'instruction': text})
    assert info['instruction'] == text
    assert env.goal == lang.Goal('red', 'cyan', 'behind')
    np.testing.assert_array_equal(obs[10:], lang.encode_goal(env.goal))


@pytest.mark.parametrize('action', [-1, NUM_ACTIONS, 1.5, 2.0, '3', None, True,
                                    np.array([1, 2]), np.array(1.0)])
def test_bad_actions_raise(env, action):
    env.reset()
    with pytest.raises(InvalidActionError, match='0..39'):
        env.step(action)


def test_integer_like_actions_are_accepted_as_the_same_action(env):
    plain = ClevrRobotEnv(seed=0)
    try:
        env.reset(seed=0)
        plain.reset(seed=0)
        for action, same in ((np.int64(3), 3), (np.array(4), 4), (np.uint8(39), 39)):
            got, want = env.step(action), plain.step(same)
            np.testing.assert_array_equal(got[0], want[0])  # the objects moved alike
            assert got[1:4] == want[1:4]  # reward, terminated, truncated
    finally:
        plain.close()


@pytest.mark.parametrize('text', [
    'Push the ball to the left.',
    'Push the pink ball to the left of the red ball.',
    'Push the red ball to the left of the red ball.',
    'Push the blue ball above the red ball.',
    '',
])
def test_malformed_instructions_raise(env, text):
    with pytest.raises(lang.InstructionError):
        lang.parse_instruction(text)
    with pytest.raises(ValueError):
        env.reset(options={'instruction': text})


@pytest.mark.parametrize('options', [
    {'goal': ('red', 'red', 'left')},
    {'goal': ('red', 'blue', 'above')},
    {'goal': ('red', 'blue')},
    {'goal': 'red blue left'},
    {'goal': ('red', 'blue', 'left'), 'instruction': 'Push the blue ball left of the red ball.'},
    {'colour': 'red'},
])
def test_bad_reset_options_raise(env, options):
    with pytest.raises(ValueError):
        env.reset(options=options)


def test_bad_constructor_arguments_raise():
    with pytest.raises(ValueError, match='split'):
        ClevrRobotEnv(split='validation')
    with pytest.raises(ValueError, match='max_episode_steps'):
        ClevrRobotEnv(max_episode_steps=0)
    with pytest.raises(ValueError, match='render_mode'):
        ClevrRobotEnv(render_mode='human')


def test_check_env_passes_and_gymnasium_id_is_registered():
    assert sim_path('clevr_robot.xml').is_file()
    check_env(ClevrRobotEnv(), skip_render_check=True)
    made = gymnasium.make(ENV_ID, split='test')
    assert isinstance(made.unwrapped, ClevrRobotEnv) and made.unwrapped.split == 'test'
    made.close()


def test_scene_is_package_data_with_the_share_dir_as_fallback(tmp_path, monkeypatch):
    packaged = sim_path('clevr_robot.xml')
    assert packaged == Path(clevr_robot.__file__).parent / 'assets' / 'clevr_robot.xml'
    monkeypatch.setattr(clevr_robot.resources, 'files', lambda package: tmp_path)
    share = tmp_path / 'prefix' / 'share' / 'lago_ros'
    (share / 'sim').mkdir(parents=True)
    (share / 'sim' / 'clevr_robot.xml').write_bytes(packaged.read_bytes())
    (tmp_path / 'prefix' / 'share' / 'ament_index' / 'resource_index' / 'packages').mkdir(
        parents=True)
    (tmp_path / 'prefix' / 'share' / 'ament_index' / 'resource_index' / 'packages' /
     'lago_ros').write_text('')
    monkeypatch.setenv('AMENT_PREFIX_PATH', str(tmp_path / 'prefix'))
    assert sim_path('clevr_robot.xml') == share / 'sim' / 'clevr_robot.xml'
    monkeypatch.delenv('AMENT_PREFIX_PATH')
    with pytest.raises(FileNotFoundError, match='reinstall lago_ros with its package data'):
        sim_path('clevr_robot.xml')


def test_oracle_solves_random_goals():
    env = ClevrRobotEnv(terminate_on_success=True)
    oracle = ClevrOracle(env)
    solved, strict, lengths = 0, 0, []
    for seed in range(200):
        obs, info = env.reset(seed=seed)
        done, steps = False, 0
        while not done:
            obs, _, terminated, truncated, info = env.step(oracle(obs))
            steps += 1
            done = terminated or truncated
        solved += info['success']
        strict += info['strict_success']
        lengths.append(steps)
    print(f'oracle on 200 goals: success {solved / 200:.1%}, strict success at the end '
          f'{strict / 200:.1%}, median steps {np.median(lengths):.0f}')
    assert solved >= 190


def test_random_policy_success_rates():
    env = ClevrRobotEnv()
    rng = np.random.default_rng(0)
    episodes, plain, strict = 60, 0, 0
    for seed in range(episodes):
        env.reset(seed=seed)
        held = strict_held = False
        for _ in range(50):
            _, _, _, _, info = env.step(int(rng.integers(NUM_ACTIONS)))
            held |= info['success']
            strict_held |= info['strict_success']
        plain += held
        strict += strict_held
    plain_rate, strict_rate = plain / episodes, strict / episodes
    print(f'random policy, success at any step of 50: plain {plain_rate:.1%}, '
          f'strict {strict_rate:.1%}')
    assert 0.25 <= plain_rate <= 0.75
    assert strict_rate <= 0.2
    assert plain_rate >= strict_rate + 0.2


def test_render_writes_a_non_blank_image(tmp_path):
    images = {}
    for top_down in (False, True):
        env = ClevrRobotEnv(seed=2, render_mode='rgb_array', top_down=top_down)
        env.reset()
        image = env.render()
        env.close()
        assert image.shape == (64, 64, 3) and image.dtype == np.uint8
        assert image.std() > 10.0
        images[top_down] = image
    assert not np.array_equal(images[False], images[True])
    path = tmp_path / 'clevr.png'
    iio.imwrite(path, images[False])
    np.testing.assert_array_equal(iio.imread(path), images[False])
