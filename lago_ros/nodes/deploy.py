# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Deploy node: run an exported ONNX policy on a robot (or the sim bridge) with safety guards.

A lifecycle node: `configure` loads the policy and creates the interfaces, `activate` starts
commanding. Inputs (sensor-data QoS): a flat observation array, a JointState plus a flat topic
of task inputs assembled by a YAML mapping, or env 0 of a lago_interfaces/VecStep (reliable,
lockstep with the sim bridge). Outputs (reliable, keep-last 1): one sink per `output_mode`
(`lago_ros.nodes.command_sinks`). The guards live in `lago_ros.control` (ROS-free): the
watchdog, clamping and rate limiting, the latched e-stop (reliable + transient-local, so a
late-started node still sees it) and the lockstep with the simulator.

Every way out of commanding sends the sink's fault command first (zero velocity, hold
position, nothing for the lockstep simulator): deactivate, cleanup, shutdown, destroy (Ctrl-C /
SIGTERM through `spin_node(..., own_signals=True)`), yielding to another publisher and an
exception in the control loop. /diagnostics reports armed, e-stop, stale, watchdog trips and
the last latency. Imports no torch (checked by test/test_deploy_node.py).
"""

import sys
import time
from typing import Any, Callable, Dict, List, Optional

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from lago_interfaces.msg import VecStep
from lago_interfaces.srv import ResetEnvs
import numpy as np
from rclpy.duration import Duration
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, qos_profile_sensor_data, QoSProfile,
                       ReliabilityPolicy)
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float32MultiArray, Float64MultiArray
from std_srvs.srv import Trigger
import yaml

from lago_ros.control.guards import (broadcast, CommandShaper, DeployConfigError, EStop,
                                     ObservationAssembler, Watchdog)
from lago_ros.control.lockstep import Lockstep
from lago_ros.export.onnx_policy import ObservationError, OnnxPolicy
from lago_ros.nodes.codec import first_observation
from lago_ros.nodes.command_sinks import CommandSink, SINKS
from lago_ros.nodes.params import declare_parameters, Param, spin_node

INPUT_MODES = ('flat', 'joint_state', 'vec_step')
OUTPUT_MODES = tuple(SINKS)
TRIGGERS = ('timer', 'observation')
COMMAND_KINDS = ('velocity', 'position')
FLAT_TYPES = {'float32': Float32MultiArray, 'float64': Float64MultiArray}
COMMAND_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.VOLATILE)
ESTOP_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                       reliability=ReliabilityPolicy.RELIABLE,
                       durability=DurabilityPolicy.TRANSIENT_LOCAL)
"""E-stop input: no message lost, and the last one reaches nodes that start later. The e-stop
publisher must use the same (a volatile or best-effort one cannot match; it latches the e-stop)."""
ACK_TIMEOUT = Duration(seconds=0.5)
"""How long the last safe command may wait for its acknowledgement before interfaces go away."""

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
          0.001, 60.0),
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
    Param('action_min', [-1.0], 'lower action limits (one value for all dims, or one per dim)'),
    Param('action_max', [1.0], 'upper action limits (one value for all dims, or one per dim)'),
    Param('max_delta', [2.0], 'largest change of an action per tick (one value or one per dim)'),
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


class DeployNode(LifecycleNode):
    """Runs an exported policy on incoming observations and publishes guarded commands."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, **kwargs: Any) -> None:
        """Declare parameters and start diagnostics; `clock` (seconds) times every guard."""
        super().__init__('deploy', **kwargs)
        self.params = declare_parameters(self, PARAMETERS)
        self.now = clock
        self.policy: Optional[OnnxPolicy] = None
        self.counters = {'observations': 0, 'commands': 0, 'safe_commands': 0,
                         'rejected_observations': 0, 'stale_episodes': 0, 'loop_errors': 0}
        self.last_latency_ms: Optional[float] = None
        """Age of the observation when its command went out, for the last command."""
        self._sink: Optional[CommandSink] = None
        self._entities: List[Any] = []
        self._active = False
        self._diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        if self.params['diagnostics_rate'] > 0:
            self.create_timer(1.0 / self.params['diagnostics_rate'], self.publish_diagnostics)

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
            f'{self._sink.topics}')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Refuse if another node publishes our command topic; else start commanding."""
        others = self._conflicting_topics()
        if others:
            self.get_logger().error(f'refusing to activate: another node publishes {others}; '
                                    'a command topic must have exactly one writer')
            return TransitionCallbackReturn.FAILURE
        if self._shaper is not None:
            self._shaper.reset()
        self._estop.last_message = self.now()
        self._watchdog.restart()
        self._obs = None
        self._reset_future = None
        self._active = True
        self.get_logger().info(f'active; until a first observation: {self._sink.safe_text}')
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Send the fault command, then stop commanding."""
        self._go_quiet('deactivated')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Send the fault command, then release the policy and every interface."""
        self._go_quiet('cleaned up', wait_for_ack=True)
        self._destroy_entities()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Send the fault command, then release everything."""
        self._go_quiet('shutting down', wait_for_ack=True)
        self._destroy_entities()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        """Send the fault command (Ctrl-C, SIGTERM, an error) before the interfaces go away."""
        if self.context.ok():
            self._go_quiet('stopping', wait_for_ack=True)
        super().destroy_node()

    # Set-up -----------------------------------------------------------------------------------

    def _configure(self) -> None:
        p = self.params
        if p['input_mode'] == 'vec_step' and p['trigger'] != 'observation':
            raise DeployConfigError('input_mode vec_step steps in lockstep with the simulator; '
                                    "expected trigger 'observation'")
        self.policy = OnnxPolicy(p['policy_path'], p['onnx_threads'])
        dim = 1 if self.policy.discrete else self.policy.action_dim
        sink = SINKS[p['output_mode']](p, dim, self.policy.discrete,
                                       lambda: self.get_clock().now().to_msg())
        self._shaper = None
        if not self.policy.discrete:
            low = broadcast(p['action_min'], dim, 'action_min')
            high = broadcast(p['action_max'], dim, 'action_max')
            if self.policy.action_low is not None:
                low = np.maximum(low, self.policy.action_low)
                high = np.minimum(high, self.policy.action_high)
            self._shaper = CommandShaper(low, high, broadcast(p['max_delta'], dim, 'max_delta'),
                                         sink.velocity)
        self._assembler = None
        if p['input_mode'] == 'joint_state':
            mapping = yaml.safe_load(p['observation_mapping'] or '') or {}
            if not isinstance(mapping, dict):
                raise DeployConfigError('observation_mapping must be a YAML mapping; see '
                                        'docs/deploy.md')
            self._assembler = ObservationAssembler(self.policy.obs_dim, mapping)
        self._estop = EStop(p['estop_timeout_s'], self.now())
        self._watchdog = Watchdog(p['observation_timeout_s'])
        self._lockstep = Lockstep() if p['input_mode'] == 'vec_step' else None
        self._joint_state: Optional[JointState] = None
        self._extra: Optional[np.ndarray] = None
        self._extra_time = -np.inf
        self._obs: Optional[np.ndarray] = None
        self._obs_time = -np.inf
        self._create_entities(sink)

    def _create_entities(self, sink: CommandSink) -> None:
        p = self.params
        self._sink = sink
        publishers = sink.open(
            lambda msg_type, topic: self.create_publisher(msg_type, topic, COMMAND_QOS))
        flat, sensor = FLAT_TYPES[p['flat_type']], qos_profile_sensor_data
        self._vec_sub = None
        subs = []
        if p['input_mode'] == 'flat':
            subs.append(self.create_subscription(
                flat, p['observation_topic'], lambda m: self._on_observation(m.data), sensor))
        elif p['input_mode'] == 'vec_step':
            # Lockstep with the bridge: a lost VecStep would stall it, so this input is reliable.
            self._vec_sub = self.create_subscription(VecStep, p['observation_topic'],
                                                     self._on_vec_step, COMMAND_QOS)
            subs.append(self._vec_sub)
        else:
            subs += [self.create_subscription(JointState, p['joint_state_topic'],
                                              self._on_joint_state, sensor),
                     self.create_subscription(flat, p['extra_topic'], self._on_extra, sensor)]
        subs.append(self.create_subscription(
            Bool, p['estop_topic'], self._on_estop, ESTOP_QOS,
            event_callbacks=SubscriptionEventCallbacks(incompatible_qos=self._on_estop_qos)))
        self._reset_client, self._reset_future, self._reset_sent = None, None, -np.inf
        if self._lockstep is not None and p['sim_reset_service']:
            self._reset_client = self.create_client(ResetEnvs, p['sim_reset_service'])
        self._entities = [*publishers, self._reset_client, *subs,
                          self.create_service(Trigger, '~/rearm', self._on_rearm),
                          self.create_timer(1.0 / p['rate_hz'], self.tick)]

    def _destroy_entities(self) -> None:
        destroyers = {'Publisher': self.destroy_publisher, 'Subscription':
                      self.destroy_subscription, 'Service': self.destroy_service,
                      'Client': self.destroy_client, 'Timer': self.destroy_timer}
        for entity in self._entities:
            if entity is not None:
                destroyers[type(entity).__name__](entity)
        self._entities, self._sink, self.policy = [], None, None

    def _conflicting_topics(self) -> List[str]:
        """Command topics with a publisher besides ours."""
        return [topic for topic in self._sink.topics if self.count_publishers(topic) > 1]

    # Inputs -----------------------------------------------------------------------------------

    def _on_vec_step(self, msg: VecStep, from_reset: bool = False) -> None:
        if not self._lockstep.accept(msg.step_id, from_reset):
            return  # a copy of the reset step, another sequence, or a reply to an old reset
        if msg.num_envs < 1 or msg.obs_dim != self.policy.obs_dim:
            self._reject(f'VecStep has num_envs={msg.num_envs}, obs_dim={msg.obs_dim}; expected '
                         f'at least 1 env of obs_dim {self.policy.obs_dim}')
            return
        self._on_observation(first_observation(msg))

    def _on_joint_state(self, msg: JointState) -> None:
        if self._extra is None or self.now() - self._extra_time > \
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
        self._extra_time = self.now()

    def _on_observation(self, data: Any) -> None:
        try:
            obs = self.policy.validate(data)
        except ObservationError as err:
            self._reject(str(err))
            return
        self._obs, self._obs_time = obs, self.now()
        self.counters['observations'] += 1
        if self._watchdog.feed(self._obs_time):
            self.get_logger().info('observations are fresh again')
        if self._active and self.params['trigger'] == 'observation' and not self._estop.engaged:
            self._guarded(self._command_from_policy)

    def _reject(self, reason: str) -> None:
        self.counters['rejected_observations'] += 1
        self.get_logger().error(f'observation ignored, no command from it: {reason}',
                                throttle_duration_sec=1.0)

    def _on_estop(self, msg: Bool) -> None:
        if self._estop.on_message(bool(msg.data), self.now()):
            self.get_logger().error(f'e-stop engaged: {self._sink.safe_text} until ~/rearm')
            if self._active:
                self._guarded(self._send_safe)

    def _on_estop_qos(self, info: Any) -> None:
        """Latch: a publisher we cannot hear is an e-stop that does not work."""
        self._estop.engage()
        self.get_logger().error(
            f'a publisher on {self.params["estop_topic"]} offers incompatible QoS (policy '
            f'{info.last_policy_kind}); e-stop publishers must be reliable + transient local. '
            f'E-stop latched: {self._sink.safe_text} until ~/rearm')

    def _on_rearm(self, request: Trigger.Request, response: Trigger.Response
                  ) -> Trigger.Response:
        refusal = self._estop.rearm(self.now())
        response.success, response.message = not refusal, refusal or 're-armed'
        if refusal:
            self.get_logger().warning(f'rearm refused: {refusal}')
        else:
            self.get_logger().info('re-armed: commanding resumes')
        return response

    # Control ----------------------------------------------------------------------------------

    def tick(self) -> None:
        """One control period: yield check, e-stop, watchdog, then the policy (trigger timer)."""
        if self._active:
            self._guarded(self._tick)

    def _tick(self) -> None:
        others = self._conflicting_topics()
        if others:
            self.get_logger().error(f'another node publishes {others}: {self._sink.safe_text} '
                                    'and deactivating')
            self._send_safe()
            self._active = False
            self.trigger_deactivate()
            return
        now = self.now()
        if self._estop.heartbeat_lost(now):
            self.get_logger().error(f'e-stop heartbeat lost: {self._sink.safe_text} until '
                                    '~/rearm')
        if self._estop.engaged:
            self._send_safe()
        elif self._watchdog.stale(now):
            if self._watchdog.check(now):
                self.counters['stale_episodes'] += 1
                reset = ', requesting a simulator reset' if self._reset_client else ''
                self.get_logger().warning(
                    f'no fresh observation for {self._watchdog.timeout_s} s: '
                    f'{self._sink.safe_text}{reset}')
            self._send_safe()
            self._request_sim_reset(now)
        elif self.params['trigger'] == 'timer':
            self._command_from_policy()

    def _guarded(self, step: Callable[[], None]) -> None:
        """Run a control step; on any exception send the fault command and deactivate."""
        try:
            step()
        except Exception as err:  # whatever failed, the arm must not keep the last command
            self.counters['loop_errors'] += 1
            self.get_logger().error(f'control loop failed ({type(err).__name__}: {err}): '
                                    f'{self._sink.safe_text} and deactivating')
            self._send_safe()
            if self._active:
                self._active = False
                self.trigger_deactivate()

    def _request_sim_reset(self, now: float) -> None:
        """vec_step mode, no fresh observation: restart the lockstep with a bridge reset."""
        if self._reset_client is None:
            return
        if self._reset_future is not None and not self._reset_future.done():
            if now - self._reset_sent <= self._watchdog.timeout_s:
                return
            self._reset_client.remove_pending_request(self._reset_future)
        # Both topics must be matched first, or the bridge's answer to our action is lost.
        if not (self._reset_client.service_is_ready()
                and self._vec_sub.get_publisher_count() > 0
                and self._sink.publishers[0].get_subscription_count() > 0):
            return
        self._lockstep.start_reset()
        self._reset_sent = now
        future = self._reset_future = self._reset_client.call_async(ResetEnvs.Request())
        future.add_done_callback(lambda done: self._on_reset_reply(future))

    def _on_reset_reply(self, future: Any) -> None:
        reply = future.result()
        if future is self._reset_future and reply is not None and reply.ok and self._active:
            self._on_vec_step(reply.step, from_reset=True)

    def _command_from_policy(self) -> None:
        action = self.policy.act(self._obs)
        if self._shaper is None:
            command = np.array([float(action[0])])
        else:
            try:
                command = self._shaper.shape(action[0])
            except ValueError as err:  # a non-finite policy output never reaches the arm
                self._reject(str(err))
                self._send_safe()
                return
        self._sink.send(command, self._lockstep.action_id() if self._lockstep else 0)
        self.counters['commands'] += 1
        self.last_latency_ms = (self.now() - self._obs_time) * 1e3

    def _send_safe(self) -> None:
        """Send the fault command: zero, hold, or nothing (discrete policies, lockstep sim)."""
        if self._sink is not None and self._sink.send_safe(
                None if self._shaper is None else self._shaper.safe()):
            self.counters['safe_commands'] += 1

    def _go_quiet(self, reason: str, wait_for_ack: bool = False) -> None:
        """Exit path: send the fault command (waiting for its delivery if asked) and stop."""
        was_active, self._active = self._active, False
        if self._sink is None:
            return
        self._send_safe()
        if wait_for_ack:
            for publisher in self._sink.publishers:
                publisher.wait_for_all_acked(ACK_TIMEOUT)
        if was_active:
            self.get_logger().info(f'{reason}: {self._sink.safe_text}, then no more commands')

    # Diagnostics ------------------------------------------------------------------------------

    def diagnostic_status(self) -> DiagnosticStatus:
        """Lifecycle state, armed, e-stop, stale, watchdog trips, counters and last latency."""
        configured = self._sink is not None
        estop = configured and self._estop.engaged
        stale = configured and self._active and self._watchdog.stale(self.now())
        armed = self._active and not estop
        if estop:
            level, message = DiagnosticStatus.ERROR, 'e-stopped'
        elif not self._active:
            level, message = DiagnosticStatus.WARN, self.lifecycle_state
        elif stale:
            level, message = DiagnosticStatus.WARN, 'stale observations'
        else:
            level, message = DiagnosticStatus.OK, 'armed'
        latency = '-' if self.last_latency_ms is None else f'{self.last_latency_ms:.3f}'
        values: Dict[str, str] = {
            'state': self.lifecycle_state, 'armed': str(armed), 'estop_engaged': str(estop),
            'estop_topic_engaged': str(configured and self._estop.topic_engaged),
            'stale': str(stale), 'watchdog_trips': str(self.counters['stale_episodes']),
            'last_latency_ms': latency, 'output_mode': self.params['output_mode'],
            'policy': self.params['policy_path'],
            **{name: str(count) for name, count in self.counters.items()
               if name != 'stale_episodes'}}
        return DiagnosticStatus(level=level, name=f'{self.get_fully_qualified_name()}: deploy',
                                message=message, hardware_id='lago_deploy',
                                values=[KeyValue(key=k, value=v) for k, v in values.items()])

    def publish_diagnostics(self) -> None:
        """Publish one DiagnosticArray with this node's status."""
        msg = DiagnosticArray(status=[self.diagnostic_status()])
        msg.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics.publish(msg)


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
    """Console script `deploy`: run until Ctrl-C or SIGTERM (safe command first); 2: bad config."""
    return spin_node(make_node, args, own_signals=True)


if __name__ == '__main__':
    sys.exit(main())
