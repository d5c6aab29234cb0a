# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The topic backend's ROS-free core: config checks, state assembly, task rules, time limit."""

import copy
from pathlib import Path
import threading

import numpy as np
import pytest
import yaml

from lago_ros.control.robot_config import (load_robot_config, parse_robot_config,
                                           RobotConfigError)
from lago_ros.control.state_assembly import (JointSample, LatestInputs, PoseSample,
                                             StateAssembler)
from lago_ros.control.task_rules import (long_tail_tolerance, make_task_rule, ReachRule,
                                         RobotEpisode, TaskRuleError)
from lago_ros.envs.state_view import feature_view, observation_bounds
from lago_ros.export.onnx_policy import ObservationError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / 'config' / 'robot_backend.yaml'


@pytest.fixture
def example():
    """Return the example config as a plain mapping, to be broken by each test."""
    return yaml.safe_load(EXAMPLE.read_text())


def _error(data):
    with pytest.raises(RobotConfigError) as err:
        parse_robot_config(data, 'arm.yaml')
    message = str(err.value)
    assert '\n' not in message and message.startswith('arm.yaml: ')
    return message


def test_example_config_is_valid_and_complete():
    config = load_robot_config(EXAMPLE)
    assert config.task == 'reach-v3' and config.rate_hz == 20.0
    assert {f.field for f in config.fields} | set(config.absent) == {
        'hand_pos', 'gripper', 'obj1_pos', 'obj1_quat', 'obj2_pos', 'obj2_quat', 'goal_pos'}
    assert config.command.sink_params['command_topic'] == '/arm/cmd_vel'
    assert config.reset.service == '/arm/reset'


@pytest.mark.parametrize('break_it, expected', [
    (lambda d: d['fields'].pop('obj1_pos'), "fields ['obj1_pos'] of task reach-v3 have no input"),
    (lambda d: d['fields']['hand_pos'].update(unit='rad'),
     "unit mismatch: fields.hand_pos.unit is 'rad' but field hand_pos is in m"),
    (lambda d: d['fields']['obj1_quat'].update(unit='m'), 'unit mismatch: fields.obj1_quat'),
    (lambda d: d['fields']['hand_pos'].update(range=[0, 1]), 'range only for dimensionless'),
    (lambda d: d['inputs']['hand'].update(type='sensor_msgs/Image'),
     "type is 'sensor_msgs/Image'; expected one of ['sensor_msgs/JointState'"),
    (lambda d: d['inputs']['hand'].pop('topic'), 'inputs.hand.topic is missing'),
    (lambda d: d['fields']['hand_pos'].update(value='xy'), 'gives 2 values; field hand_pos'),
    (lambda d: d['fields']['gripper'].update(input='camera'),
     "fields.gripper.input is 'camera'; expected one of ['joints', 'hand', 'puck', 'goal']"),
    (lambda d: d['fields']['gripper'].pop('joints'), 'fields.gripper.joints is None'),
    (lambda d: d.update(rate=5), "unknown keys ['rate']"),
    (lambda d: d.update(task='clevr-robot'), 'task clevr-robot has discrete actions'),
    (lambda d: d.update(task='reach-v9'), "unknown task 'reach-v9'"),
    (lambda d: (d.update(task='drawer-open-v3'), d.pop('task_function')),
     'task drawer-open-v3 has no built-in task'),
    (lambda d: d['reset'].pop('service'), 'reset.service is missing'),
    (lambda d: d['command'].update(output_mode='vec_action'), "output_mode is 'vec_action'"),
    (lambda d: d.update(absent=['obj2_pos', 'obj2_quat', 'goal_pos']),
     "fields ['goal_pos'] are both mapped and absent"),
    (lambda d: d['fields'].update(prev_hand_pos={'input': 'hand'}),
     "field 'prev_hand_pos' is not a field task reach-v3 fills"),
    (lambda d: d.update(time_limit_steps=0), 'time_limit_steps is 0'),
])
def test_config_errors_name_the_key_and_the_expectation(example, break_it, expected):
    broken = copy.deepcopy(example)
    break_it(broken)
    assert expected in _error(broken)


