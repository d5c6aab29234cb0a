# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
A stand-in robot arm: Meta-World's simulated Sawyer behind standard ROS topics only.

It lets the topic backend (and anyone mapping their own arm, docs/robot.md) run against
something that behaves like a robot driver, in CI and without hardware. Names are relative, so
`-r __ns:=/arm` moves them all:
- publishes (reliable, keep-last 10) `joint_states` (sensor_msgs/JointState: the Sawyer joints
  and `gripper_opening`, the finger opening 0..1 as Meta-World reports it), `ee_pose`,
  `object_pose` and `goal_pose` (geometry_msgs/PoseStamped in `frame_id`, metres; the object's
  orientation as Meta-World stores it);
- subscribes `cmd_vel` (geometry_msgs/TwistStamped, hand velocity in m/s, as MoveIt Servo takes
  it) and `gripper` (std_msgs/Float64, gripper effort -1 opens .. +1 closes);
- serves `reset` (std_srvs/Trigger): a new episode of the seeded env, published before it
  answers.

A velocity v held for one period 1 / `rate_hz` moves the hand v / rate_hz metres, i.e. the env
action v / (rate_hz * 0.01). `step_mode: timer` behaves like an arm: every period one sim step
with the newest twist (zero once it is older than `command_timeout_s`, like Servo's incoming
command timeout), then the state is published. `step_mode: command` steps like a simulator in
lockstep: one sim step per policy command (a twist and a gripper message), then the state; a
twist alone, the backend's fault command, takes no step.
"""

import sys
import time
from typing import List, Optional

from geometry_msgs.msg import PoseStamped, TwistStamped
import numpy as np
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64
from std_srvs.srv import Trigger

from lago_ros.envs.families import METAWORLD_METRES_PER_UNIT
from lago_ros.nodes.params import declare_parameters, Param, spin_node
from lago_ros.nodes.sim_bridge import VectorEnvBackend

STATE_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
STEP_MODES = ('timer', 'command')
GRIPPER_JOINT = 'gripper_opening'

PARAMETERS = (
    Param('task', 'reach-v3', 'Meta-World task of the simulated arm'),
    Param('seed', 0, 'seed of the env: its first episode is reset(seed), later ones follow'),
    Param('step_mode', 'timer', "'timer': step at rate_hz like an arm; 'command': one step per "
          'policy command (lockstep)', choices=STEP_MODES),
    Param('rate_hz', 20.0, 'sim steps per second (timer) and the period a command stands for',
          0.1, 1000.0),
    Param('command_timeout_s', 0.1, 'timer mode: a twist older than this counts as zero',
          0.001, 60.0),
    Param('frame_id', 'world', 'frame_id of the published poses'),
)


class StandinArm(Node):
    """A Meta-World env stepped on velocity commands, publishing joint states and poses."""

    def __init__(self) -> None:
        """Make the env, reset it with the seed, and open the topics."""
        super().__init__('standin_arm')
        self.params = p = declare_parameters(self, PARAMETERS)
        self.sim = VectorEnvBackend(p['task'], 1, p['seed'])
        self._obs = self.sim.reset(p['seed']).observations[0]
        self._twist = np.zeros(3)
        self._twist_time = -np.inf
        self._gripper = 0.0
        self._new_twist = self._new_gripper = False
        self.steps = 0
        self._joints = self.create_publisher(JointState, 'joint_states', STATE_QOS)
        self._poses = {name: self.create_publisher(PoseStamped, name, STATE_QOS)
                       for name in ('ee_pose', 'object_pose', 'goal_pose')}
        self.create_subscription(TwistStamped, 'cmd_vel', self._on_twist, STATE_QOS)
        self.create_subscription(Float64, 'gripper', self._on_gripper, STATE_QOS)
        self.create_service(Trigger, 'reset', self._on_reset)
        if p['step_mode'] == 'timer':
            self.create_timer(1.0 / p['rate_hz'], self._on_timer)
        self._publish()
        self.get_logger().info(f'stand-in arm ready: {p["task"]} seed {p["seed"]}, '
                               f'{p["step_mode"]} steps at {p["rate_hz"]} Hz')

    def _on_twist(self, msg: TwistStamped) -> None:
        linear = msg.twist.linear
        self._twist = np.array([linear.x, linear.y, linear.z])
        self._twist_time, self._new_twist = time.monotonic(), True
        self._maybe_step_on_command()

    def _on_gripper(self, msg: Float64) -> None:
        self._gripper, self._new_gripper = float(msg.data), True
        self._maybe_step_on_command()

    def _maybe_step_on_command(self) -> None:
        if self.params['step_mode'] == 'command' and self._new_twist and self._new_gripper:
            self._new_twist = self._new_gripper = False
            self._step(self._twist)

    def _on_timer(self) -> None:
        fresh = time.monotonic() - self._twist_time <= self.params['command_timeout_s']
        self._step(self._twist if fresh else np.zeros(3))

    def _step(self, twist: np.ndarray) -> None:
        """One sim step with hand velocity `twist` (m/s) held for one period; publish."""
        xyz = twist / (self.params['rate_hz'] * METAWORLD_METRES_PER_UNIT)
        action = np.append(xyz, self._gripper).astype(np.float32)[None]
        result = self.sim.step(np.clip(action, -1.0, 1.0))
        self.steps += 1
        if result.terminated[0] or result.truncated[0]:
            self.get_logger().warning('the simulated episode hit its own limit; a new one began')
        self._obs = result.observations[0]
        self._publish()

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response
                  ) -> Trigger.Response:
        self._obs = self.sim.reset(None).observations[0]
        self._new_twist = self._new_gripper = False
        self._twist, self._twist_time = np.zeros(3), -np.inf
        self._publish()
        response.success, response.message = True, 'new episode'
        return response

    def _publish(self) -> None:
        stamp = self.get_clock().now().to_msg()
        obs = self._obs.astype(np.float64)
        joints = self.sim.joint_state()
        msg = JointState(name=[*joints.names, GRIPPER_JOINT],
                         position=[*joints.positions, float(obs[3])],
                         velocity=[*joints.velocities, 0.0])
        msg.header.stamp = stamp
        self._joints.publish(msg)
        for name, position, orientation in (('ee_pose', obs[0:3], (0.0, 0.0, 0.0, 1.0)),
                                            ('object_pose', obs[4:7], obs[7:11]),
                                            ('goal_pose', obs[36:39], (0.0, 0.0, 0.0, 1.0))):
            pose = PoseStamped()
            pose.header.stamp, pose.header.frame_id = stamp, self.params['frame_id']
            p, q = pose.pose.position, pose.pose.orientation
            p.x, p.y, p.z = (float(v) for v in position)
            q.x, q.y, q.z, q.w = (float(v) for v in orientation)
            self._poses[name].publish(pose)

    def destroy_node(self) -> None:
        """Close the env with the node."""
        self.sim.close()
        super().destroy_node()


def main(args: Optional[List[str]] = None) -> int:
    """Run the stand-in arm until Ctrl-C (`python -m lago_ros.sim.standin_arm --ros-args ...`)."""
    return spin_node(StandinArm, args)


if __name__ == '__main__':
    sys.exit(main())
