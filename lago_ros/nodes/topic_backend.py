# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The bridge's robot backend: one arm (or a ROS simulator) behind standard topics.

`TopicBackend` implements the bridge's `EnvBackend` for one env from a robot config
(`lago_ros.control.robot_config`, config/robot_backend.yaml, docs/robot.md): observations are
assembled from the latest message of each configured input into the task's layout, actions go
out through the deploy node's command sinks with its guards (clamps, rate limit, latched
e-stop), reward and success come from the config's task rule, episodes start through a
std_srvs/Trigger reset service or an operator, and end at the time limit.

Timing: a step sends its command at once, then waits for the next control tick (ticks are
1 / rate_hz apart while the client keeps up; a late client restarts the schedule) and for a
message of every input received after the command, at most `observation_timeout_s` beyond the
tick; the newest messages are the observation. A step that cannot be taken (e-stop engaged,
inputs stale or invalid, reset failed) sends the fault command and raises
`BackendUnavailableError`: the bridge answers nothing, so a trainer handles it as a bridge that
stopped answering. Between steps a control timer sends the fault command at every tick once
no action came for `command_timeout_s` (a stalled client never leaves the arm moving), and while
the e-stop is engaged.

The backend has its own node (`<bridge>_robot`: `~/rearm` and, with operator resets,
`~/operator_ready`, both std_srvs/Trigger) spun by its own thread, so inputs and services are
served while the bridge's executor is inside a step.
"""

import threading
import time
from typing import Any, Callable, List, Optional

from geometry_msgs.msg import PoseStamped
import numpy as np
import rclpy
from rclpy.duration import Duration
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
from rclpy.task import Future
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from lago_ros.control.guards import broadcast, CommandShaper, EStop
from lago_ros.control.robot_config import (JOINT_STATE, POSE_STAMPED, RobotConfig,
                                           RobotConfigError)
from lago_ros.control.state_assembly import (JointSample, LatestInputs, PoseSample,
                                             StateAssembler)
from lago_ros.control.task_rules import make_task_rule, RobotEpisode
from lago_ros.envs.state_view import feature_view
from lago_ros.envs.tasks import get_task
from lago_ros.export.onnx_policy import ObservationError
from lago_ros.nodes.backend_errors import BackendUnavailableError
from lago_ros.nodes.codec import StepResult
from lago_ros.nodes.command_sinks import SINKS
from lago_ros.nodes.deploy import COMMAND_QOS, ESTOP_QOS

MESSAGE_TYPES = {JOINT_STATE: JointState, POSE_STAMPED: PoseStamped}
RELIABLE_INPUT_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
ACK_TIMEOUT_S = 0.5
"""How long closing waits for the last fault command to be acknowledged."""


def pose_sample(msg: PoseStamped) -> PoseSample:
    """Numbers of a PoseStamped."""
    p, q = msg.pose.position, msg.pose.orientation
    return PoseSample(msg.header.frame_id, (p.x, p.y, p.z), (q.x, q.y, q.z, q.w))


def joint_sample(msg: JointState) -> JointSample:
    """Numbers of a JointState."""
    return JointSample(tuple(msg.name), tuple(msg.position), tuple(msg.velocity),
                       tuple(msg.effort))


class TopicBackend:
    """One robot as an EnvBackend: topics in, guarded commands out, a task rule for rewards."""

    action_type = 'continuous'
    num_envs = 1

    def __init__(self, config: RobotConfig, node_name: str = 'robot_backend',
                 namespace: str = '', seed: int = 0, context: Any = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Open every topic, then check the graph against the config (RobotConfigError)."""
        spec = get_task(config.task)
        self.config, self.task, self.now = config, config.task, clock
        self.obs_dim, self.action_dim = spec.obs_dim, spec.action_dim
        self.action_low, self.action_high = -1.0, 1.0
        self.counters = {'steps': 0, 'commands': 0, 'safe_commands': 0, 'overruns': 0,
                         'resets': 0, 'refused_steps': 0}
        self._rule = RobotEpisode(make_task_rule(config.task_function, config.task_options),
                                  config.time_limit_steps, config.terminate_on_success)
        self._assembler = StateAssembler(config)
        self._inputs = LatestInputs(list(config.inputs))
        self._instructions = self._instruction_source(seed)
        self._lock = threading.RLock()
        self._deadline: Optional[float] = None
        self._last_action = -np.inf
        self._operator_ready = threading.Event()
        self._stop = threading.Event()
        self._instruction = ''
        command = config.command
        self._sink = SINKS[command.output_mode](command.sink_params, self.action_dim, False,
                                                self._stamp)
        dim = self.action_dim
        self._shaper = CommandShaper(broadcast(command.action_min, dim, 'command.action_min'),
                                     broadcast(command.action_max, dim, 'command.action_max'),
                                     broadcast(command.max_delta, dim, 'command.max_delta'),
                                     self._sink.velocity)
        self._estop = EStop(config.estop_timeout_s, clock())
        # Not the process's global arguments: a bridge started with `-r __node:=name` would
        # give this node the bridge's name too.
        self.node = rclpy.create_node(node_name, namespace=namespace, context=context,
                                      use_global_arguments=False)
        self._executor = SingleThreadedExecutor(context=self.node.context)
        self._executor.add_node(self.node)
        try:
            self._open()
            self._thread = threading.Thread(target=self._spin, daemon=True,
                                            name=f'{node_name}-executor')
            self._thread.start()
            self._check_graph()
        except BaseException:
            self._shutdown()
            raise
        self.node.get_logger().info(
            f'robot backend for {self.task} at {config.rate_hz} Hz from {config.source}: inputs '
            f'{[s.topic for s in config.inputs.values()]}, commands {self._sink.topics}')

    # Set-up -----------------------------------------------------------------------------------

    def _instruction_source(self, seed: int) -> Callable[[], str]:
        if self.config.instruction:
            return lambda: self.config.instruction
        from lago_ros.envs.instructions import instructions_for

        choices = instructions_for(self.config.task, self.config.split)
        rng = np.random.default_rng(seed)
        return lambda: str(choices[int(rng.integers(len(choices)))])

    def _stamp(self) -> Any:
        return self.node.get_clock().now().to_msg()

    def _open(self) -> None:
        node = self.node
        self._subscriptions = []
        for spec in self.config.inputs.values():
            convert = pose_sample if spec.type == POSE_STAMPED else joint_sample
            qos = qos_profile_sensor_data if spec.qos == 'sensor' else RELIABLE_INPUT_QOS
            self._subscriptions.append(node.create_subscription(
                MESSAGE_TYPES[spec.type], spec.topic,
                lambda msg, name=spec.name, convert=convert: self._inputs.put(
                    name, convert(msg), self.now()), qos))
        self._sink.open(lambda msg_type, topic: node.create_publisher(msg_type, topic,
                                                                      COMMAND_QOS))
        node.create_subscription(
            Bool, self.config.estop_topic, self._on_estop, ESTOP_QOS,
            event_callbacks=SubscriptionEventCallbacks(incompatible_qos=self._on_estop_qos))
        node.create_service(Trigger, '~/rearm', self._on_rearm)
        self._reset_client = None
        if self.config.reset.mode == 'service':
            self._reset_client = node.create_client(Trigger, self.config.reset.service)
        else:
            node.create_service(Trigger, '~/operator_ready', self._on_operator_ready)
        node.create_timer(self.config.period_s, self._tick)

    def _spin(self) -> None:
        try:
            while not self._stop.is_set() and self.node.context.ok():
                self._executor.spin_once(timeout_sec=0.1)
        except ExternalShutdownException:
            pass

    def _check_graph(self) -> None:
        """Refuse missing inputs, wrong message types, a second commander, no reset service."""
        deadline = time.monotonic() + self.config.discovery_timeout_s
        subscriptions = list(zip(self.config.inputs.values(), self._subscriptions,
                                 strict=True))
        while True:
            for spec, sub in subscriptions:
                found = sorted({info.topic_type for info in
                                self.node.get_publishers_info_by_topic(sub.topic_name)})
                if found and spec.ros_type not in found:
                    raise RobotConfigError(
                        f'wrong message type: topic {sub.topic_name} carries {found}; input '
                        f'{spec.name} expects {spec.ros_type}')
            for pub in self._sink.publishers:
                ends = (self.node.get_publishers_info_by_topic(pub.topic_name)
                        + self.node.get_subscriptions_info_by_topic(pub.topic_name))
                wrong = sorted({info.topic_type for info in ends} - {_ros_type(pub)})
                if wrong:
                    raise RobotConfigError(
                        f'wrong message type: command topic {pub.topic_name} carries {wrong}; '
                        f'output_mode {self.config.command.output_mode} publishes '
                        f'{_ros_type(pub)}')
                if self.node.count_publishers(pub.topic_name) > 1:
                    raise RobotConfigError(f'another node publishes {pub.topic_name}; a command '
                                           'topic must have exactly one writer')
            missing = [(spec, sub) for spec, sub in subscriptions
                       if sub.get_publisher_count() == 0]
            reset_ready = self._reset_client is None or self._reset_client.service_is_ready()
            if not missing and reset_ready:
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        if missing:
            spec, sub = missing[0]
            raise RobotConfigError(
                f'missing topic {sub.topic_name} (input {spec.name}, {spec.ros_type}): no '
                f'publisher within {self.config.discovery_timeout_s} s'
                + (f'; {len(missing) - 1} more inputs missing' if len(missing) > 1 else ''))
        raise RobotConfigError(f'missing reset service {self._reset_client.srv_name} '
                               f'(std_srvs/Trigger): not available within '
                               f'{self.config.discovery_timeout_s} s')

    # Safety -----------------------------------------------------------------------------------

    def _send_safe(self) -> None:
        with self._lock:
            if self._stop.is_set():  # closed: the last fault command went out in close()
                return
            if self._sink.send_safe(self._shaper.safe()):
                self.counters['safe_commands'] += 1

    def _tick(self) -> None:
        """Control timer: the fault command while e-stopped or when the client stalled."""
        now = self.now()
        if self._estop.heartbeat_lost(now):
            self.node.get_logger().error('e-stop heartbeat lost: stopping until ~/rearm')
        idle = now - self._last_action > self.config.command.command_timeout_s
        if self._estop.engaged or idle:
            self._send_safe()

    def _on_estop(self, msg: Bool) -> None:
        if self._estop.on_message(bool(msg.data), self.now()):
            self._send_safe()
            self.node.get_logger().error(f'e-stop engaged: {self._sink.safe_text} until '
                                         '~/rearm')

    def _on_estop_qos(self, info: Any) -> None:
        self._estop.engage()
        self._send_safe()
        self.node.get_logger().error(
            f'a publisher on {self.config.estop_topic} offers incompatible QoS; e-stop '
            'publishers must be reliable + transient local. E-stop latched until ~/rearm')

    def _on_rearm(self, request: Trigger.Request, response: Trigger.Response
                  ) -> Trigger.Response:
        refusal = self._estop.rearm(self.now())
        response.success, response.message = not refusal, refusal or 're-armed'
        self.node.get_logger().info(f'rearm: {response.message}')
        return response

    def _on_operator_ready(self, request: Trigger.Request, response: Trigger.Response
                           ) -> Trigger.Response:
        self._operator_ready.set()
        response.success, response.message = True, 'episode starts'
        return response

    def _refuse(self, reason: str) -> BackendUnavailableError:
        """Stop the arm and return the error that refuses this step or reset."""
        self._send_safe()
        self._deadline = None
        self.counters['refused_steps'] += 1
        return BackendUnavailableError(f'{reason}; {self._sink.safe_text}')

    # EnvBackend -------------------------------------------------------------------------------

    def reset(self, seed: Optional[int]) -> StepResult:
        """Stop, reset the scene (service or operator), wait for fresh inputs: the first step."""
        obs = self._start_episode()
        zeros = np.zeros((1, self.obs_dim), np.float32)
        false = np.zeros(1, bool)
        return StepResult(obs[None], zeros, np.zeros(1, np.float32), false, false.copy(),
                          false.copy(), [self._instruction])

    def step(self, actions: np.ndarray) -> StepResult:
        """Command the action, observe at the next tick; an ended episode restarts in here."""
        if self._estop.engaged:
            raise self._refuse('e-stop engaged: call ~/rearm of '
                               f'{self.node.get_fully_qualified_name()} to resume')
        sent = self._command(np.asarray(actions, np.float64).reshape(-1)[:self.action_dim])
        deadline = self._next_deadline(sent)
        time.sleep(max(0.0, deadline - self.now()))
        stale = self._inputs.wait_since(sent, deadline + self.config.observation_timeout_s
                                        - self.now())
        if stale:
            raise self._refuse(self._stale_text(stale, 'after the command'))
        if self._estop.engaged:
            raise self._refuse('e-stop engaged during the step')
        obs, state = self._observe()
        reward, terminated, truncated, success = self._rule.step(state)
        self.counters['steps'] += 1
        final = np.zeros((1, self.obs_dim), np.float32)
        instruction = self._instruction
        if terminated or truncated:
            final[0] = obs
            obs = self._start_episode()
            instruction = self._instruction
        return StepResult(obs[None], final, np.asarray([reward], np.float32),
                          np.asarray([terminated]), np.asarray([truncated]),
                          np.asarray([success]), [instruction])

    def _command(self, action: np.ndarray) -> float:
        """Shape and send `action`; return when it went out."""
        with self._lock:
            command = self._shaper.shape(action)
            sent = self.now()
            self._sink.send(command, 0)
            self._last_action = sent
            self.counters['commands'] += 1
        return sent

    def _next_deadline(self, sent: float) -> float:
        """Return the tick after `sent`: one period after the last while the client keeps up."""
        period = self.config.period_s
        if self._deadline is None or self._deadline + period <= sent:
            if self._deadline is not None:
                self.counters['overruns'] += 1
            self._deadline = sent + period
        else:
            self._deadline += period
        return self._deadline

    def _observe(self) -> Any:
        """Return the observation of the newest samples and its named fields (task rule)."""
        try:
            obs = self._assembler.assemble(self._inputs.snapshot())
        except ObservationError as err:
            raise self._refuse(f'observation refused: {err}') from None
        return obs, feature_view(self.task, obs)

    def _stale_text(self, stale: List[str], when: str) -> str:
        topics = [self.config.inputs[name].topic for name in stale]
        return (f'no fresh message on {topics} within {self.config.observation_timeout_s} s '
                f'{when}')

    def _start_episode(self) -> np.ndarray:
        self._send_safe()
        self._deadline = None
        requested = self.now()
        if self.config.reset.mode == 'service':
            self._call_reset_service()
        else:
            self._wait_for_operator()
        stale = self._inputs.wait_since(requested, self.config.reset.timeout_s)
        if stale:
            raise self._refuse(self._stale_text(stale, 'after the reset'))
        with self._lock:
            self._shaper.reset()
            self._last_action = self.now()  # a reset counts as an action for the idle timer
        self._assembler.start_episode()
        obs, state = self._observe()
        self._rule.start(state)
        self._instruction = self._instructions()
        self.counters['resets'] += 1
        self.node.get_logger().info(f"episode {self.counters['resets']} started; "
                                    f"{self.counters['steps']} steps so far")
        return obs

    def _call_reset_service(self) -> None:
        timeout = self.config.reset.timeout_s
        if not self._reset_client.wait_for_service(timeout_sec=timeout):
            raise self._refuse(f'reset service {self._reset_client.srv_name} is absent')
        done = threading.Event()
        future: Future = self._reset_client.call_async(Trigger.Request())
        future.add_done_callback(lambda _: done.set())
        if not done.wait(timeout):
            self._reset_client.remove_pending_request(future)
            raise self._refuse(f'reset service {self._reset_client.srv_name} did not answer '
                               f'within {timeout} s')
        reply = future.result()
        if reply is None or not reply.success:
            message = '' if reply is None else reply.message
            raise self._refuse(f'reset service {self._reset_client.srv_name} refused: '
                               f'{message}')

    def _wait_for_operator(self) -> None:
        self._operator_ready.clear()
        service = f'{self.node.get_fully_qualified_name()}/operator_ready'
        self.node.get_logger().warning(
            f'operator: reset the scene for a new {self.task} episode, then call {service} '
            '(std_srvs/srv/Trigger)')
        if not self._operator_ready.wait(self.config.reset.timeout_s):
            raise self._refuse(f'no operator confirmation on {service} within '
                               f'{self.config.reset.timeout_s} s')

    def joint_state(self) -> None:
        """None: the robot publishes its own joint states."""
        return None

    def image(self) -> None:
        """None: cameras are the robot's own topics."""
        return None

    def close(self) -> None:
        """Send the fault command (waiting for its acknowledgement), then release the node."""
        if self.node.context.ok():
            self._send_safe()
            for publisher in self._sink.publishers:
                publisher.wait_for_all_acked(Duration(seconds=ACK_TIMEOUT_S))
        with self._lock:
            self._stop.set()
        self._shutdown()

    def _shutdown(self) -> None:
        self._stop.set()
        thread = getattr(self, '_thread', None)
        if thread is not None:
            thread.join(timeout=5.0)
        self._executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()


def _ros_type(publisher: Any) -> str:
    """'pkg/msg/Name' of a publisher's message type."""
    msg_type = publisher.msg_type
    return f'{msg_type.__module__.split(".")[0]}/msg/{msg_type.__name__}'
