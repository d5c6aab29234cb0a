# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Deploy node: guarded command streams, every exit path, e-stop delivery, diagnostics, outputs.

Timing is deterministic: the node runs on a fake clock and the tests call `tick()` themselves
(the node's own timer is at 0.1 Hz, so it does not fire during a test); they wait on messages
and counters with generous deadlines, never on wall-clock windows.
"""

import itertools
import os
from pathlib import Path
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

rclpy = pytest.importorskip('rclpy')
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402, I100
from geometry_msgs.msg import TwistStamped  # noqa: E402
from lago_interfaces.msg import VecAction, VecStep  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.parameter_client import AsyncParameterClient  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from std_msgs.msg import Bool, Float32MultiArray, Float64, Float64MultiArray  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from test_onnx_export import export_agent, make_agent  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from lago_ros.export.onnx_policy import OnnxPolicy  # noqa: E402
from lago_ros.launcher import LaunchFile  # noqa: E402
from lago_ros.nodes.deploy import DeployNode, ESTOP_QOS  # noqa: E402
from lago_ros.nodes.params import ParameterValueError, READ_ONLY_REASON  # noqa: E402

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parents[1]
SUCCESS = TransitionCallbackReturn.SUCCESS
DEADLINE = 20.0
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


class FakeClock:
    """Seconds that move only when a test says so."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t

    def advance(self, seconds):
        self.t += seconds


class Harness:
    """A deploy node on a fake clock and a peer (observations, e-stop, recorder), one executor."""

    def __init__(self, context, policy_path, command_type=Float64MultiArray, estop_qos=ESTOP_QOS,
                 **params):
        self.ns = f'/deploy_test_{os.getpid()}_{next(_names)}'
        self.clock = FakeClock()
        defaults = {'policy_path': str(policy_path), 'rate_hz': 0.1, 'max_delta': [2.0],
                    'observation_timeout_s': 0.25, 'diagnostics_rate': 0.0}
        self.node = DeployNode(clock=self.clock, context=context, namespace=self.ns,
                               parameter_overrides=[Parameter(k, value=v) for k, v in
                                                    {**defaults, **params}.items()])
        self.peer = rclpy.create_node('peer', namespace=self.ns, context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.peer)
        self.commands = []
        self.peer.create_subscription(command_type, 'commands', self.commands.append, 100)
        self.obs_pub = self.peer.create_publisher(Float32MultiArray, 'observation', 10)
        self.estop_pub = self.peer.create_publisher(Bool, 'estop', estop_qos)
        self.rearm = self.peer.create_client(Trigger, f'{self.ns}/deploy/rearm')

    def sent(self):
        return self.node.counters['commands'] + self.node.counters['safe_commands']

    def start(self, configure=True):
        if configure:
            assert self.node.trigger_configure() == SUCCESS
        assert self.node.trigger_activate() == SUCCESS
        assert self.spin_until(lambda: self.obs_pub.get_subscription_count() > 0
                               and self.node._sink.publishers[0].get_subscription_count() > 0)

    def spin_until(self, predicate, timeout=DEADLINE):
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.01)
        return predicate()

    def settle(self):
        """Wait until the recorder holds every command the node has sent."""
        assert self.spin_until(lambda: len(self.commands) >= self.sent()), \
            f'{self.sent()} commands sent, {len(self.commands)} received'
        return self.commands[-1] if self.commands else None

    def feed(self, obs):
        """Publish one observation and wait until the node took it (and its command arrived)."""
        seen = self.node.counters['observations'] + self.node.counters['rejected_observations']
        self.obs_pub.publish(Float32MultiArray(data=np.asarray(obs).tolist()))
        assert self.spin_until(lambda: self.node.counters['observations']
                               + self.node.counters['rejected_observations'] > seen)
        return self.settle()

    def tick(self, advance=0.0):
        """Advance the clock, run one control period and return the newest command."""
        self.clock.advance(advance)
        self.node.tick()
        return self.settle()

    def last(self):
        return np.asarray(self.settle().data)

    def call_rearm(self):
        assert self.rearm.wait_for_service(timeout_sec=DEADLINE)
        future = self.rearm.call_async(Trigger.Request())
        assert self.spin_until(future.done)
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


