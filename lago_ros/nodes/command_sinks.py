# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Command outputs of the deploy node: one small class per `output_mode`, chosen once at configure.

A sink checks the parameters it needs against the policy, knows its message types and topics,
turns a shaped command into messages, and knows its fault command: zero velocity, hold the last
position, or (the lockstep simulator) nothing, because the simulator does not move without an
action. The node hands it a publisher factory (`open`) and a stamp function, so this module
imports message types but never rclpy.
"""

from typing import Any, Callable, Dict, List, Type

from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import TwistStamped
from lago_interfaces.msg import VecAction
import numpy as np
from std_msgs.msg import Float64, Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from lago_ros.control.guards import DeployConfigError
from lago_ros.nodes.codec import encode_vec_action

MakePublisher = Callable[[Type, str], Any]
"""(message type, topic) -> an object with `publish(msg)` (an rclpy Publisher in the node)."""


class CommandSink:
    """Base class: publishes commands of one output kind; subclasses fill in the message."""

    mode = ''
    """The `output_mode` value that selects this sink."""
    velocity = True
    """True: the fault command is zero; False: hold the last command (positions)."""
    continuous_only = False
    """True when discrete (index) actions make no sense for this output."""
    sends_fault = True
    """False: the fault command is to send nothing (the lockstep simulator)."""

    def __init__(self, params: Dict[str, Any], action_dim: int, discrete: bool,
                 stamp: Callable[[], Time]) -> None:
        """Check the parameters against the policy's actions (DeployConfigError if unfit)."""
        self.params, self.action_dim, self.stamp = params, action_dim, stamp
        self.publishers: List[Any] = []
        if discrete and self.continuous_only:
            raise DeployConfigError(f'output_mode {self.mode} needs continuous actions; the '
                                    'policy has discrete ones')
        self.check()

    def open(self, make_publisher: MakePublisher) -> List[Any]:  # noqa: A003 (a sink opens)
        """Create and return the publishers (the command topic's first)."""
        self.publishers = [make_publisher(self.message_type(), self.params['command_topic'])]
        return self.publishers

    def message_type(self) -> Type:
        """Message type published on `command_topic`."""
        raise NotImplementedError

    def check(self) -> None:
        """Raise DeployConfigError for parameters this output cannot serve."""

    def message(self, values: List[float], step_id: int) -> Any:
        """Return the command message for `values`."""
        raise NotImplementedError

    @property
    def topics(self) -> List[str]:
        """Every topic this sink writes (each must have no other publisher)."""
        return [pub.topic_name for pub in self.publishers]

    @property
    def safe_text(self) -> str:
        """What the fault command does, for logs."""
        return 'commanding zero velocity' if self.velocity else 'holding the last position'

    def send(self, command: np.ndarray, step_id: int) -> None:
        """Publish a policy command (the step id matters to the lockstep simulator only)."""
        self.publishers[0].publish(self.message(command.astype(float).tolist(), step_id))

    def send_safe(self, command: np.ndarray) -> None:
        """Publish the fault command (zero velocity, the held position) on the command topic."""
        self.publishers[0].publish(self.message(command.astype(float).tolist(), 0))


class Float64ArraySink(CommandSink):
    """std_msgs/Float64MultiArray for forward_command_controller; `command_kind` decides."""

    mode = 'float64_multi_array'

    def __init__(self, params: Dict[str, Any], *args: Any) -> None:
        """Zero velocity commands on faults, hold position commands."""
        self.velocity = params['command_kind'] == 'velocity'
        super().__init__(params, *args)

    def message_type(self) -> Type:
        """Float64MultiArray."""
        return Float64MultiArray

    def message(self, values: List[float], step_id: int) -> Float64MultiArray:
        """Return the values as they are."""
        return Float64MultiArray(data=values)


class JointTrajectorySink(CommandSink):
    """trajectory_msgs/JointTrajectory, one point one control period ahead (positions)."""

    mode = 'joint_trajectory'
    velocity = False
    continuous_only = True

    def message_type(self) -> Type:
        """JointTrajectory."""
        return JointTrajectory

    def check(self) -> None:
        """Require one joint name per action."""
        names = [n for n in self.params['trajectory_joint_names'] if n]
        if len(names) != self.action_dim:
            raise DeployConfigError(f'trajectory_joint_names has {len(names)} names; expected '
                                    f'{self.action_dim} (one per action)')

    def message(self, values: List[float], step_id: int) -> JointTrajectory:
        """Return one point at time_from_start = 1 / rate_hz."""
        period = 1.0 / self.params['rate_hz']
        sec = int(period)
        msg = JointTrajectory(joint_names=list(self.params['trajectory_joint_names']))
        msg.points = [JointTrajectoryPoint(positions=values, time_from_start=Duration(
            sec=sec, nanosec=int(round((period - sec) * 1e9))))]
        return msg


class TwistSink(CommandSink):
    """geometry_msgs/TwistStamped for MoveIt Servo plus a std_msgs/Float64 gripper command."""

    mode = 'twist'
    continuous_only = True

    def open(self, make_publisher: MakePublisher) -> List[Any]:  # noqa: A003 (a sink opens)
        """Create the command and gripper publishers."""
        super().open(make_publisher)
        self.publishers.append(make_publisher(Float64, self.params['gripper_topic']))
        return self.publishers

    def message_type(self) -> Type:
        """TwistStamped."""
        return TwistStamped

    def check(self) -> None:
        """Require Meta-World's xyz + gripper layout."""
        if self.action_dim != 4:
            raise DeployConfigError(f'output_mode twist expects xyz + gripper (4) actions; the '
                                    f'policy has {self.action_dim}')

    def message(self, values: List[float], step_id: int) -> TwistStamped:
        """Return linear = xyz * twist_linear_scale in twist_frame_id."""
        msg = TwistStamped()
        msg.header.stamp = self.stamp()
        msg.header.frame_id = self.params['twist_frame_id']
        scale = self.params['twist_linear_scale']
        msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z = (v * scale
                                                                      for v in values[:3])
        return msg

    def send(self, command: np.ndarray, step_id: int) -> None:
        """Send the twist, then the gripper (a fault command leaves the gripper as it is)."""
        super().send(command, step_id)
        self.publishers[1].publish(Float64(data=float(command[3])))


class VecActionSink(CommandSink):
    """lago_interfaces/VecAction for the lockstep sim bridge; no fault command (it would step)."""

    mode = 'vec_action'
    sends_fault = False

    def message_type(self) -> Type:
        """VecAction."""
        return VecAction

    @property
    def safe_text(self) -> str:
        """Say that the simulator stands still without an action."""
        return 'sending no action (the simulator waits for one)'

    def message(self, values: List[float], step_id: int) -> VecAction:
        """Return one env's action with the lockstep's step id."""
        msg = encode_vec_action(np.asarray([values], np.float32), step_id)
        msg.header.stamp = self.stamp()
        return msg


SINKS: Dict[str, Type[CommandSink]] = {sink.mode: sink for sink in (
    Float64ArraySink, JointTrajectorySink, TwistSink, VecActionSink)}
"""Sink class per `output_mode`."""


def make_sink(params: Dict[str, Any], policy: Any, stamp: Callable[[], Time]) -> CommandSink:
    """Return the sink of `params['output_mode']`, checked against the policy's actions."""
    size = 1 if policy.discrete else policy.action_dim
    return SINKS[params['output_mode']](params, size, policy.discrete, stamp)