def test_unreadable_or_invalid_yaml_is_one_line(tmp_path):
    with pytest.raises(RobotConfigError, match='cannot read robot config'):
        load_robot_config(tmp_path / 'absent.yaml')
    bad = tmp_path / 'bad.yaml'
    bad.write_text('task: [reach-v3\n')
    with pytest.raises(RobotConfigError, match='is not valid YAML') as err:
        load_robot_config(bad)
    assert '\n' not in str(err.value)


def _samples(obs, frame='world'):
    """Return what the stand-in arm publishes for Meta-World observation `obs`."""
    obs = np.asarray(obs, np.float64)
    return {'joints': JointSample(('right_j0', 'gripper_opening'), (0.3, float(obs[3])),
                                  (0.0, 0.0), ()),
            'hand': PoseSample(frame, tuple(obs[0:3]), (0.0, 0.0, 0.0, 1.0)),
            'puck': PoseSample(frame, tuple(obs[4:7]), tuple(obs[7:11])),
            'goal': PoseSample(frame, tuple(obs[36:39]), (0.0, 0.0, 0.0, 1.0))}


def _metaworld_like(rng):
    """Build an observation with the reach-v3 layout: a frame, that frame again, a goal."""
    frame = np.zeros(18)
    frame[0:3] = rng.uniform([-0.3, 0.5, 0.1], [0.3, 0.8, 0.3])
    frame[3] = rng.uniform(0, 1)
    frame[4:7] = rng.uniform([-0.1, 0.6, 0.0], [0.1, 0.7, 0.05])
    quat = rng.normal(size=4)
    frame[7:11] = quat / np.linalg.norm(quat)
    return np.concatenate([frame, frame, rng.uniform([-0.1, 0.8, 0.05], [0.1, 0.9, 0.3])])


def test_assembler_rebuilds_the_layout_with_the_previous_frame():
    assembler = StateAssembler(load_robot_config(EXAMPLE))
    rng = np.random.default_rng(0)
    first, second = _metaworld_like(rng), _metaworld_like(rng)
    assembler.start_episode()
    np.testing.assert_array_equal(assembler.assemble(_samples(first)),
                                  first.astype(np.float32))
    expected = second.copy()
    expected[18:36] = first[0:18]  # Meta-World's previous frame is the last step's frame
    np.testing.assert_array_equal(assembler.assemble(_samples(second)),
                                  expected.astype(np.float32))
    assembler.start_episode()  # a new episode copies its own frame again
    np.testing.assert_array_equal(assembler.assemble(_samples(second)),
                                  second.astype(np.float32))


def test_assembler_converts_units_order_and_ranges_and_clips(example):
    example['fields']['hand_pos']['unit'] = 'mm'
    example['fields']['obj1_quat']['value'] = 'orientation_wxyz'
    example['fields']['gripper']['range'] = [0.08, 0.0]  # finger gap in m: 8 cm open = 1
    assembler = StateAssembler(parse_robot_config(example))
    obs = _metaworld_like(np.random.default_rng(1))
    samples = _samples(obs)
    samples['hand'] = PoseSample('world', tuple(obs[0:3] * 1000.0), (0, 0, 0, 1))
    samples['joints'] = JointSample(('gripper_opening',), (0.02,), (), ())
    x, y, z, w = obs[7:11]
    view = feature_view('reach-v3', assembler.assemble(samples))
    np.testing.assert_allclose(view['hand_pos'], obs[0:3], rtol=1e-6)
    np.testing.assert_allclose(view['gripper'], [0.75], rtol=1e-6)
    np.testing.assert_allclose(view['obj1_quat'], [w, x, y, z], rtol=1e-6)
    samples['hand'] = PoseSample('world', (5000.0, 600.0, 200.0), (0, 0, 0, 1))
    low, high = observation_bounds('reach-v3')
    clipped = assembler.assemble(samples)
    assert clipped[0] == high[0] and (clipped >= low).all() and (clipped <= high).all()