ZERO = np.zeros(4)


def test_stale_observations_zero_velocity_commands_once_per_episode(reach, harness):
    _, path = reach
    h = harness(path, trigger='timer')
    h.start()
    obs, expected = observation(), OnnxPolicy(path).act(observation())
    assert np.abs(expected).max() > 0.1
    np.testing.assert_array_equal(h.tick().data, ZERO)  # no observation yet: zero, not a trip
    assert h.node.counters['stale_episodes'] == 0
    for episode in (1, 2):
        h.feed(obs)
        np.testing.assert_allclose(h.tick(0.01).data, expected, atol=1e-6)
        np.testing.assert_allclose(h.tick(0.23).data, expected, atol=1e-6)  # 0.24 s old: fresh
        np.testing.assert_array_equal(h.tick(0.02).data, ZERO)  # 0.26 s old: stale
        np.testing.assert_array_equal(h.tick(1.0).data, ZERO)
        assert h.node.counters['stale_episodes'] == episode


def test_stale_position_commands_hold_the_last_one(reach, harness):
    _, path = reach
    h = harness(path, trigger='timer', command_kind='position')
    h.start()
    assert h.tick() is None  # no command yet: nothing to hold
    h.feed(observation())
    last = np.asarray(h.tick().data)
    held = [np.asarray(h.tick(0.3).data), np.asarray(h.tick(0.3).data)]
    assert all(np.array_equal(v, last) for v in held)
    assert h.node.counters['safe_commands'] == 2


def test_invalid_observations_produce_no_command(reach, harness):
    _, path = reach
    h = harness(path, trigger='observation')
    h.start()
    obs = observation()
    assert np.abs(h.feed(obs).data).max() > 0
    before = len(h.commands)
    for values in (np.full(39, np.nan), np.r_[obs[:-1], np.inf], obs[:38], np.r_[obs, 0.0]):
        h.feed(values)
    assert h.node.counters['rejected_observations'] == 4
    assert len(h.commands) == before, 'an invalid observation produced a command'
    h.feed(obs)
    assert len(h.commands) == before + 1


def test_estop_latches_until_rearmed_and_rearm_is_refused_while_engaged(reach, harness):
    _, path = reach
    h = harness(path, trigger='timer')
    h.start()
    obs, expected = observation(), OnnxPolicy(path).act(observation())
    h.feed(obs)
    np.testing.assert_allclose(h.tick().data, expected, atol=1e-6)
    h.estop_pub.publish(Bool(data=True))
    assert h.spin_until(lambda: h.node.loop.estop.engaged)
    np.testing.assert_array_equal(h.last(), ZERO)  # sent at once, not at the next tick
    h.feed(obs)
    np.testing.assert_array_equal(h.tick().data, ZERO)
    reply = h.call_rearm()
    assert not reply.success and 'still reports engaged' in reply.message
    h.estop_pub.publish(Bool(data=False))
    assert h.spin_until(lambda: not h.node.loop.estop.topic_engaged)
    np.testing.assert_array_equal(h.tick().data, ZERO)  # released, not yet re-armed
    assert h.call_rearm().success
    np.testing.assert_allclose(h.tick().data, expected, atol=1e-6)


def test_a_node_started_after_the_estop_was_engaged_sees_it(reach, harness):
    _, path = reach
    h = harness(path, trigger='observation')
    h.estop_pub.publish(Bool(data=True))  # before the deploy node subscribes at all
    h.start()
    assert h.spin_until(lambda: h.node.loop.estop.engaged)
    h.feed(observation())
    assert h.node.counters['commands'] == 0
    assert 'still reports engaged' in h.call_rearm().message


