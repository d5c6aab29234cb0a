# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Deploy node: command streams under faults, output formats, the sim path and no-torch import."""

import itertools
import os
from pathlib import Path
import subprocess
import sys
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from geometry_msgs.msg import TwistStamped  # noqa: E402
from lago_interfaces.msg import VecAction, VecStep  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from std_msgs.msg import Bool, Float32MultiArray, Float64, Float64MultiArray  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from lago_ros.export.onnx_policy import ObservationError, OnnxPolicy  # noqa: E402
from lago_ros.launcher import LaunchFile  # noqa: E402
from lago_ros.nodes.deploy import (CommandShaper, DeployConfigError, DeployNode,  # noqa: E402
                                   EStop, ObservationAssembler)
from test_onnx_export import export_agent, make_agent  # noqa: E402

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parents[1]
SUCCESS = TransitionCallbackReturn.SUCCESS
_names = itertools.count()


@pytest.fixture(scope='module')
def reach(tmp_path_factory):
    """(agent, onnx path) of an exported reach-v3 policy."""
    agent = make_agent('reach-v3')
    return agent, export_agent(agent, 'reach-v3', tmp_path_factory.mktemp('reach'))


@pytest.fixture(scope='module')
def context():
    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    rclpy.shutdown(context=context)


class Harness:
    """A deploy node and a peer node (observations, e-stop, command recorder) in one executor."""

    def __init__(self, context, policy_path, command_type=Float64MultiArray, **params):
        self.ns = f'/deploy_test_{os.getpid()}_{next(_names)}'
        overrides = [Parameter(k, value=v) for k, v in
                     {'policy_path': str(policy_path), 'rate_hz': 50.0, 'max_delta': [2.0],
                      **params}.items()]
        self.node = DeployNode(context=context, namespace=self.ns,
                               parameter_overrides=overrides)
        self.peer = rclpy.create_node('peer', namespace=self.ns, context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.peer)
        self.commands = []
        self.peer.create_subscription(command_type, 'commands',
                                      lambda m: self.commands.append((time.monotonic(), m)), 10)
        self.obs_pub = self.peer.create_publisher(Float32MultiArray, 'observation', 10)
        self.estop_pub = self.peer.create_publisher(Bool, 'estop', 10)
        self.rearm = self.peer.create_client(Trigger, f'{self.ns}/deploy/rearm')

    def start(self, configure=True):
        if configure:
            assert self.node.trigger_configure() == SUCCESS
        assert self.node.trigger_activate() == SUCCESS
        self.spin_until(lambda: self.obs_pub.get_subscription_count() > 0, 10.0)

    def spin_until(self, predicate, timeout, obs=None):
        """Spin (publishing `obs` every 10 ms if given) until `predicate()` or the timeout."""
        deadline, next_pub = time.monotonic() + timeout, 0.0
        while not predicate() and time.monotonic() < deadline:
            if obs is not None and time.monotonic() >= next_pub:
                self.obs_pub.publish(Float32MultiArray(data=np.asarray(obs).tolist()))
                next_pub = time.monotonic() + 0.01
            self.executor.spin_once(timeout_sec=0.002)
        return predicate()

    def run(self, seconds, obs=None):
        end = time.monotonic() + seconds
        self.spin_until(lambda: time.monotonic() >= end, seconds + 1, obs)

    def values(self, since=0.0):
        return [np.asarray(m.data) for t, m in self.commands if t >= since]

    def call_rearm(self):
        assert self.rearm.wait_for_service(timeout_sec=5.0)
        future = self.rearm.call_async(Trigger.Request())
        self.spin_until(future.done, 5.0)
        return future.result()

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()
        self.peer.destroy_node()


@pytest.fixture
def harness(context):
    made = []

    def make(policy_path, **params):
        made.append(Harness(context, policy_path, **params))
        return made[-1]

    yield make
    for h in made:
        h.close()


def observation(seed=3):
    return np.random.default_rng(seed).normal(0.5, 2.0, 39).astype(np.float32)


def test_stale_observations_zero_velocity_commands_once_per_episode(reach, harness):
    _, path = reach
    h = harness(path, trigger='timer', observation_timeout_s=0.15)
    h.start()
    obs, expected = observation(), OnnxPolicy(path).act(observation())
    assert np.abs(expected).max() > 0.1
    h.run(0.3, obs)
    np.testing.assert_allclose(h.values()[-1], expected, atol=1e-6)
    before = h.node.counters['stale_episodes']  # 1: no observation had come at activation
    for episode in (1, 2):
        stop = time.monotonic()
        h.run(0.5)
        after = h.values(since=stop + 0.25)
        assert after and all(np.array_equal(v, np.zeros(4)) for v in after)
        assert h.node.counters['stale_episodes'] == before + episode
        h.run(0.2, obs)
        np.testing.assert_allclose(h.values()[-1], expected, atol=1e-6)


