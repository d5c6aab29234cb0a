# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Task registry and families, Meta-World instructions and observation layouts (state views)."""

import ast
import json
from pathlib import Path

import numpy as np
import pytest

import lago_ros.envs
from lago_ros.envs.families import FAMILIES, family_of
from lago_ros.envs.instructions import (canonical_instruction, InstructionError,
                                        instructions_for, METAWORLD_INSTRUCTIONS,
                                        sample_instruction)
from lago_ros.envs.registry import (CLEVR_TASK, get_task, list_tasks, make_env, make_expert,
                                    make_vec_env, METAWORLD_TASKS, UnknownTaskError)
from lago_ros.envs.state_view import (feature_view, layout_for, layout_metadata, LAYOUTS,
                                      observation_bounds, ObservationShapeError, text_view)

ROOT = Path(__file__).resolve().parents[1]
CLEVR_EXISTS = (Path(lago_ros.envs.__file__).parent / 'clevr_robot.py').exists()
needs_clevr = pytest.mark.skipif(not CLEVR_EXISTS, reason='clevr_robot.py not written yet')


def test_registered_tasks_exist_in_metaworld_with_scripted_policies():
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS
    from metaworld.policies import ENV_POLICY_MAP

    assert list_tasks() == [*METAWORLD_TASKS, CLEVR_TASK]
    for name in METAWORLD_TASKS:
        assert name in ALL_V3_ENVIRONMENTS and name in ENV_POLICY_MAP
        spec = get_task(name)
        assert (spec.family, spec.obs_dim, spec.action_type, spec.action_dim,
                spec.max_episode_steps) == ('metaworld', 39, 'continuous', 4, 500)


def test_clevr_entry():
    spec = get_task('clevr-robot')
    assert (spec.family, spec.obs_dim, spec.action_type, spec.action_dim,
            spec.max_episode_steps) == ('clevr', 24, 'discrete', 40, 50)


def test_every_task_has_a_family_whose_entry_point_makes_its_env():
    from gymnasium.envs.registration import load_env_creator

    assert set(FAMILIES) == {get_task(name).family for name in list_tasks()}
    for name in ('reach-v3', 'clevr-robot'):
        family = family_of(name)
        assert family.name == get_task(name).family
        env = make_env(name, seed=1)
        assert type(env) is load_env_creator(family.env_entry_point)
        layout = family.action_layout(get_task(name))
        assert layout['type'] == get_task(name).action_type
        env.close()
    with pytest.raises(UnknownTaskError):
        family_of('reach-v9')


@pytest.mark.parametrize('path', ['lago_ros/envs/registry.py', 'lago_ros/envs/instructions.py',
                                  'lago_ros/envs/state_view.py', 'lago_ros/envs/gym_ids.py',
                                  'lago_ros/export/onnx_export.py'])
def test_shared_modules_do_not_branch_on_family_names(path):
    tree = ast.parse((ROOT / path).read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.Compare, ast.If, ast.IfExp, ast.Match)):
            names = {n.value for n in ast.walk(node) if isinstance(n, ast.Constant)}
            assert not names & set(FAMILIES), (
                f'{path}:{node.lineno} tests a family name; ask family_of(task) instead')


@pytest.mark.parametrize('name, suggestion', [('reach-v2', 'reach-v3'),
                                              ('door_open-v3', 'door-open-v3'),
                                              ('clevr_robot', 'clevr-robot')])
def test_unknown_task_lists_names_and_suggests_close_match(name, suggestion):
    with pytest.raises(UnknownTaskError) as caught:
        get_task(name)
    message = str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert all(task in message for task in list_tasks())
    assert f'Did you mean {suggestion!r}' in message


def test_unknown_task_without_close_match_and_non_string_name():
    with pytest.raises(UnknownTaskError, match='expected one of') as caught:
        get_task('zzzz')
    assert 'Did you mean' not in str(caught.value)
    with pytest.raises(UnknownTaskError):
        get_task(None)
    with pytest.raises(UnknownTaskError):
        make_env('nope', seed=0)


def test_vec_env_rejects_bad_sizes():
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match='num_envs'):
            make_vec_env('reach-v3', bad, seed=0)


@pytest.mark.parametrize('task', METAWORLD_TASKS)
def test_instructions_have_disjoint_fixed_splits(task):
    phrasings = METAWORLD_INSTRUCTIONS[task]
    train, test = instructions_for(task, 'train'), instructions_for(task, 'test')
    assert len(set(phrasings)) == len(phrasings) >= 6
    assert len(train) >= 4 and len(test) >= 2
    assert not set(train) & set(test) and set(train) | set(test) == set(phrasings)
    assert canonical_instruction(task) == phrasings[0] and phrasings[0] in train


def test_instruction_choice_is_seeded():
    rngs = [np.random.default_rng(3), np.random.default_rng(3)]
    draws = [[sample_instruction('push-v3', 'train', rng) for _ in range(5)] for rng in rngs]
    assert draws[0] == draws[1]
    rng = np.random.default_rng(0)
    seen = {sample_instruction('push-v3', 'train', rng) for _ in range(200)}
    assert seen == set(instructions_for('push-v3', 'train'))