def test_an_estop_publisher_that_cannot_be_heard_latches_the_estop(reach, harness):
    volatile = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.VOLATILE)
    _, path = reach
    h = harness(path, trigger='observation', estop_qos=volatile)
    h.start()
    assert h.spin_until(lambda: h.node.loop.estop.engaged)
    h.feed(observation())
    assert h.node.counters['commands'] == 0


@pytest.mark.parametrize('kind', ['velocity', 'position'])
@pytest.mark.parametrize('path_name', ['deactivate', 'cleanup', 'shutdown', 'exception'])
def test_every_exit_path_sends_the_safe_command(reach, harness, kind, path_name):
    _, path = reach
    h = harness(path, trigger='observation', command_kind=kind)
    h.start()
    moving = np.asarray(h.feed(observation()).data)
    assert np.abs(moving).max() > 0.1
    safe = ZERO if kind == 'velocity' else moving
    if path_name == 'exception':
        def broken(obs):
            raise RuntimeError('onnxruntime died')

        h.node.loop.policy.act = broken
        h.feed(observation(4))
        assert h.node.counters['loop_errors'] == 1
        assert h.node.lifecycle_state == 'inactive'
    elif path_name == 'cleanup':
        assert h.node.trigger_deactivate() == SUCCESS
        h.settle()
        sent = len(h.commands)
        assert h.node.trigger_cleanup() == SUCCESS
        assert h.spin_until(lambda: len(h.commands) > sent)
    else:
        transition = getattr(h.node, f'trigger_{path_name}')
        assert transition() == SUCCESS
    np.testing.assert_array_equal(h.last(), safe)
    commands = h.node.counters['commands']
    h.obs_pub.publish(Float32MultiArray(data=observation(5).tolist()))
    h.tick(0.01)
    h.spin_until(lambda: False, timeout=0.2)  # gone quiet: no policy command follows
    assert h.node.counters['commands'] == commands
    np.testing.assert_array_equal(h.last(), safe)


def test_yielding_to_another_publisher_sends_the_safe_command_first(reach, harness):
    _, path = reach
    h = harness(path, trigger='timer')
    other = h.peer.create_publisher(Float64MultiArray, 'commands', 10)
    assert h.node.trigger_configure() == SUCCESS
    assert h.spin_until(lambda: h.node.count_publishers(f'{h.ns}/commands') == 2)
    assert h.node.trigger_activate() == TransitionCallbackReturn.FAILURE
    assert h.node.lifecycle_state == 'inactive'
    h.peer.destroy_publisher(other)
    assert h.spin_until(lambda: h.node.count_publishers(f'{h.ns}/commands') == 1)
    h.start(configure=False)
    h.feed(observation())
    assert np.abs(h.tick().data).max() > 0.1
    h.peer.create_publisher(Float64MultiArray, 'commands', 10)
    assert h.spin_until(lambda: h.node.count_publishers(f'{h.ns}/commands') == 2)
    np.testing.assert_array_equal(h.tick().data, ZERO)
    assert h.node.lifecycle_state == 'inactive'
    sent = dict(h.node.counters)
    h.feed(observation())
    h.tick(0.01)
    assert h.node.counters['commands'] == sent['commands']