def test_stale_position_commands_hold_the_last_one(reach, harness):
    _, path = reach
    h = harness(path, trigger='timer', observation_timeout_s=0.15, command_kind='position')
    h.start()
    h.run(0.3, observation())
    last = h.values()[-1]
    stop = time.monotonic()
    h.run(0.5)
    held = h.values(since=stop + 0.25)
    assert held and all(np.array_equal(v, last) for v in held)


def test_invalid_observations_produce_no_command(reach, harness):
    _, path = reach
    h = harness(path, trigger='observation', observation_timeout_s=5.0)
    h.start()
    obs = observation()
    assert h.spin_until(lambda: any(np.abs(v).max() > 0 for v in h.values()), 5.0, obs)
    h.run(0.1)
    before = len(h.commands)
    bad = [np.full(39, np.nan), np.r_[obs[:-1], np.inf], obs[:38], np.r_[obs, 0.0]]
    for values in bad:
        h.obs_pub.publish(Float32MultiArray(data=values.tolist()))
    assert h.spin_until(lambda: h.node.counters['rejected_observations'] == 4, 5.0)
    h.run(0.3)
    assert len(h.commands) == before, 'an invalid observation produced a command'
    h.obs_pub.publish(Float32MultiArray(data=obs.tolist()))
    assert h.spin_until(lambda: len(h.commands) > before, 5.0)


def test_estop_latches_until_rearmed_and_rearm_is_refused_while_engaged(reach, harness):
    _, path = reach
    h = harness(path, trigger='timer', observation_timeout_s=0.5)
    h.start()
    obs, expected = observation(), OnnxPolicy(path).act(observation())
    h.run(0.3, obs)
    h.estop_pub.publish(Bool(data=True))
    mark = time.monotonic()
    h.run(0.3, obs)
    stopped = h.values(since=mark + 0.1)
    assert stopped and all(np.array_equal(v, np.zeros(4)) for v in stopped)
    reply = h.call_rearm()
    assert not reply.success and 'still reports engaged' in reply.message
    h.estop_pub.publish(Bool(data=False))
    mark = time.monotonic()
    h.run(0.3, obs)
    assert all(np.array_equal(v, np.zeros(4)) for v in h.values(since=mark))
    assert h.call_rearm().success
    h.run(0.3, obs)
    np.testing.assert_allclose(h.values()[-1], expected, atol=1e-6)


def test_second_publisher_blocks_activation_and_stops_commands(reach, harness):
    _, path = reach
    h = harness(path, trigger='timer', observation_timeout_s=0.5)
    other = h.peer.create_publisher(Float64MultiArray, 'commands', 10)
    assert h.node.trigger_configure() == SUCCESS
    assert h.node.trigger_activate() == TransitionCallbackReturn.FAILURE
    assert h.node.lifecycle_state == 'inactive'
    h.peer.destroy_publisher(other)
    h.start(configure=False)
    h.run(0.3, observation())
    assert h.values()
    h.peer.create_publisher(Float64MultiArray, 'commands', 10)
    assert h.spin_until(lambda: h.node.lifecycle_state == 'inactive', 5.0, observation())
    sent = dict(h.node.counters)
    h.run(0.3, observation())
    assert h.node.counters['commands'] == sent['commands']
    assert h.node.counters['safe_commands'] == sent['safe_commands']


def test_twist_and_trajectory_outputs(reach, harness):
    _, path = reach
    expected = OnnxPolicy(path).act(observation())
    grippers = []
    h = harness(path, command_type=TwistStamped, output_mode='twist', trigger='observation',
                twist_linear_scale=0.05, observation_timeout_s=5.0)
    h.peer.create_subscription(Float64, 'gripper_command', lambda m: grippers.append(m.data), 10)
    h.start()

    def moving():
        return [m for _, m in h.commands if m.twist.linear.x != 0.0]

    assert h.spin_until(lambda: grippers and moving(), 5.0, observation())
    twist = moving()[-1].twist
    np.testing.assert_allclose([twist.linear.x, twist.linear.y, twist.linear.z],
                               expected[:3] * 0.05, atol=1e-7)
    assert moving()[-1].header.frame_id == 'base_link'
    assert grippers[-1] == pytest.approx(float(expected[3]), abs=1e-7)

    names = ['j1', 'j2', 'j3', 'j4']
    h = harness(path, command_type=JointTrajectory, output_mode='joint_trajectory',
                trigger='observation', trajectory_joint_names=names, command_kind='position',
                rate_hz=25.0)
    h.start()
    assert h.spin_until(lambda: h.commands, 5.0, observation())
    traj = h.commands[-1][1]
    assert list(traj.joint_names) == names and len(traj.points) == 1
    np.testing.assert_allclose(traj.points[0].positions, expected, atol=1e-6)
    assert traj.points[0].time_from_start.nanosec == 40_000_000


