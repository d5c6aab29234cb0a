# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
What the deploy node's interfaces are set up with: its parameter table, message types and QoS.

`PARAMETERS` has one row per parameter with its default, description and allowed values;
`nodes.params.declare_parameters` turns the rows into ParameterDescriptors and refuses values
outside them at start-up, and `python -m lago_ros.nodes.param_docs lago_ros.nodes.deploy DOC`
writes the table of docs/deploy.md from them. The rows marked `tunable` (action limits, rate
limit, observation timeout) may be tightened at runtime (`DeployLoop.tune` checks a change);
every other row is read once at start-up.
"""

from rclpy.duration import Duration
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Float32MultiArray, Float64MultiArray

from lago_ros.nodes.command_sinks import SINKS
from lago_ros.nodes.params import Param

INPUT_MODES = ('flat', 'joint_state', 'vec_step')
OUTPUT_MODES = tuple(SINKS)
TRIGGERS = ('timer', 'observation')
COMMAND_KINDS = ('velocity', 'position')
FLAT_TYPES = {'float32': Float32MultiArray, 'float64': Float64MultiArray}
"""Message type of flat topics per `flat_type`."""

COMMAND_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.VOLATILE)
"""Command outputs (and the lockstep VecStep input): reliable, keep-last 1."""
ESTOP_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                       reliability=ReliabilityPolicy.RELIABLE,
                       durability=DurabilityPolicy.TRANSIENT_LOCAL)
"""E-stop input: no message lost, and the last one reaches nodes that start later. The e-stop
publisher must use the same (a volatile or best-effort one cannot match; it latches the e-stop)."""
ACK_TIMEOUT = Duration(seconds=0.5)
"""How long the last safe command may wait for its acknowledgement before interfaces go away."""

TIGHTEN = 'its value at configure is the hard limit (unconfigured: free, read at configure)'
"""What bounds a tighten-only parameter at runtime, as its descriptor says."""

PARAMETERS = (
    Param('policy_path', '', 'exported ONNX policy (its .json metadata lies beside it)'),
    Param('input_mode', 'flat', 'where observations come from', choices=INPUT_MODES),
    Param('output_mode', 'float64_multi_array', 'what commands are published',
          choices=OUTPUT_MODES),
    Param('trigger', 'timer', "'timer': act at rate_hz on the newest observation; "
          "'observation': act once per incoming observation (lockstep sim, lowest latency)",
          choices=TRIGGERS),
    Param('rate_hz', 20.0, 'control rate: policy (trigger timer), watchdog and e-stop commands',
          0.1, 1000.0),
    Param('observation_timeout_s', 0.25, 'an observation older than this is stale',
          0.001, 60.0, tunable=f'lower only; {TIGHTEN}; the next tick uses it'),
    Param('observation_topic', 'observation',
          'flat observations (flat mode) or VecStep messages (vec_step mode)'),
    Param('flat_type', 'float32', 'message type of flat topics: Float32MultiArray or '
          'Float64MultiArray', choices=tuple(FLAT_TYPES)),
    Param('joint_state_topic', 'joint_states', 'sensor_msgs/JointState (joint_state mode)'),
    Param('extra_topic', 'task_inputs', 'flat object/goal inputs (joint_state mode)'),
    Param('observation_mapping', '', 'YAML mapping from joint_state/extra/previous values to '
          'observation indices (joint_state mode; see docs/deploy.md)'),
    Param('command_topic', 'commands', 'command output topic'),
    Param('command_kind', 'velocity', 'float64_multi_array only: velocity commands go to zero '
          'on faults, position commands hold', choices=COMMAND_KINDS),
    Param('trajectory_joint_names', [''], 'joint_names of JointTrajectory commands, one per '
          'action'),
    Param('twist_linear_scale', 0.2, 'twist mode: m/s of twist.linear per unit of xyz action',
          0.0, 10.0),
    Param('twist_frame_id', 'base_link', 'twist mode: frame_id of TwistStamped'),
    Param('gripper_topic', 'gripper_command', 'twist mode: std_msgs/Float64 gripper command'),
    Param('action_min', [-1.0], 'lower action limits (one value for all dims, or one per dim)',
          tunable=f'raise only, <= action_max; {TIGHTEN}; the next tick clamps to it'),
    Param('action_max', [1.0], 'upper action limits (one value for all dims, or one per dim)',
          tunable=f'lower only, >= action_min; {TIGHTEN}; the next tick clamps to it'),
    Param('max_delta', [2.0], 'largest change of an action per tick (one value or one per dim)',
          tunable=f'lower only, > 0; {TIGHTEN}; the next tick uses it'),
    Param('estop_topic', 'estop', 'std_msgs/Bool e-stop input (reliable, transient local); '
          'true latches the e-stop'),
    Param('estop_timeout_s', 0.0, 'engage the e-stop when no e-stop message came for this '
          'long; 0 disables the heartbeat check', 0.0, 60.0),
    Param('sim_reset_service', '', 'vec_step mode: ResetEnvs service called on activation to '
          'get a first observation (e.g. /sim_bridge/reset); empty: none'),
    Param('onnx_threads', 1, 'onnxruntime intra-op threads', 1, 16),
    Param('diagnostics_rate', 1.0, 'Hz of /diagnostics messages; 0 disables', 0.0, 100.0),
    Param('autostart', False, 'configure and activate on start-up (pip installs have no '
          'launch autostart)'),
)
"""The deploy node's parameters, declared in this order (docs/deploy.md lists them)."""
