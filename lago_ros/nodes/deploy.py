# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Deploy node: run an exported ONNX policy on a robot (or the sim bridge) with safety guards.

A lifecycle node: `configure` loads the policy and creates the interfaces, `activate` starts
commanding. Inputs (sensor-data QoS): a flat observation array, a JointState plus a flat topic
of task inputs assembled by a YAML mapping, or env 0 of a lago_interfaces/VecStep (reliable,
lockstep with the sim bridge). Outputs (reliable, keep-last 1): Float64MultiArray for
forward_command_controller, JointTrajectory, TwistStamped for MoveIt Servo (+ a Float64 gripper
command), or VecAction for the sim bridge.

Guards: an observation watchdog (stale -> zero for velocity commands, hold for positions),
invalid observations (NaN/Inf, wrong size) never produce a command, clamping and per-tick rate
limiting of actions, a latched e-stop re-armed only through ~/rearm, and a refusal to command a
topic that another node also publishes to. Imports no torch: only rclpy, onnxruntime, numpy and
message packages (checked by test/test_deploy_node.py).
"""

import sys
import time
from typing import Any, Dict, List, Optional, Sequence

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import TwistStamped
from lago_interfaces.msg import VecAction, VecStep
from lago_interfaces.srv import ResetEnvs
import numpy as np
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, qos_profile_sensor_data, QoSProfile,
                       ReliabilityPolicy)
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float32MultiArray, Float64, Float64MultiArray
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint
import yaml

from lago_ros.export.onnx_policy import ObservationError, OnnxPolicy
from lago_ros.nodes.params import declare_parameters, Param, spin_node

INPUT_MODES = ('flat', 'joint_state', 'vec_step')
OUTPUT_MODES = ('float64_multi_array', 'joint_trajectory', 'twist', 'vec_action')
TRIGGERS = ('timer', 'observation')
COMMAND_KINDS = ('velocity', 'position')
JOINT_FIELDS = ('position', 'velocity', 'effort')
COMMAND_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.VOLATILE)

PARAMETERS = (
    Param('policy_path', '', 'exported ONNX policy (its .json metadata lies beside it)'),
    Param('input_mode', 'flat', 'where observations come from', constraints=str(INPUT_MODES)),
    Param('output_mode', 'float64_multi_array', 'what commands are published',
          constraints=str(OUTPUT_MODES)),
    Param('trigger', 'timer', "'timer': act at rate_hz on the newest observation; "
          "'observation': act once per incoming observation (lockstep sim, lowest latency)",
          constraints=str(TRIGGERS)),
    Param('rate_hz', 20.0, 'control rate: policy (trigger timer), watchdog and e-stop commands',
          0.1, 1000.0),
    Param('observation_timeout_s', 0.25, 'an observation older than this is stale',
          0.001, 60.0),
    Param('observation_topic', 'observation',
          'flat observations (flat mode) or VecStep messages (vec_step mode)'),
    Param('flat_type', 'float32', 'message type of flat topics: Float32MultiArray or '
          'Float64MultiArray', constraints="'float32' or 'float64'"),
    Param('joint_state_topic', 'joint_states', 'sensor_msgs/JointState (joint_state mode)'),
    Param('extra_topic', 'task_inputs', 'flat object/goal inputs (joint_state mode)'),
    Param('observation_mapping', '', 'YAML mapping from joint_state/extra/previous values to '
          'observation indices (joint_state mode; see docs/deploy.md)'),
    Param('command_topic', 'commands', 'command output topic'),
    Param('command_kind', 'velocity', 'float64_multi_array only: velocity commands go to zero '
          'on faults, position commands hold', constraints=str(COMMAND_KINDS)),
    Param('trajectory_joint_names', [''], 'joint_names of JointTrajectory commands, one per '
          'action'),
    Param('twist_linear_scale', 0.2, 'twist mode: m/s of twist.linear per unit of xyz action',
          0.0, 10.0),
    Param('twist_frame_id', 'base_link', 'twist mode: frame_id of TwistStamped'),
    Param('gripper_topic', 'gripper_command', 'twist mode: std_msgs/Float64 gripper command'),
    Param('action_min', [-1.0], 'lower action limits (one value for all dims, or one per dim)'),
    Param('action_max', [1.0], 'upper action limits (one value for all dims, or one per dim)'),
    Param('max_delta', [2.0], 'largest change of an action per tick (one value or one per dim)'),
    Param('estop_topic', 'estop', 'std_msgs/Bool e-stop input; true latches the e-stop'),
    Param('estop_timeout_s', 0.0, 'engage the e-stop when no e-stop message came for this '
          'long; 0 disables the heartbeat check', 0.0, 60.0),
    Param('sim_reset_service', '', 'vec_step mode: ResetEnvs service called on activation to '
          'get a first observation (e.g. /sim_bridge/reset); empty: none'),
    Param('onnx_threads', 1, 'onnxruntime intra-op threads', 1, 16),
    Param('autostart', False, 'configure and activate on start-up (pip installs have no '
          'launch autostart)'),
)


class DeployConfigError(ValueError):
    """Parameters of the deploy node that contradict each other or the policy."""


def _broadcast(values: Sequence[float], size: int, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.size not in (1, size):
        raise DeployConfigError(f'{name} has {array.size} values; expected 1 or {size}')
    return np.broadcast_to(array, (size,)).copy()


def _indices(items: Any, name: str) -> List[int]:
    """Expand a list of ints and 'start:stop' strings into indices."""
    if items is not None and not isinstance(items, list):
        raise DeployConfigError(f'{name} is {items!r}; expected a list of integers or '
                                '"start:stop" strings')
    out: List[int] = []
    for item in items or []:
        if isinstance(item, str) and ':' in item:
            try:
                start, stop = (int(part) for part in item.split(':'))
            except ValueError:
                raise DeployConfigError(f'{name} holds {item!r}; expected "start:stop" with '
                                        'two integers') from None
            out.extend(range(start, stop))
        elif isinstance(item, int) and not isinstance(item, bool):
            out.append(item)
        else:
            raise DeployConfigError(f'{name} holds {item!r}; expected integers or "start:stop"')
    return out


class ObservationAssembler:
    """
    Build flat observations from a JointState and a flat task-input array (ROS-free).

    `mapping` (parsed YAML) has up to three entries; together their `obs_indices` must cover
    every observation index exactly once:
      joint_state: {names: [...], field: position, obs_indices: [...]}  (one index per name)
      extra: {obs_indices: [...]}  (one per value of the extra message, in order)
      previous: {from_indices: [...], obs_indices: [...]}  (values of the previous observation,
      e.g. Meta-World's previous frame; the first observation copies its own values)
    """

    def __init__(self, obs_dim: int, mapping: Dict[str, Any]) -> None:
        """Parse and check `mapping` against an observation of `obs_dim` values."""
        unknown = set(mapping) - {'joint_state', 'extra', 'previous'}
        if unknown:
            raise DeployConfigError(f'observation_mapping has unknown keys {sorted(unknown)}; '
                                    "expected 'joint_state', 'extra', 'previous'")
        for key, section in mapping.items():
            if not isinstance(section, dict):
                raise DeployConfigError(f'observation_mapping.{key} is {section!r}; expected a '
                                        'mapping (see the class docstring)')
        joints = mapping.get('joint_state') or {}
        self.joint_names = [str(n) for n in joints.get('names', [])]
        self.joint_field = str(joints.get('field', 'position'))
        if self.joint_field not in JOINT_FIELDS:
            raise DeployConfigError(f'joint_state.field is {self.joint_field!r}; expected one '
                                    f'of {JOINT_FIELDS}')
        self.joint_idx = _indices(joints.get('obs_indices'), 'joint_state.obs_indices')
        self.extra_idx = _indices((mapping.get('extra') or {}).get('obs_indices'),
                                  'extra.obs_indices')
        previous = mapping.get('previous') or {}
        self.prev_idx = _indices(previous.get('obs_indices'), 'previous.obs_indices')
        self.prev_from = _indices(previous.get('from_indices'), 'previous.from_indices')
        if len(self.joint_idx) != len(self.joint_names):
            raise DeployConfigError(f'joint_state has {len(self.joint_names)} names but '
                                    f'{len(self.joint_idx)} obs_indices; expected one each')
        if len(self.prev_idx) != len(self.prev_from):
            raise DeployConfigError('previous.obs_indices and previous.from_indices differ in '
                                    'length; expected one source per index')
        used = sorted(self.joint_idx + self.extra_idx + self.prev_idx)
        if used != list(range(obs_dim)) or any(not 0 <= i < obs_dim for i in self.prev_from):
            missing = sorted(set(range(obs_dim)) - set(used))
            raise DeployConfigError(
                f'observation_mapping must fill indices 0..{obs_dim - 1} exactly once; missing '
                f'{missing}, {len(used) - len(set(used))} duplicated')
        self.obs_dim = obs_dim
        self._previous: Optional[np.ndarray] = None

    def assemble(self, names: Sequence[str], values: Sequence[float],
                 extra: Sequence[float]) -> np.ndarray:
        """Return one observation; raise ObservationError for missing joints or a bad extra."""
        if len(extra) != len(self.extra_idx):
            raise ObservationError(f'task inputs have {len(extra)} values; the mapping expects '
                                   f'{len(self.extra_idx)}')
        if len(values) != len(names):
            raise ObservationError(f'JointState has {len(names)} names but {len(values)} '
                                   f'{self.joint_field} values; expected one per name')
        lookup = dict(zip(names, values, strict=True))
        missing = [n for n in self.joint_names if n not in lookup]
        if missing:
            raise ObservationError(f'JointState lacks {self.joint_field} of joints {missing}')
        obs = np.zeros(self.obs_dim, dtype=np.float64)
        obs[self.joint_idx] = [lookup[n] for n in self.joint_names]
        obs[self.extra_idx] = extra
        source = obs if self._previous is None else self._previous
        obs[self.prev_idx] = source[self.prev_from]
        self._previous = obs.copy()
        return obs


class CommandShaper:
    """
    Clamp actions to limits and limit their change per tick (ROS-free).

    Velocity commands start from zero; position commands have no reference before the first one.
    """

    def __init__(self, low: np.ndarray, high: np.ndarray, max_delta: np.ndarray,
                 velocity: bool) -> None:
        """Keep limits (arrays of the action size) and the command kind."""
        if (low > high).any() or (max_delta <= 0).any():
            raise DeployConfigError(f'action limits [{low}, {high}] and max_delta {max_delta} '
                                    'are inconsistent; expected min <= max and max_delta > 0')
        self.low, self.high, self.max_delta, self.velocity = low, high, max_delta, velocity
        self.last: Optional[np.ndarray] = None
        self.reset()

    def reset(self) -> None:
        """Forget the previous command (activation)."""
        self.last = np.zeros_like(self.low) if self.velocity else None

    def shape(self, action: np.ndarray) -> np.ndarray:
        """
        Clamp, rate-limit against the previous command, remember and return it.

        A non-finite action raises ValueError and leaves the remembered command unchanged, so a
        NaN can never reach the controller or poison the rate limiter.
        """
        command = np.asarray(action, dtype=np.float64)
        if command.shape != self.low.shape or not np.isfinite(command).all():
            raise ValueError(f'action {command.tolist()} must be {self.low.shape[0]} finite '
                             'numbers')
        command = np.clip(command, self.low, self.high)
        if self.last is not None:
            command = np.clip(command, self.last - self.max_delta, self.last + self.max_delta)
        self.last = command
        return command

    def safe(self) -> Optional[np.ndarray]:
        """Return the fault command: zero velocity, or the last position (None if none yet)."""
        if self.velocity:
            self.last = np.zeros_like(self.low)
        return None if self.last is None else self.last.copy()


class EStop:
    """A latched e-stop: engaged by a true message or a missed heartbeat, cleared by rearm()."""

    def __init__(self, timeout_s: float, now: float) -> None:
        """`timeout_s` > 0 requires an e-stop message at least that often."""
        self.timeout_s = timeout_s
        self.engaged = False
        self.topic_engaged = False
        self.last_message = now

    def on_message(self, engaged: bool, now: float) -> bool:
        """Record a message; return True if it newly latched the e-stop."""
        self.last_message = now
        self.topic_engaged = engaged
        newly = engaged and not self.engaged
        self.engaged = self.engaged or engaged
        return newly

    def heartbeat_lost(self, now: float) -> bool:
        """Latch on a missed heartbeat; return True if that newly latched the e-stop."""
        if self.timeout_s <= 0 or now - self.last_message <= self.timeout_s or self.engaged:
            return False
        self.engaged = True
        return True

    def rearm(self, now: float) -> str:
        """Clear the latch; return '' on success or why it was refused."""
        if self.topic_engaged:
            return 'the e-stop topic still reports engaged; release it first'
        if self.timeout_s > 0 and now - self.last_message > self.timeout_s:
            return f'no e-stop message for over {self.timeout_s} s; restore the e-stop stream'
        self.engaged = False
        return ''


class DeployNode(LifecycleNode):
    """Runs an exported policy on incoming observations and publishes guarded commands."""

    def __init__(self, **kwargs: Any) -> None:
        """Declare parameters; nothing is loaded before `configure`."""
        super().__init__('deploy', **kwargs)
        self.params = declare_parameters(self, PARAMETERS)
        self.policy: Optional[OnnxPolicy] = None
        self.counters = {'commands': 0, 'safe_commands': 0, 'rejected_observations': 0,
                         'stale_episodes': 0}
        self._entities: List[Any] = []
        self._active = False

    @property
    def lifecycle_state(self) -> str:
        """Label of the current lifecycle state ('unconfigured', 'inactive', 'active', ...)."""
        return self._state_machine.current_state[1]

    # Lifecycle transitions ------------------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the policy, check parameters against it, create publishers and subscriptions."""
        try:
            self._configure()
        except (ValueError, OSError) as err:
            self.get_logger().error(f'configure failed: {err}')
            self._destroy_entities()
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info(
            f'loaded {self.policy.path} ({self.policy.task}, {self.policy.obs_dim} -> '
            f'{self.policy.action_dim} {self.policy.metadata["action_type"]}); input '
            f'{self.params["input_mode"]}, output {self.params["output_mode"]} on '
            f'{self._command_pub.topic_name}')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Refuse if another node publishes our command topic; else start commanding."""
        others = self._conflicting_topics()
        if others:
            self.get_logger().error(f'refusing to activate: another node publishes {others}; '
                                    'a command topic must have exactly one writer')
            return TransitionCallbackReturn.FAILURE
        now = time.monotonic()
        self._shaper.reset()
        self._estop.last_message = now
        self._obs, self._obs_time, self._stale_logged = None, -np.inf, False
        self._active = True
        self._reset_future = None
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop commanding; the last command stays with the controller's own timeout."""
        self._active = False
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release the policy and every interface created in configure."""
        self._destroy_entities()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop and release everything."""
        self._active = False
        self._destroy_entities()
        return TransitionCallbackReturn.SUCCESS

    # Set-up -----------------------------------------------------------------------------------

    def _configure(self) -> None:
        p = self.params
        for name, allowed in (('input_mode', INPUT_MODES), ('output_mode', OUTPUT_MODES),
                              ('trigger', TRIGGERS), ('command_kind', COMMAND_KINDS),
                              ('flat_type', ('float32', 'float64'))):
            if p[name] not in allowed:
                raise DeployConfigError(f'parameter {name} is {p[name]!r}; expected one of '
                                        f'{allowed}')
        self.policy = OnnxPolicy(p['policy_path'], p['onnx_threads'])
        dim = 1 if self.policy.discrete else self.policy.action_dim
        output = p['output_mode']
        if self.policy.discrete and output in ('joint_trajectory', 'twist'):
            raise DeployConfigError(f'output_mode {output} needs continuous actions; '
                                    f'{self.policy.task} has discrete ones')
        if output == 'twist' and dim != 4:
            raise DeployConfigError(f'output_mode twist expects xyz + gripper (4) actions; the '
                                    f'policy has {dim}')
        names = [n for n in p['trajectory_joint_names'] if n]
        if output == 'joint_trajectory' and len(names) != dim:
            raise DeployConfigError(f'trajectory_joint_names has {len(names)} names; expected '
                                    f'{dim} (one per action)')
        velocity = output in ('twist', 'vec_action') or (
            output == 'float64_multi_array' and p['command_kind'] == 'velocity')
        low = _broadcast(p['action_min'], dim, 'action_min')
        high = _broadcast(p['action_max'], dim, 'action_max')
        if self.policy.action_low is not None:
            low = np.maximum(low, self.policy.action_low)
            high = np.minimum(high, self.policy.action_high)
        self._shaper = CommandShaper(low, high, _broadcast(p['max_delta'], dim, 'max_delta'),
                                     velocity)
        self._assembler = None
        if p['input_mode'] == 'joint_state':
            mapping = yaml.safe_load(p['observation_mapping'] or '') or {}
            if not isinstance(mapping, dict):
                raise DeployConfigError('observation_mapping must be a YAML mapping; see '
                                        'docs/deploy.md')
            self._assembler = ObservationAssembler(self.policy.obs_dim, mapping)
        self._estop = EStop(p['estop_timeout_s'], time.monotonic())
        self._period = 1.0 / p['rate_hz']
        self._step_id = 0
        self._joint_state: Optional[JointState] = None
        self._extra: Optional[np.ndarray] = None
        self._extra_time = -np.inf
        self._obs, self._obs_time, self._stale_logged = None, -np.inf, False
        self._create_entities()

    def _create_entities(self) -> None:
        p = self.params
        flat = Float32MultiArray if p['flat_type'] == 'float32' else Float64MultiArray
        sensor = qos_profile_sensor_data
        msg_type = {'float64_multi_array': Float64MultiArray, 'joint_trajectory': JointTrajectory,
                    'twist': TwistStamped, 'vec_action': VecAction}[p['output_mode']]
        self._command_pub = self.create_publisher(msg_type, p['command_topic'], COMMAND_QOS)
        self._gripper_pub = None
        if p['output_mode'] == 'twist':
            self._gripper_pub = self.create_publisher(Float64, p['gripper_topic'], COMMAND_QOS)
        subs = []
        if p['input_mode'] == 'flat':
            subs.append(self.create_subscription(
                flat, p['observation_topic'], lambda m: self._on_observation(m.data), sensor))
        elif p['input_mode'] == 'vec_step':
            # Lockstep with the bridge: a lost VecStep would stall it, so this input is reliable.
            subs.append(self.create_subscription(VecStep, p['observation_topic'],
                                                 self._on_vec_step, COMMAND_QOS))
        else:
            subs += [self.create_subscription(JointState, p['joint_state_topic'],
                                              self._on_joint_state, sensor),
                     self.create_subscription(flat, p['extra_topic'], self._on_extra, sensor)]
        subs.append(self.create_subscription(Bool, p['estop_topic'], self._on_estop, sensor))
        self._reset_client, self._reset_future = None, None
        if p['input_mode'] == 'vec_step' and p['sim_reset_service']:
            self._reset_client = self.create_client(ResetEnvs, p['sim_reset_service'])
        self._entities = [self._command_pub, self._gripper_pub, self._reset_client, *subs,
                          self.create_service(Trigger, '~/rearm', self._on_rearm),
                          self.create_timer(self._period, self._on_tick)]

    def _destroy_entities(self) -> None:
        destroyers = {'Publisher': self.destroy_publisher, 'Subscription':
                      self.destroy_subscription, 'Service': self.destroy_service,
                      'Client': self.destroy_client, 'Timer': self.destroy_timer}
        for entity in self._entities:
            if entity is not None:
                destroyers[type(entity).__name__](entity)
        self._entities = []
        self.policy = None

    def _conflicting_topics(self) -> List[str]:
        """Command topics with a publisher besides ours."""
        pubs = [pub for pub in (self._command_pub, self._gripper_pub) if pub is not None]
        return [pub.topic_name for pub in pubs if self.count_publishers(pub.topic_name) > 1]

    # Inputs -----------------------------------------------------------------------------------

    def _on_vec_step(self, msg: VecStep) -> None:
        if msg.step_id == self._step_id:
            return  # the reset reply and its published copy: act once
        self._step_id = int(msg.step_id)
        if msg.num_envs < 1 or msg.obs_dim != self.policy.obs_dim:
            self._reject(f'VecStep has num_envs={msg.num_envs}, obs_dim={msg.obs_dim}; expected '
                         f'at least 1 env of obs_dim {self.policy.obs_dim}')
            return
        self._on_observation(np.asarray(msg.observations[:msg.obs_dim]))

    def _on_joint_state(self, msg: JointState) -> None:
        if self._extra is None or time.monotonic() - self._extra_time > \
                self.params['observation_timeout_s']:
            return
        values = getattr(msg, self._assembler.joint_field)
        try:
            obs = self._assembler.assemble(msg.name, values, self._extra)
        except ObservationError as err:
            self._reject(str(err))
            return
        self._on_observation(obs)

    def _on_extra(self, msg: Any) -> None:
        self._extra = np.asarray(msg.data, dtype=np.float64)
        self._extra_time = time.monotonic()

    def _on_observation(self, data: Any) -> None:
        try:
            obs = self.policy.validate(data)
        except ObservationError as err:
            self._reject(str(err))
            return
        self._obs, self._obs_time = obs, time.monotonic()
        if self._stale_logged:
            self.get_logger().info('observations are fresh again')
            self._stale_logged = False
        if self._active and self.params['trigger'] == 'observation' and not self._estop.engaged:
            self._command_from_policy()

    def _reject(self, reason: str) -> None:
        self.counters['rejected_observations'] += 1
        self.get_logger().error(f'observation ignored, no command from it: {reason}',
                                throttle_duration_sec=1.0)

    def _on_estop(self, msg: Bool) -> None:
        if self._estop.on_message(bool(msg.data), time.monotonic()):
            self.get_logger().error('e-stop engaged: commanding zero/hold until ~/rearm')

    def _on_rearm(self, request: Trigger.Request, response: Trigger.Response
                  ) -> Trigger.Response:
        refusal = self._estop.rearm(time.monotonic())
        response.success, response.message = not refusal, refusal or 're-armed'
        if refusal:
            self.get_logger().warning(f'rearm refused: {refusal}')
        else:
            self.get_logger().info('re-armed: commanding resumes')
        return response

    # Control ----------------------------------------------------------------------------------

    def _on_tick(self) -> None:
        if not self._active:
            return
        others = self._conflicting_topics()
        if others:
            self.get_logger().error(f'another node publishes {others}: stopped commanding and '
                                    'deactivating')
            self._active = False
            self.trigger_deactivate()
            return
        now = time.monotonic()
        if self._estop.heartbeat_lost(now):
            self.get_logger().error('e-stop heartbeat lost: commanding zero/hold until ~/rearm')
        if self._estop.engaged:
            self._command_safe()
        elif now - self._obs_time > self.params['observation_timeout_s']:
            if not self._stale_logged:
                self.counters['stale_episodes'] += 1
                self.get_logger().warning(
                    f'no fresh observation for {self.params["observation_timeout_s"]} s: '
                    'commanding zero/hold')
                self._stale_logged = True
            self._command_safe()
            self._request_sim_reset()
        elif self.params['trigger'] == 'timer':
            self._command_from_policy()

    def _request_sim_reset(self) -> None:
        """vec_step mode, no fresh observation: restart the lockstep with a bridge reset."""
        if self._reset_client is None or \
                (self._reset_future is not None and not self._reset_future.done()):
            return
        if self._reset_client.service_is_ready():
            self._reset_future = self._reset_client.call_async(ResetEnvs.Request())
            self._reset_future.add_done_callback(
                lambda future: future.result() and self._on_vec_step(future.result().step))

    def _command_from_policy(self) -> None:
        action = self.policy.act(self._obs)
        if self.policy.discrete:
            self._publish(np.array([float(action[0])]), self._step_id + 1, gripper=True)
        else:
            try:
                command = self._shaper.shape(action[0])
            except ValueError as err:  # a non-finite policy output never reaches the arm
                self._reject(str(err))
                self._command_safe()
                return
            self._publish(command, self._step_id + 1, gripper=True)
        self.counters['commands'] += 1

    def _command_safe(self) -> None:
        """Zero or hold; nothing for discrete policies or the lockstep sim (no action: no move)."""
        if self.policy.discrete or self.params['output_mode'] == 'vec_action':
            return
        command = self._shaper.safe()
        if command is not None:
            self._publish(command, 0, gripper=False)
            self.counters['safe_commands'] += 1

    def _publish(self, command: np.ndarray, step_id: int, gripper: bool) -> None:
        """Send `command` in the output mode's message; the gripper only for policy actions."""
        mode, values = self.params['output_mode'], command.astype(float).tolist()
        if mode == 'float64_multi_array':
            msg = Float64MultiArray(data=values)
        elif mode == 'joint_trajectory':
            sec = int(self._period)
            msg = JointTrajectory(joint_names=list(self.params['trajectory_joint_names']))
            msg.points = [JointTrajectoryPoint(positions=values, time_from_start=Duration(
                sec=sec, nanosec=int(round((self._period - sec) * 1e9))))]
        elif mode == 'twist':
            msg = TwistStamped()
            msg.header.stamp = self.get_clock().now().to_msg()
            msg.header.frame_id = self.params['twist_frame_id']
            scale = self.params['twist_linear_scale']
            msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z = \
                (v * scale for v in values[:3])
            if gripper:
                self._gripper_pub.publish(Float64(data=values[3]))
        else:
            msg = VecAction(step_id=step_id, num_envs=1, action_dim=len(values),
                            actions=values)
            msg.header.stamp = self.get_clock().now().to_msg()
        self._command_pub.publish(msg)


def make_node() -> DeployNode:
    """Build the node and, with autostart, configure and activate it."""
    node = DeployNode()
    if node.params['autostart']:
        for transition in (node.trigger_configure, node.trigger_activate):
            if transition() != TransitionCallbackReturn.SUCCESS:
                raise DeployConfigError(f'autostart: {transition.__name__} failed (see the '
                                        'error above)')
    return node


def main(args: Optional[List[str]] = None) -> int:
    """Console script `deploy`: run the node until Ctrl-C; exit 2 on a configuration error."""
    return spin_node(make_node, args)


if __name__ == '__main__':
    sys.exit(main())