def test_configure_rejects_contradicting_parameters(reach, harness):
    _, path = reach
    for params in ({'output_mode': 'joint_trajectory'}, {'action_min': [0.0, 1.0]},
                   {'input_mode': 'bogus'}, {'policy_path': '/nonexistent.onnx'},
                   {'input_mode': 'joint_state', 'observation_mapping': 'extra: {}'}):
        h = harness(params.pop('policy_path', path), **params)
        assert h.node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert h.node.lifecycle_state == 'unconfigured'


def test_observation_assembler_maps_joint_state_extra_and_previous_frame():
    mapping = {'joint_state': {'names': ['x', 'y', 'z', 'grip'], 'obs_indices': ['0:4']},
               'extra': {'obs_indices': ['4:18', '36:39']},
               'previous': {'obs_indices': ['18:36'], 'from_indices': ['0:18']}}
    assembler = ObservationAssembler(39, mapping)
    extra = np.arange(17.0)
    first = assembler.assemble(['grip', 'z', 'y', 'x', 'other'], [4.0, 3.0, 2.0, 1.0, 9.0],
                               extra)
    np.testing.assert_array_equal(first[:4], [1, 2, 3, 4])
    np.testing.assert_array_equal(first[4:18], extra[:14])
    np.testing.assert_array_equal(first[36:], extra[14:])
    np.testing.assert_array_equal(first[18:36], first[:18])
    second = assembler.assemble(['x', 'y', 'z', 'grip'], [5.0, 6.0, 7.0, 8.0], extra)
    np.testing.assert_array_equal(second[18:36], first[:18])
    with pytest.raises(ObservationError, match="joints \\['grip'\\]"):
        assembler.assemble(['x', 'y', 'z'], [1.0, 2.0, 3.0], extra)
    with pytest.raises(ObservationError, match='expects 17'):
        assembler.assemble(['x', 'y', 'z', 'grip'], [1.0] * 4, extra[:3])
    with pytest.raises(DeployConfigError, match='missing \\[36, 37, 38\\]'):
        ObservationAssembler(39, {**mapping, 'extra': {'obs_indices': ['4:18']}})


def test_shaper_clamps_and_rate_limits_and_estop_latch():
    shaper = CommandShaper(np.full(2, -1.0), np.full(2, 1.0), np.full(2, 0.25), velocity=True)
    np.testing.assert_allclose(shaper.shape([5.0, -0.1]), [0.25, -0.1])
    np.testing.assert_allclose(shaper.shape([5.0, -0.1]), [0.5, -0.1])
    np.testing.assert_array_equal(shaper.safe(), [0.0, 0.0])
    np.testing.assert_allclose(shaper.shape([-1.0, 1.0]), [-0.25, 0.25])
    position = CommandShaper(np.full(1, -1.0), np.full(1, 1.0), np.full(1, 0.1), velocity=False)
    assert position.safe() is None
    np.testing.assert_allclose(position.shape([0.7]), [0.7])
    np.testing.assert_allclose(position.safe(), [0.7])
    estop = EStop(timeout_s=0.5, now=0.0)
    assert not estop.heartbeat_lost(0.4) and estop.heartbeat_lost(0.6) and estop.engaged
    assert 'no e-stop message' in estop.rearm(0.7)
    estop.on_message(False, 0.8)
    assert estop.rearm(0.9) == '' and not estop.engaged


def test_deploy_module_imports_without_torch():
    code = ('import sys, lago_ros.nodes.deploy; '
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == '[]'


def launch_commands(policy):
    """Command lines of launch/deploy.launch.xml's nodes, through the pip-only launcher."""
    launch = LaunchFile(ROOT / 'launch' / 'deploy.launch.xml',
                        {'policy': str(policy), 'params': str(ROOT / 'config' / 'deploy.yaml')})
    return [spec.command() for spec in launch.nodes]


def test_deploy_drives_sim_bridge_step_for_step(reach, context):
    agent, path = reach
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
             for cmd in launch_commands(path)]
    node = rclpy.create_node('sim_observer', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    steps, actions = {}, []
    node.create_subscription(VecStep, '/sim_bridge/step', lambda m: steps.setdefault(
        m.step_id, np.asarray(m.observations, np.float32)), 1000)
    node.create_subscription(VecAction, '/sim_bridge/action', actions.append, 1000)
    try:
        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline:
            paired = [a for a in actions if a.step_id - 1 in steps]
            if len(paired) >= 50:
                break
            executor.spin_once(timeout_sec=0.01)
            assert all(p.poll() is None for p in procs), procs[0].stderr.read()
        assert len(paired) >= 50, f'{len(actions)} actions, {len(steps)} steps seen'
        obs = np.stack([steps[a.step_id - 1] for a in paired])
        sent = np.stack([np.asarray(a.actions, np.float32) for a in paired])
        np.testing.assert_allclose(sent, agent.predict(obs), atol=1e-5, rtol=0)
        assert np.ptp(obs[:, :3], axis=0).max() > 1e-3, 'the simulated hand did not move'
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:  # spin_node's EventsExecutor ignores SIGTERM
                p.kill()
                p.wait(timeout=10)
        executor.shutdown()
        node.destroy_node()
