# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Deploy node: run an exported ONNX policy on a robot (or the sim bridge) with safety guards.

A thin lifecycle node: it wires its parameters (`deploy_params`), topics, timers and services to
the ROS-free `lago_ros.control.deploy_loop.DeployLoop`, which decides when to act, what to
command and what to report, and publishes what the loop decides through the sink of its
`output_mode` (`command_sinks`). Every way out of commanding sends the fault command first
(deactivate, cleanup, shutdown, Ctrl-C / SIGTERM via `spin_node(..., own_signals=True)`,
yielding, an exception in the loop). The action limits, max_delta and observation_timeout_s
may be tightened at runtime (`ros2 param set`; `DeployLoop.tune` accepts or refuses with a
reason); every other parameter is read-only. Imports no torch. See docs/deploy.md.
"""

import sys
import time
from typing import Any, Callable, Dict, List, Optional

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from lago_interfaces.msg import VecStep
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from lago_ros.control.deploy_loop import Decision, DeployLoop
from lago_ros.control.guards import DeployConfigError
from lago_ros.export.onnx_policy import OnnxPolicy
from lago_ros.nodes.codec import first_observation
from lago_ros.nodes.command_sinks import CommandSink, make_sink
from lago_ros.nodes.deploy_params import (ACK_TIMEOUT, COMMAND_QOS, ESTOP_QOS, FLAT_TYPES,
                                          PARAMETERS)
from lago_ros.nodes.params import declare_parameters, on_runtime_change, spin_node
from lago_ros.nodes.sim_reset import SimReset


class DeployNode(LifecycleNode):
    """Wires a DeployLoop to topics, timers and services and publishes what it decides."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, **kwargs: Any) -> None:
        """Declare parameters and start diagnostics; `clock` (seconds) times every decision."""
        super().__init__('deploy', **kwargs)
        self.params = declare_parameters(self, PARAMETERS)
        self.loop = DeployLoop(self.params, clock)
        on_runtime_change(self, PARAMETERS, self._tune)
        self._sink: Optional[CommandSink] = None
        self._entities: List[Any] = []
        self._reset: Optional[SimReset] = None
        self._diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        if self.params['diagnostics_rate'] > 0:
            self.create_timer(1.0 / self.params['diagnostics_rate'], self.publish_diagnostics)

    @property
    def counters(self) -> Dict[str, int]:
        """The loop's counts (observations, commands, safe_commands, ...), as on /diagnostics."""
        return self.loop.counters

    @property
    def lifecycle_state(self) -> str:
        """Label of the current lifecycle state ('unconfigured', 'inactive', 'active', ...)."""
        return self._state_machine.current_state[1]

    # Lifecycle transitions ------------------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the policy, check parameters against it, create publishers and subscriptions."""
        p = self.params
        try:
            policy = OnnxPolicy(p['policy_path'], p['onnx_threads'])
            sink = make_sink(p, policy, lambda: self.get_clock().now().to_msg())
            self.loop.configure(policy, sink)
            self._create_entities(sink)
        except (ValueError, OSError) as err:
            self.get_logger().error(f'configure failed: {err}')
            self._destroy_entities()
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info(
            f'loaded {policy.path} ({policy.task}, {policy.obs_dim} -> {policy.action_dim} '
            f'{policy.metadata["action_type"]}); input {p["input_mode"]}, output '
            f'{p["output_mode"]} on {sink.topics}')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start commanding, unless another node publishes our command topic."""
        self._apply(self.loop.activate(self._conflicting_topics()))
        if not self.loop.active:
            return TransitionCallbackReturn.FAILURE
        if self._reset is not None:
            self._reset.forget()
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Send the fault command, then stop commanding."""
        self._go_quiet('deactivated')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Send the fault command, then release the policy and every interface."""
        return self._close('cleaned up')

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Send the fault command, then release everything."""
        return self._close('shutting down')

    def destroy_node(self) -> None:
        """Send the fault command (Ctrl-C, SIGTERM, an error) before the interfaces go away."""
        if self.context.ok():
            self._go_quiet('stopping', wait_for_ack=True)
        super().destroy_node()

    def _go_quiet(self, reason: str, wait_for_ack: bool = False) -> None:
        """Exit path: send the fault command (waiting for its delivery if asked) and stop."""
        self._apply(self.loop.stop(reason))
        if wait_for_ack and self._sink is not None:
            for publisher in self._sink.publishers:
                publisher.wait_for_all_acked(ACK_TIMEOUT)

    def _close(self, reason: str) -> TransitionCallbackReturn:
        self._go_quiet(reason, wait_for_ack=True)
        self._destroy_entities()
        return TransitionCallbackReturn.SUCCESS

    # Interfaces -------------------------------------------------------------------------------

    def _create_entities(self, sink: CommandSink) -> None:
        p, loop, sensor = self.params, self.loop, qos_profile_sensor_data
        self._sink = sink
        publishers = sink.open(
            lambda msg_type, topic: self.create_publisher(msg_type, topic, COMMAND_QOS))
        flat, subscribe, run = FLAT_TYPES[p['flat_type']], self.create_subscription, self._run
        inputs = {  # VecStep: lockstep with the bridge, a lost one would stall it, so reliable
            'flat': [(flat, 'observation_topic', lambda m: run(loop.observe, m.data), sensor)],
            'vec_step': [(VecStep, 'observation_topic', self._on_vec_step, COMMAND_QOS)],
            'joint_state': [
                (JointState, 'joint_state_topic', lambda m: run(loop.observe_joints, m), sensor),
                (flat, 'extra_topic', lambda m: loop.observe_extra(m.data), sensor)]}
        subs = [subscribe(kind, p[topic], callback, qos)
                for kind, topic, callback, qos in inputs[p['input_mode']]]
        unheard = SubscriptionEventCallbacks(
            incompatible_qos=lambda info: run(loop.estop_unheard, info.last_policy_kind))
        subs.append(subscribe(Bool, p['estop_topic'], lambda m: run(loop.estop_message, m.data),
                              ESTOP_QOS, event_callbacks=unheard))
        self._reset = SimReset(self, p['sim_reset_service'], loop, subs[0], publishers[0],
                               lambda step: self._on_vec_step(step, from_reset=True)
                               ) if loop.resets else None
        self._entities = [*publishers, self._reset and self._reset.client, *subs,
                          self.create_service(Trigger, '~/rearm', self._on_rearm),
                          self.create_timer(1.0 / p['rate_hz'], self.tick)]

    def _destroy_entities(self) -> None:
        destroyers = {'Publisher': self.destroy_publisher, 'Subscription':
                      self.destroy_subscription, 'Service': self.destroy_service,
                      'Client': self.destroy_client, 'Timer': self.destroy_timer}
        for entity in self._entities:
            if entity is not None:
                destroyers[type(entity).__name__](entity)
        self._entities, self._sink = [], None
        self.loop.release()

    def _conflicting_topics(self) -> List[str]:
        """Command topics with a publisher besides ours."""
        return [topic for topic in self._sink.topics if self.count_publishers(topic) > 1]

    def _on_vec_step(self, msg: VecStep, from_reset: bool = False) -> None:
        self._run(self.loop.observe_step, msg.step_id, msg.num_envs, msg.obs_dim,
                  first_observation(msg), from_reset)

    def _on_rearm(self, request: Trigger.Request, response: Trigger.Response
                  ) -> Trigger.Response:
        refusal, decision = self.loop.rearm()
        self._apply(decision)
        response.success, response.message = not refusal, refusal or 're-armed'
        return response

    def _tune(self, changes: Dict[str, Any]) -> str:
        """Tighten limits at runtime (`ros2 param set`): '' when accepted, else the refusal."""
        refusal = self.loop.tune(changes)
        text = ', '.join(f'{name}={value if isinstance(value, float) else list(value)}'
                         for name, value in changes.items())
        if refusal:
            self.get_logger().warning(f'refused {text}: {refusal}')
        else:
            when = 'in force from the next tick' if self.loop.configured else 'read at configure'
            self.get_logger().info(f'tuned {text}: {when}')
        return refusal

    # Control ----------------------------------------------------------------------------------

    def tick(self) -> None:
        """One control period (the timer's callback; tests call it on a fake clock)."""
        if self.loop.active:
            self._run(lambda: self.loop.tick(self._conflicting_topics()))

    def _run(self, step: Callable[..., Decision], *args: Any) -> None:
        """Carry out a loop step's decision; on any exception the loop's failure decision."""
        try:
            self._apply(step(*args))
        except Exception as err:  # whatever failed, the arm must not keep the last command
            self._apply(self.loop.fail(err))

    def _apply(self, decision: Decision) -> None:
        """Log the notes, publish the command, then request a reset or deactivate."""
        logger = self.get_logger()
        for note in decision.notes:  # one call site per severity: rclpy refuses a change
            if note.level == 'error':
                logger.error(note.text)
            elif note.level == 'warning':
                logger.warning(note.text)
            else:
                logger.info(note.text)
        command = decision.command
        if command is not None and command.fault:
            self._sink.send_safe(command.values)
        elif command is not None:
            self._sink.send(command.values, command.step_id)
        if decision.reset:
            self._reset.request()
        if decision.deactivate:
            self.trigger_deactivate()

    # Diagnostics ------------------------------------------------------------------------------

    def diagnostic_status(self) -> DiagnosticStatus:
        """Lifecycle state, armed, e-stop, stale, watchdog trips, counters and last latency."""
        level, message, values = self.loop.status(self.lifecycle_state)
        return DiagnosticStatus(level=getattr(DiagnosticStatus, level), message=message,
                                name=f'{self.get_fully_qualified_name()}: deploy',
                                hardware_id='lago_deploy',
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
