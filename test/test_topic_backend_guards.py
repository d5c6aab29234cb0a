# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The topic backend's guards against a fake arm in this process.

Idle stop, stale inputs, frames, operator resets, one writer, the fault command on close.

The fake arm answers each policy command (twist and gripper) with one set of state messages
while `responding`; the tests wait on messages with generous deadlines, never on durations.
"""

import threading

import numpy as np
import pytest
import yaml

rclpy = pytest.importorskip('rclpy')
from geometry_msgs.msg import PoseStamped, TwistStamped  # noqa: E402, I100
from node_process import wait_until  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import Float64  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from test_robot_backend_core import _metaworld_like, EXAMPLE  # noqa: E402

from lago_ros.control.robot_config import parse_robot_config, RobotConfigError  # noqa: E402
from lago_ros.nodes.backend_errors import BackendUnavailableError  # noqa: E402
from lago_ros.nodes.topic_backend import TopicBackend  # noqa: E402

pytestmark = pytest.mark.ros
QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
DEADLINE = 120.0
_count = iter(range(1000))


class FakeArm:
    """State topics, a command recorder and a reset service, spun by a thread."""

    def __init__(self, context, ns):
        self.node = rclpy.create_node('fake_arm', namespace=ns, context=context)
        self.obs = _metaworld_like(np.random.default_rng(5))
        self.frame = 'world'
        self.responding = True
        self.twists, self.grippers = [], []
        self.pubs = {name: self.node.create_publisher(PoseStamped, name, QOS)
                     for name in ('ee_pose', 'object_pose', 'goal_pose')}
        self.joints = self.node.create_publisher(JointState, 'joint_states', QOS)
        self.node.create_subscription(TwistStamped, 'cmd_vel', self.twists.append, 100)
        self.node.create_subscription(Float64, 'gripper', self._on_gripper, 100)
        self.node.create_service(Trigger, 'reset', self._on_reset)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _on_gripper(self, msg):
        self.grippers.append(msg.data)
        if self.responding:
            self.obs[0] += 0.001
            self.publish()

    def _on_reset(self, request, response):
        self.publish()
        response.success = True
        return response

    def publish(self):
        obs = self.obs
        self.joints.publish(JointState(name=['gripper_opening'], position=[float(obs[3])]))
        for name, position, quat in (('ee_pose', obs[0:3], (0, 0, 0, 1)),
                                     ('object_pose', obs[4:7], obs[7:11]),
                                     ('goal_pose', obs[36:39], (0, 0, 0, 1))):
            msg = PoseStamped()
            msg.header.frame_id = self.frame
            p, q = msg.pose.position, msg.pose.orientation
            p.x, p.y, p.z = (float(v) for v in position)
            q.x, q.y, q.z, q.w = (float(v) for v in quat)
            self.pubs[name].publish(msg)

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()


@pytest.fixture
def rig():
    """(context, fake arm, config maker) in a fresh namespace."""
    context = rclpy.Context()
    rclpy.init(context=context)
    ns = f'/guards_{next(_count)}'
    arm = FakeArm(context, ns)

    def config(**changes):
        data = yaml.safe_load(EXAMPLE.read_text())
        text = yaml.safe_dump(data).replace('/arm/', f'{ns}/')
        data = yaml.safe_load(text)
        for spec in data['inputs'].values():
            spec['qos'] = 'reliable'
        data.update(observation_timeout_s=1.0, discovery_timeout_s=DEADLINE, time_limit_steps=5,
                    instruction='reach the goal')
        data['command']['command_timeout_s'] = 0.3
        for key, value in changes.items():
            if isinstance(value, dict):
                data[key].update(value)
            else:
                data[key] = value
        return parse_robot_config(data, 'test')

    yield context, arm, config
    arm.close()
    rclpy.shutdown(context=context)


def _backend(context, config):
    return TopicBackend(config, f'backend_{next(_count)}', context=context)


def test_a_stalled_client_gets_the_arm_stopped_and_close_stops_it(rig):
    context, arm, config = rig
    backend = _backend(context, config())
    try:
        first = backend.reset(None)
        assert first.instructions == ['reach the goal']
        result = backend.step(np.ones((1, 4), np.float32))
        assert result.observations[0, 0] == pytest.approx(arm.obs[0], abs=1e-6)
        wait_until(lambda: any(t.twist.linear.x > 0 for t in arm.twists), DEADLINE, 'a command')
        moving = max(i for i, t in enumerate(arm.twists) if t.twist.linear.x > 0)
        # No further action: after command_timeout_s the fault command comes at every tick.
        wait_until(lambda: len(arm.twists) >= moving + 4, DEADLINE, 'zero twists while idle')
        assert all(t.twist.linear.x == 0 for t in arm.twists[moving + 1:])
        arm.twists.clear()
        arm.twists.append(TwistStamped())
        arm.twists[-1].twist.linear.x = 1.0  # a marker: close must send zero after it
    finally:
        backend.close()
    wait_until(lambda: arm.twists[-1].twist.linear.x == 0, DEADLINE, 'zero twist on close')


def test_stale_inputs_refuse_the_step_and_stop_the_arm(rig):
    context, arm, config = rig
    backend = _backend(context, config())
    try:
        backend.reset(None)
        arm.responding = False
        with pytest.raises(BackendUnavailableError, match='no fresh message on') as err:
            backend.step(np.ones((1, 4), np.float32))
        assert 'commanding zero velocity' in str(err.value)
        wait_until(lambda: arm.twists and arm.twists[-1].twist.linear.x == 0, DEADLINE,
                   'a zero twist after the refused step')
        arm.responding, arm.frame = True, 'base_link'
        with pytest.raises(BackendUnavailableError, match="is in frame 'base_link'"):
            backend.step(np.ones((1, 4), np.float32))
    finally:
        backend.close()


def test_time_limit_restarts_the_episode_inside_the_step(rig):
    context, arm, config = rig
    backend = _backend(context, config(time_limit_steps=2))
    try:
        backend.reset(None)
        action = np.zeros((1, 4), np.float32)
        assert not backend.step(action).truncated[0]
        ended = backend.step(action)
        assert ended.truncated[0] and not ended.terminated[0]
        assert ended.final_observations[0, 0] == pytest.approx(arm.obs[0], abs=1e-6)
        assert backend.counters['resets'] == 2
    finally:
        backend.close()


def test_operator_reset_waits_for_the_operator(rig):
    context, arm, config = rig
    backend = _backend(context, config(reset={'mode': 'operator', 'service': ''}))
    client_node = rclpy.create_node('operator', context=context)
    try:
        done = []
        thread = threading.Thread(target=lambda: done.append(backend.reset(None)))
        thread.start()
        client = client_node.create_client(
            Trigger, f'{backend.node.get_fully_qualified_name()}/operator_ready')
        assert client.wait_for_service(timeout_sec=DEADLINE)
        assert not done  # nothing starts before the operator confirms
        future = client.call_async(Trigger.Request())
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(client_node)
        executor.spin_until_future_complete(future, timeout_sec=DEADLINE)
        assert future.done() and future.result().success
        arm.publish()  # the scene after the operator's reset
        thread.join(timeout=DEADLINE)
        assert done and done[0].observations.shape == (1, 39)
    finally:
        client_node.destroy_node()
        backend.close()


def test_a_second_commander_or_a_missing_topic_is_refused(rig):
    context, arm, config = rig
    other = arm.node.create_publisher(TwistStamped, 'cmd_vel', QOS)
    with pytest.raises(RobotConfigError, match='another node publishes .*/cmd_vel'):
        _backend(context, config())
    arm.node.destroy_publisher(other)
    with pytest.raises(RobotConfigError, match=r'missing topic .*/absent \(input goal'):
        cfg = config(discovery_timeout_s=1.0)
        inputs = dict(cfg.inputs)
        inputs['goal'] = type(inputs['goal'])('goal', inputs['goal'].topic.replace(
            'goal_pose', 'absent'), inputs['goal'].type)
        _backend(context, type(cfg)(**{**cfg.__dict__, 'inputs': inputs}))