def deploy_process(ns, policy):
    return subprocess.Popen(
        [sys.executable, '-m', 'lago_ros.nodes.deploy', '--ros-args', '-r', f'__ns:={ns}',
         '-p', f'policy_path:={policy}', '-p', 'autostart:=true', '-p', 'trigger:=observation',
         '-p', 'observation_timeout_s:=30.0', '-p', 'diagnostics_rate:=0.0'],
        cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True)


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_node_with_the_safe_command(reach, context, signum):
    _, path = reach
    ns = f'/deploy_signal_{os.getpid()}_{next(_names)}'
    proc = deploy_process(ns, path)
    node = rclpy.create_node('signal_peer', namespace=ns, context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    commands = []
    node.create_subscription(Float64MultiArray, 'commands',
                             lambda m: commands.append(np.asarray(m.data)), 100)
    obs_pub = node.create_publisher(Float32MultiArray, 'observation', 10)
    try:
        deadline = time.monotonic() + 300.0  # generous: start-up under load
        while not (commands and np.abs(commands[-1]).max() > 0.1) and time.monotonic() < deadline:
            obs_pub.publish(Float32MultiArray(data=observation().tolist()))
            executor.spin_once(timeout_sec=0.05)
            assert proc.poll() is None, proc.stderr.read()
        assert commands and np.abs(commands[-1]).max() > 0.1, 'the node never commanded'
        proc.send_signal(signum)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
        received = len(commands)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and (len(commands) == received or commands[-1].any()):
            executor.spin_once(timeout_sec=0.05)
        np.testing.assert_array_equal(commands[-1], ZERO)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        executor.shutdown()
        node.destroy_node()


def status_values(status):
    return {kv.key: kv.value for kv in status.values}


def test_diagnostics_report_armed_estop_stale_trips_and_latency(reach, harness):
    _, path = reach
    h = harness(path, trigger='timer')
    assert h.node.diagnostic_status().message == 'unconfigured'
    h.start()
    status = h.node.diagnostic_status()
    assert (status.level, status.message) == (DiagnosticStatus.WARN, 'stale observations')
    h.feed(observation())
    h.tick(0.004)
    status = h.node.diagnostic_status()
    values = status_values(status)
    assert (status.level, status.message) == (DiagnosticStatus.OK, 'armed')
    assert values['armed'] == 'True'
    assert float(values['last_latency_ms']) == pytest.approx(4.0)
    h.tick(1.0)
    values = status_values(h.node.diagnostic_status())
    assert (values['stale'], values['watchdog_trips']) == ('True', '1')
    h.estop_pub.publish(Bool(data=True))
    assert h.spin_until(lambda: h.node.loop.estop.engaged)
    status = h.node.diagnostic_status()
    assert (status.level, status.message) == (DiagnosticStatus.ERROR, 'e-stopped')
    assert status_values(status)['armed'] == 'False'
    assert status.name.startswith(f'{h.ns}/deploy') and status.hardware_id == 'lago_deploy'
    received = []
    h.peer.create_subscription(DiagnosticArray, '/diagnostics', lambda m: received.extend(
        s for s in m.status if s.name == status.name), 10)
    assert h.spin_until(lambda: h.node._diagnostics.get_subscription_count() > 0)
    h.node.publish_diagnostics()
    assert h.spin_until(lambda: received) and received[0].message == 'e-stopped'


def test_twist_and_trajectory_outputs(reach, harness):
    _, path = reach
    expected = OnnxPolicy(path).act(observation())
    grippers = []
    h = harness(path, command_type=TwistStamped, output_mode='twist', trigger='observation',
                twist_linear_scale=0.05)
    h.peer.create_subscription(Float64, 'gripper_command', lambda m: grippers.append(m.data), 10)
    h.start()
    twist = h.feed(observation())
    np.testing.assert_allclose([twist.twist.linear.x, twist.twist.linear.y,
                                twist.twist.linear.z], expected[:3] * 0.05, atol=1e-7)
    assert twist.header.frame_id == 'base_link'
    assert h.spin_until(lambda: grippers)
    assert grippers[-1] == pytest.approx(float(expected[3]), abs=1e-7)
    stopped = h.tick(1.0)  # stale: zero twist, the gripper keeps its command
    assert [stopped.twist.linear.x, stopped.twist.linear.y, stopped.twist.linear.z] == [0.0] * 3
    assert len(grippers) == 1

    names = ['j1', 'j2', 'j3', 'j4']
    h = harness(path, command_type=JointTrajectory, output_mode='joint_trajectory',
                trigger='observation', trajectory_joint_names=names, rate_hz=25.0)
    h.start()
    traj = h.feed(observation())
    assert list(traj.joint_names) == names and len(traj.points) == 1
    np.testing.assert_allclose(traj.points[0].positions, expected, atol=1e-6)
    assert traj.points[0].time_from_start.nanosec == 40_000_000


def test_configure_rejects_contradicting_parameters(reach, harness):
    _, path = reach
    for params in ({'output_mode': 'joint_trajectory'}, {'action_min': [0.0, 1.0]},
                   {'policy_path': '/nonexistent.onnx'},
                   {'input_mode': 'joint_state', 'observation_mapping': 'extra: {}'},
                   {'input_mode': 'vec_step', 'trigger': 'timer'}):
        h = harness(params.pop('policy_path', path), **params)
        assert h.node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert h.node.lifecycle_state == 'unconfigured'
    with pytest.raises(ParameterValueError, match="'input_mode' .* 'bogus'; expected one of"):
        harness(path, input_mode='bogus')


def set_remotely(h, **values):
    """`ros2 param set` each value through the node's service; return the results in order."""
    client = AsyncParameterClient(h.peer, f'{h.ns}/deploy')
    assert client.wait_for_services(timeout_sec=DEADLINE)
    future = client.set_parameters([Parameter(k, value=v) for k, v in values.items()])
    assert h.spin_until(future.done)
    return future.result().results


def test_tightened_limits_shape_the_next_command(reach, harness):
    _, path = reach
    h = harness(path, trigger='timer')
    h.start()
    obs, expected = observation(), OnnxPolicy(path).act(observation())
    h.feed(obs)
    np.testing.assert_allclose(h.tick().data, expected, atol=1e-6)
    cap = float(0.5 * np.abs(expected).max())
    assert all(r.successful for r in set_remotely(h, action_max=[cap], action_min=[-cap]))
    np.testing.assert_allclose(h.tick().data, np.clip(expected, -cap, cap), atol=1e-6)
    assert h.node.get_parameter('action_max').value.tolist() == [cap]
    assert set_remotely(h, max_delta=[0.01])[0].successful
    h.feed(-obs)  # another command, at most 0.01 from the last one per action
    step = np.asarray(h.tick().data) - np.clip(expected, -cap, cap)
    assert np.abs(step).max() == pytest.approx(0.01)
    assert set_remotely(h, observation_timeout_s=0.1)[0].successful
    assert np.abs(h.tick(0.09).data).max() > 0  # 0.09 s old: fresh
    np.testing.assert_array_equal(h.tick(0.02).data, ZERO)  # 0.11 s old: stale under 0.1 s


def test_runtime_changes_that_loosen_or_are_malformed_are_refused(reach, harness):
    _, path = reach
    h = harness(path, trigger='timer', action_max=[0.5], max_delta=[1.5])
    h.start()
    h.feed(observation())
    before = np.asarray(h.tick().data)
    for name, value, reason in [
            ('action_max', [0.7], r'would loosen the limit in force at configure \[0.5, '),
            ('action_min', [-1.5], 'would loosen'),
            ('max_delta', [1.6], 'would loosen'),
            ('observation_timeout_s', 0.5, 'would loosen'),
            ('action_max', [float('nan')], r'action_max \[nan\] must be finite'),
            ('action_min', [-0.5, -0.5], 'action_min has 2 values; expected 1 or 4'),
            ('action_min', [0.8], 'inconsistent; expected min <= max'),
            ('max_delta', [0.0], 'max_delta > 0'),
            ('rate_hz', 5.0, 'read-only parameter: rate_hz'),
            ('input_mode', 'vec_step', 'read-only parameter: input_mode')]:
        old = h.node.get_parameter(name).value
        result = set_remotely(h, **{name: value})[0]
        assert not result.successful and '\n' not in result.reason, (name, value)
        assert re.search(reason, result.reason), (name, value, result.reason)
        assert np.array_equal(h.node.get_parameter(name).value, old), (name, value)
        np.testing.assert_allclose(h.tick().data, before, atol=1e-6)
    assert h.node.lifecycle_state == 'active'


def test_unconfigured_limits_are_free_and_become_the_hard_limits_at_configure(reach, harness):
    _, path = reach
    h = harness(path, trigger='timer', action_max=[0.5])
    assert set_remotely(h, action_max=[0.8])[0].successful  # no policy yet: free
    assert not set_remotely(h, max_delta=[-1.0])[0].successful  # still consistent and finite
    h.start()
    assert h.node.loop.shaper.high.tolist() == [0.8] * 4
    result = set_remotely(h, action_max=[0.9])[0]
    assert not result.successful and '[0.8, 0.8, 0.8, 0.8]' in result.reason


def test_descriptors_say_which_parameters_are_tunable_and_why_not(reach, harness):
    _, path = reach
    node = harness(path).node
    tunable = {'action_min', 'action_max', 'max_delta', 'observation_timeout_s'}
    for name in ('policy_path', 'rate_hz', 'output_mode', *sorted(tunable)):
        descriptor = node.describe_parameter(name)
        assert descriptor.read_only == (name not in tunable), name
        text = descriptor.additional_constraints
        assert text.startswith('tunable at runtime: ') if name in tunable else \
            text.endswith(READ_ONLY_REASON), (name, text)


def test_deploy_module_imports_without_torch():
    code = ('import sys, lago_ros.nodes.deploy; '
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == '[]'


def launch_commands(policy, params):
    """Command lines of launch/deploy.launch.xml's nodes, through the pip-only launcher."""
    launch = LaunchFile(ROOT / 'launch' / 'deploy.launch.xml',
                        {'policy': str(policy), 'params': str(params)})
    return [spec.command() for spec in launch.nodes]


def test_deploy_drives_sim_bridge_step_for_step(reach, context, tmp_path):
    """
    The shipped launch and parameter file drive the simulated arm in lockstep.

    Episodes are cut to 25 steps: the test policy pins the hand in a corner of the workspace
    (hand_low) within a few hundred steps, and the observer may only see steps after that (it
    matches the bridge at its own pace), so 50 steps of one long episode can all lie in the
    corner. Short episodes put resets, and so movement, into any 50 consecutive steps.
    """
    agent, path = reach
    params = yaml.safe_load((ROOT / 'config' / 'deploy.yaml').read_text())
    params['sim_bridge']['ros__parameters']['max_episode_steps'] = 25
    (tmp_path / 'deploy.yaml').write_text(yaml.safe_dump(params))
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
             for cmd in launch_commands(path, tmp_path / 'deploy.yaml')]
    node = rclpy.create_node('sim_observer', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    steps, actions = {}, []
    node.create_subscription(VecStep, '/sim_bridge/step', lambda m: steps.setdefault(
        m.step_id, np.asarray(m.observations, np.float32)), 1000)
    node.create_subscription(VecAction, '/sim_bridge/action', actions.append, 1000)
    try:
        # Making a Meta-World env took 78 s on the loaded 2-core machine: wait for the bridge.
        deadline = time.monotonic() + 400.0
        while not node.count_publishers('/sim_bridge/step') and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
            assert all(p.poll() is None for p in procs), procs[0].stderr.read()
        deadline = time.monotonic() + 120.0
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
        assert len({a.step_id for a in paired}) == len(paired), 'two actions for one step'
        assert np.ptp(obs[:, :3], axis=0).max() > 1e-3, 'the simulated hand did not move'
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT)
        logs = []
        for p in procs:
            try:
                logs.append(p.communicate(timeout=20)[1])
            except subprocess.TimeoutExpired:
                p.kill()
                logs.append(p.communicate(timeout=10)[1])
        executor.shutdown()
        node.destroy_node()
    bridge_log, deploy_log = logs
    # A refusal needs a watchdog reset racing an action in flight (a bridge stalled for 1 s).
    assert bridge_log.count('refused action') <= deploy_log.count('no fresh observation'), \
        bridge_log
    assert 'zero/hold' not in deploy_log and 'commanding zero' not in deploy_log, deploy_log