@pytest.mark.parametrize('change, message', [
    (lambda s: s.update(hand=PoseSample('base_link', (0, 0.6, 0.2), (0, 0, 0, 1))),
     "pose on /arm/ee_pose is in frame 'base_link'; the config expects 'world'"),
    (lambda s: s.update(joints=JointSample(('right_j0',), (0.1,), (), ())),
     "lacks position of joints ['gripper_opening']"),
    (lambda s: s.update(joints=JointSample(('gripper_opening', 'b'), (0.1,), (), ())),
     'has 2 names but 1 position values'),
    (lambda s: s.pop('goal'), 'no message yet on /arm/goal_pose'),
    (lambda s: s.update(goal=PoseSample('world', (np.nan, 0.8, 0.2), (0, 0, 0, 1))),
     'field goal_pos is [nan'),
])
def test_assembler_refuses_inconsistent_inputs(change, message):
    assembler = StateAssembler(load_robot_config(EXAMPLE))
    samples = _samples(_metaworld_like(np.random.default_rng(2)))
    change(samples)
    with pytest.raises(ObservationError, match=None) as err:
        assembler.assemble(samples)
    assert message in str(err.value)


def test_long_tail_tolerance_is_metaworlds():
    from metaworld.utils import reward_utils

    rng = np.random.default_rng(3)
    for distance, margin in zip(rng.uniform(0, 0.6, 200), rng.uniform(0.01, 0.5, 200),
                                strict=True):
        expected = reward_utils.tolerance(float(distance), bounds=(0, 0.05),
                                          margin=float(margin), sigmoid='long_tail')
        assert long_tail_tolerance(float(distance), 0.05, float(margin)) == \
            pytest.approx(expected, abs=1e-12)


def test_reach_rule_uses_the_tool_centre_and_the_margin():
    rule = ReachRule(tcp_offset=(0.0, 0.0, -0.045), hand_init_pos=(0.0, 0.6, 0.2))
    goal = np.array([0.05, 0.85, 0.25])
    rule.start({'hand_pos': np.array([0.0, 0.6, 0.2]), 'goal_pos': goal})
    at_goal = {'hand_pos': goal + [0.0, 0.0, 0.045], 'goal_pos': goal}
    assert rule(at_goal) == (10.0, True)
    # The hand itself at the goal puts the tool centre 4.5 cm low: still a success; 6 cm is not.
    assert rule({'hand_pos': goal, 'goal_pos': goal})[1]
    reward, success = rule({'hand_pos': goal + [0.0, 0.0, 0.105], 'goal_pos': goal})
    margin = np.linalg.norm(np.array([0.0, 0.6, 0.2]) - goal)
    assert not success and reward == pytest.approx(
        10.0 * long_tail_tolerance(0.06, 0.05, margin))


class ConstantRule:
    """A plug-in task rule for the test: success when the hand is above `height`."""

    def __init__(self, height):
        self.height = height
        self.started = 0

    def start(self, state):
        self.started += 1

    def __call__(self, state):
        return float(state['hand_pos'][2]), bool(state['hand_pos'][2] > self.height)


def test_plugged_in_rule_and_the_time_limit():
    rule = make_task_rule('test_robot_backend_core:ConstantRule', {'height': 0.3})
    episode = RobotEpisode(rule, time_limit_steps=3, terminate_on_success=True)
    low, high = {'hand_pos': np.array([0, 0, 0.1])}, {'hand_pos': np.array([0, 0, 0.4])}
    episode.start(low)
    assert rule.started == 1
    assert episode.step(low) == (pytest.approx(0.1), False, False, False)
    assert episode.step(high) == (pytest.approx(0.4), True, False, True)
    episode.start(low)
    assert [episode.step(low)[2] for _ in range(3)] == [False, False, True]
    with pytest.raises(TaskRuleError, match="expected one of \\['push', 'reach'\\]"):
        make_task_rule('grasp', {})
    with pytest.raises(TaskRuleError, match='cannot be imported'):
        make_task_rule('no_such_module:rule', {})
    with pytest.raises(TaskRuleError, match='task_options do not fit'):
        make_task_rule('reach', {'radius': 0.1})


def test_latest_inputs_wait_for_messages_after_a_time():
    inputs = LatestInputs(['a', 'b'])
    inputs.put('a', 'old', now=1.0)
    assert inputs.wait_since(2.0, timeout=0.0) == ['a', 'b']
    later = threading.Timer(0.05, lambda: (inputs.put('a', 'new', 2.5),
                                           inputs.put('b', 'new', 2.6)))
    later.start()
    assert inputs.wait_since(2.0, timeout=60.0) == []
    later.join()
    assert inputs.snapshot() == {'a': 'new', 'b': 'new'}