def test_instruction_errors():
    with pytest.raises(InstructionError, match="expected one of \\('train', 'test'\\)"):
        instructions_for('reach-v3', 'validation')
    with pytest.raises(InstructionError, match='no Meta-World instructions'):
        instructions_for('clevr-robot')
    with pytest.raises(UnknownTaskError):
        instructions_for('reach-v9')


@pytest.mark.parametrize('family', sorted(LAYOUTS))
def test_layout_tiles_the_observation(family):
    layout = LAYOUTS[family]
    task = next(name for name in list_tasks() if get_task(name).family == family)
    assert layout[0].start == 0 and layout[-1].stop == get_task(task).obs_dim
    for before, after in zip(layout, layout[1:], strict=False):
        assert before.stop == after.start
    for field in layout:
        assert len(field.low) == len(field.high) == field.size > 0
        assert all(lo < hi for lo, hi in zip(field.low, field.high, strict=True))
        assert len(field.labels) in (0, field.size)
    assert len({field.name for field in layout}) == len(layout)
    json.dumps(layout_metadata(task))


def test_metaworld_hand_bounds_match_metaworld():
    from metaworld.sawyer_xyz_env import SawyerXYZEnv

    hand = feature_view('reach-v3', observation_bounds('reach-v3')[0])['hand_pos']
    np.testing.assert_allclose(hand, SawyerXYZEnv._HAND_SPACE.low, rtol=1e-6)


def test_feature_view_names_slices_of_a_batch():
    obs = np.arange(2 * 39, dtype=np.float32).reshape(2, 39)
    features = feature_view('door-open-v3', obs)
    np.testing.assert_array_equal(features['hand_pos'], obs[:, 0:3])
    np.testing.assert_array_equal(features['gripper'], obs[:, 3:4])
    np.testing.assert_array_equal(features['obj1_pos'], obs[:, 4:7])
    np.testing.assert_array_equal(features['prev_hand_pos'], obs[:, 18:21])
    np.testing.assert_array_equal(features['goal_pos'], obs[:, 36:39])
    features['goal_pos'][:] = -1
    assert obs[0, 36] == 36, 'features must be copies'


def test_shape_errors_say_what_was_expected():
    with pytest.raises(ObservationShapeError, match=r'shape \(12,\); task reach-v3 expects'):
        feature_view('reach-v3', np.zeros(12))
    with pytest.raises(ObservationShapeError, match='one observation'):
        text_view('reach-v3', np.zeros((2, 39)))


def test_metaworld_text_view():
    obs = np.zeros(39, np.float32)
    obs[0:4] = (0.1, 0.6, 0.2, 1.0)
    obs[4:7] = (0.05, 0.7, 0.02)
    obs[36:39] = (-0.1, 0.8, 0.05)
    text = text_view('push-v3', obs)
    assert text == ('hand_pos=(0.100, 0.600, 0.200) m; gripper=1.000; '
                    'obj1_pos=(0.050, 0.700, 0.020) m; goal_pos=(-0.100, 0.800, 0.050) m')
    obs[11:14] = (0.3, 0.4, 0.5)
    assert 'obj2_pos=(0.300, 0.400, 0.500) m' in text_view('push-v3', obs)


def test_clevr_text_view_decodes_the_goal():
    obs = np.zeros(24, np.float32)
    obs[0:2] = (0.25, -0.1)
    obs[10 + 0] = 1.0  # anchor red
    obs[15 + 2] = 1.0  # target green
    obs[20 + 3] = 1.0  # relation behind
    text = text_view('clevr-robot', obs)
    assert text.startswith('red_pos=(0.250, -0.100) m; blue_pos=(0.000, 0.000) m')
    assert text.endswith('goal_anchor=red; goal_target=green; goal_relation=behind')
    assert [f.name for f in layout_for('clevr-robot')][:2] == ['red_pos', 'blue_pos']


@needs_clevr
def test_clevr_env_matches_its_registry_entry_and_layout():
    env = make_env('clevr-robot', seed=4)
    spec = get_task('clevr-robot')
    obs, info = env.reset()
    assert obs.shape == (spec.obs_dim,) and obs.dtype == np.float32
    assert env.action_space.n == spec.action_dim and isinstance(info['instruction'], str)
    low, high = observation_bounds('clevr-robot')
    np.testing.assert_array_equal(env.observation_space.low, low)
    np.testing.assert_array_equal(env.observation_space.high, high)
    goal = feature_view('clevr-robot', obs)
    for name in ('goal_anchor', 'goal_target', 'goal_relation'):
        assert goal[name].sum() == 1.0
    action = make_expert('clevr-robot', env)(obs)
    assert 0 <= int(action) < spec.action_dim
    _, _, _, _, step_info = env.step(action)
    assert isinstance(step_info['success'], bool)
    assert step_info['instruction'] == info['instruction']


@needs_clevr
def test_clevr_vector_env_is_seeded_per_env():
    vec = make_vec_env('clevr-robot', 2, seed=10)
    obs, info = vec.reset(seed=10)
    single_obs, single_info = make_env('clevr-robot', seed=11).reset(seed=11)
    np.testing.assert_array_equal(obs[1], single_obs)
    assert info['instruction'][1] == single_info['instruction']
    assert not np.array_equal(obs[0], obs[1])
