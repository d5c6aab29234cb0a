# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The deploy node's control loop, ROS-free: when to act, what to command, what to report.

`DeployLoop` owns the policy and the guards (`guards.py`, `lockstep.py`). The node hands it
plain values from its callbacks and timer (an observation, an e-stop message, the command topics
another node also writes) and carries out the `Decision` each call returns: at most one command
to publish, notes to log, and whether to deactivate or to ask the simulator for a reset. Every
time comes from the injected clock, so a test drives the loop with a fake one and no ROS.
`tune` checks and applies a runtime change of the tunable parameters (tighten only).
"""

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple

import numpy as np
import yaml

from lago_ros.control.guards import (broadcast, check_limits, CommandShaper, DeployConfigError,
                                     EStop, ObservationAssembler, Watchdog)
from lago_ros.control.lockstep import Lockstep
from lago_ros.export.onnx_policy import ObservationError

REJECTION_LOG_PERIOD_S = 1.0
"""Rejected observations are counted each, and logged at most once per this period."""
COUNTERS = ('observations', 'commands', 'safe_commands', 'rejected_observations',
            'stale_episodes', 'loop_errors')
"""What the loop counts (reported on /diagnostics; 'stale_episodes' as watchdog_trips)."""
ACTION_LIMITS = ('action_min', 'action_max', 'max_delta')
"""The command shaper's parameters, one value or one per action dim; tighten-only at runtime."""


class Output(Protocol):
    """What the loop needs to know of a command output (a `nodes.command_sinks` sink)."""

    velocity: bool
    """True: the fault command is zero; False: hold the last command."""
    sends_fault: bool
    """False: the fault command is to send nothing (the lockstep simulator)."""
    safe_text: str
    """What the fault command does, for logs."""


@dataclass(frozen=True)
class Command:
    """A command to publish: the policy's (shaped) or the fault command (`fault`)."""

    values: np.ndarray
    fault: bool
    step_id: int = 0
    """The lockstep simulator's step id (0 for every other output)."""


@dataclass(frozen=True)
class Note:
    """A line for the log, of level 'info', 'warning' or 'error'."""

    level: str
    text: str


@dataclass
class Decision:
    """What one call of the loop asks the node to do, in order: log, publish, then the rest."""

    command: Optional[Command] = None
    notes: List[Note] = field(default_factory=list)
    deactivate: bool = False
    """The loop stopped commanding (yielding, an error): the node leaves the active state."""
    reset: bool = False
    """Observations are stale in lockstep: ask the simulator for a reset (if `reset_due`)."""


def _error(text: str) -> Note:
    return Note('error', text)


def _plain(value: Any) -> Any:
    """Return a parameter value as the node declared it: a float, or a list of floats."""
    if isinstance(value, (int, float)):
        return float(value)
    return [float(v) for v in value]


class DeployLoop:
    """The deploy node's decisions on plain values and an injected clock (seconds)."""

    def __init__(self, params: Mapping[str, Any], clock: Callable[[], float]) -> None:
        """Keep the node's parameter values (`nodes.deploy_params`) and the clock."""
        self.params, self.now = params, clock
        self.counters: Dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.last_latency_ms: Optional[float] = None
        """Age of the observation when its command was decided, for the last command."""
        self.active = False
        self.policy: Any = None
        """The OnnxPolicy (validate, act, obs_dim, ...); None until configured."""
        self.output: Optional[Output] = None
        self.shaper: Optional[CommandShaper] = None
        self.assembler: Optional[ObservationAssembler] = None
        self.estop: Optional[EStop] = None
        self.watchdog: Optional[Watchdog] = None
        self.lockstep: Optional[Lockstep] = None
        self.resets = False
        """Stale lockstep observations are answered by a simulator reset request."""
        self.hard_limits: Dict[str, np.ndarray] = {}
        """Tunable values at configure, per action dim: `tune` only tightens past them."""
        self._obs: Optional[np.ndarray] = None
        self._obs_time = -np.inf
        self._extra: Optional[np.ndarray] = None
        self._extra_time = -np.inf
        self._reset_sent = -np.inf
        self._rejection_logged = -np.inf

    @property
    def configured(self) -> bool:
        """Whether a policy and an output are set (between configure and release)."""
        return self.policy is not None

    # Set-up -----------------------------------------------------------------------------------

    def configure(self, policy: Any, output: Output) -> None:
        """Check the parameters against the policy and build the guards (DeployConfigError)."""
        p = self.params
        if p['input_mode'] == 'vec_step' and p['trigger'] != 'observation':
            raise DeployConfigError('input_mode vec_step steps in lockstep with the simulator; '
                                    "expected trigger 'observation'")
        shaper, hard = None, {'observation_timeout_s': np.array([p['observation_timeout_s']])}
        if not policy.discrete:
            shaper = CommandShaper(*self._limits(p, policy), output.velocity)
            hard.update({name: broadcast(p[name], policy.action_dim, name)
                         for name in ACTION_LIMITS})
        assembler = None
        if p['input_mode'] == 'joint_state':
            mapping = yaml.safe_load(p['observation_mapping'] or '') or {}
            if not isinstance(mapping, dict):
                raise DeployConfigError('observation_mapping must be a YAML mapping; see '
                                        'docs/deploy.md')
            assembler = ObservationAssembler(policy.obs_dim, mapping)
        self.policy, self.output, self.shaper, self.assembler = policy, output, shaper, assembler
        self.hard_limits = hard
        self.estop = EStop(p['estop_timeout_s'], self.now())
        self.watchdog = Watchdog(p['observation_timeout_s'])
        self.lockstep = Lockstep() if p['input_mode'] == 'vec_step' else None
        self.resets = self.lockstep is not None and bool(p['sim_reset_service'])
        self._obs, self._obs_time, self._extra, self._extra_time = None, -np.inf, None, -np.inf

    @staticmethod
    def _limits(values: Mapping[str, Any], policy: Any) -> Tuple[np.ndarray, ...]:
        """Return the shaper's low, high and max_delta: the parameters within the policy's box."""
        dim = policy.action_dim
        low, high, delta = (broadcast(values[name], dim, name) for name in ACTION_LIMITS)
        if policy.action_low is not None:
            low = np.maximum(low, policy.action_low)
            high = np.minimum(high, policy.action_high)
        return low, high, delta

    def tune(self, changes: Mapping[str, Any]) -> str:
        """
        Apply a runtime change of tunable parameters from the next tick on; '' or why not.

        Tighten only: configured, the values in force at configure are hard limits (action_min
        may rise, action_max, max_delta and observation_timeout_s may fall), and the action
        limits need 1 or action_dim values. Unconfigured, any finite, consistent values are
        accepted: configure reads them and they become the hard limits. A refused change leaves
        every value as it was.
        """
        values = {**self.params, **{name: _plain(value) for name, value in changes.items()}}
        try:
            limits = self._check_tuning(values, changes)
        except DeployConfigError as err:
            return str(err)
        self.params.update({name: values[name] for name in changes})
        if limits is not None:
            self.shaper.set_limits(*limits)
        if self.configured:
            self.watchdog.timeout_s = values['observation_timeout_s']
        return ''

    def _check_tuning(self, values: Mapping[str, Any], changes: Mapping[str, Any]
                      ) -> Optional[Tuple[np.ndarray, ...]]:
        """Return the shaper's new limits (None: no shaper); raise DeployConfigError if refused."""
        for name in changes:
            array = np.asarray(values[name], dtype=np.float64)
            if not np.isfinite(array).all() or array.size == 0:
                raise DeployConfigError(f'{name} {array.tolist()} must be finite numbers')
        if not 0 < values['observation_timeout_s']:
            raise DeployConfigError('observation_timeout_s must be > 0')
        if not self.configured:
            low, high, delta = (np.asarray(values[name], dtype=np.float64)
                                for name in ACTION_LIMITS)
            if low.size == high.size or 1 in (low.size, high.size):
                check_limits(low, high, delta)  # the lengths are checked at configure
            return None
        loosened = [name for name in changes if self._loosens(name, values[name])]
        if loosened:
            name = loosened[0]
            raise DeployConfigError(
                f'{name} {values[name]} would loosen the limit in force at configure '
                f'{self.hard_limits[name].tolist()}; at runtime limits only tighten (cleanup, '
                'set, configure to loosen)')
        if self.shaper is None:
            if set(changes) & set(ACTION_LIMITS):
                raise DeployConfigError('the policy is discrete: action limits do not apply')
            return None
        limits = self._limits(values, self.policy)
        check_limits(*limits)
        return limits

    def _loosens(self, name: str, value: Any) -> bool:
        """Whether `value` lies beyond the hard limit of `name` (DeployConfigError: bad size)."""
        hard = self.hard_limits.get(name)
        if hard is None:  # a discrete policy has no action limits
            return False
        new = broadcast(value if name in ACTION_LIMITS else [value], hard.size, name)
        return bool((new < hard).any() if name == 'action_min' else (new > hard).any())

    def release(self) -> None:
        """Forget the policy and the output (cleanup); the counters stay."""
        self.active, self.policy, self.output = False, None, None

    def activate(self, conflicting: Sequence[str]) -> Decision:
        """
        Start commanding: no observation yet, a fresh e-stop heartbeat, commands from rest.

        Refused (an error note, still inactive) while `conflicting` names command topics that
        another node publishes too: a command topic must have exactly one writer.
        """
        if conflicting:
            return Decision(notes=[_error(f'refusing to activate: another node publishes '
                                          f'{list(conflicting)}; a command topic must have '
                                          'exactly one writer')])
        if self.shaper is not None:
            self.shaper.reset()
        self.estop.last_message = self.now()
        self.watchdog.restart()
        self._obs = None
        self.active = True
        return Decision(notes=[Note('info', 'active; until a first observation: '
                                            f'{self.output.safe_text}')])

    def stop(self, reason: str) -> Decision:
        """Stop commanding (every exit path), with the fault command when configured."""
        was_active, self.active = self.active, False
        if not self.configured:
            return Decision()
        notes = [Note('info', f'{reason}: {self.output.safe_text}, then no more commands')]
        return Decision(self._fault(), notes if was_active else [])

    def fail(self, err: Exception) -> Decision:
        """Handle a step that raised: count it, send the fault command and deactivate."""
        self.counters['loop_errors'] += 1
        was_active, self.active = self.active, False
        safe = self.output.safe_text if self.output else 'not configured'
        return Decision(self._fault(), [_error(f'control loop failed ({type(err).__name__}: '
                                               f'{err}): {safe} and deactivating')],
                        deactivate=was_active)

    # Inputs -----------------------------------------------------------------------------------

    def observe(self, data: Any) -> Decision:
        """Take a flat observation: validate, feed the watchdog, act (trigger 'observation')."""
        try:
            obs = self.policy.validate(data)
        except ObservationError as err:
            return self._reject(str(err))
        self._obs, self._obs_time = obs, self.now()
        self.counters['observations'] += 1
        notes = [Note('info', 'observations are fresh again')] if self.watchdog.feed(
            self._obs_time) else []
        if self.active and self.params['trigger'] == 'observation' and not self.estop.engaged:
            decision = self._act()
            decision.notes[:0] = notes
            return decision
        return Decision(notes=notes)

    def observe_step(self, step_id: int, num_envs: int, obs_dim: int, observation: Any,
                     from_reset: bool = False) -> Decision:
        """Take env 0 of a VecStep: act once per step of the requested sequence (`Lockstep`)."""
        if not self.lockstep.accept(step_id, from_reset):
            return Decision()  # a copy of the reset step, another sequence, an old reset's reply
        if num_envs < 1 or obs_dim != self.policy.obs_dim:
            return self._reject(f'VecStep has num_envs={num_envs}, obs_dim={obs_dim}; expected '
                                f'at least 1 env of obs_dim {self.policy.obs_dim}')
        return self.observe(observation)

    def observe_extra(self, values: Any) -> None:
        """Keep task inputs for the joint_state mode (used while younger than the timeout)."""
        self._extra = np.asarray(values, dtype=np.float64)
        self._extra_time = self.now()

    def observe_joints(self, state: Any) -> Decision:
        """Take a JointState (`name`, `position`/`velocity`/`effort`) with fresh task inputs."""
        if self._extra is None or self.now() - self._extra_time > \
                self.params['observation_timeout_s']:
            return Decision()
        try:
            obs = self.assembler.assemble(state.name, getattr(state, self.assembler.joint_field),
                                          self._extra)
        except ObservationError as err:
            return self._reject(str(err))
        return self.observe(obs)

    def estop_message(self, engaged: Any) -> Decision:
        """Take an e-stop message (truthy: engaged); a new latch sends the fault at once."""
        if not self.estop.on_message(bool(engaged), self.now()):
            return Decision()
        note = _error(f'e-stop engaged: {self.output.safe_text} until ~/rearm')
        return Decision(self._fault() if self.active else None, [note])

    def estop_unheard(self, policy_kind: Any) -> Decision:
        """Latch: an e-stop publisher whose QoS we cannot match is an e-stop that does not work."""
        self.estop.engage()
        return Decision(notes=[_error(
            f'a publisher on {self.params["estop_topic"]} offers incompatible QoS (policy '
            f'{policy_kind}); e-stop publishers must be reliable + transient local. E-stop '
            f'latched: {self.output.safe_text} until ~/rearm')])

    def rearm(self) -> Tuple[str, Decision]:
        """Clear the e-stop latch; return '' or why not, and the note to log."""
        refusal = self.estop.rearm(self.now())
        note = Note('warning', f'rearm refused: {refusal}') if refusal else Note(
            'info', 're-armed: commanding resumes')
        return refusal, Decision(notes=[note])

    # Control ----------------------------------------------------------------------------------

    def tick(self, conflicting: Sequence[str]) -> Decision:
        """
        Run one control period: yield, e-stop, watchdog, then the policy (trigger 'timer').

        `conflicting`: command topics that another node publishes too (the node yields).
        """
        if not self.active:
            return Decision()
        if conflicting:
            self.active = False
            return Decision(self._fault(), [_error(
                f'another node publishes {list(conflicting)}: {self.output.safe_text} and '
                'deactivating')], deactivate=True)
        now, notes = self.now(), []
        if self.estop.heartbeat_lost(now):
            notes.append(_error(f'e-stop heartbeat lost: {self.output.safe_text} until '
                                '~/rearm'))
        if self.estop.engaged:
            return Decision(self._fault(), notes)
        if self.watchdog.stale(now):
            if self.watchdog.check(now):
                self.counters['stale_episodes'] += 1
                reset = ', requesting a simulator reset' if self.resets else ''
                notes.append(Note('warning', f'no fresh observation for '
                                  f'{self.watchdog.timeout_s} s: {self.output.safe_text}{reset}'))
            return Decision(self._fault(), notes, reset=self.resets)
        if self.params['trigger'] == 'timer':
            decision = self._act()
            decision.notes[:0] = notes
            return decision
        return Decision(notes=notes)

    def reset_due(self, pending: bool) -> bool:
        """Whether to send a reset request now: none is `pending`, or it had its timeout."""
        return not pending or self.now() - self._reset_sent > self.watchdog.timeout_s

    def reset_requested(self) -> None:
        """Note a reset request sent: drop the lockstep sequence until its reply."""
        self.lockstep.start_reset()
        self._reset_sent = self.now()

    def _act(self) -> Decision:
        """Return the policy's command for the newest observation, shaped (NaN: the fault)."""
        action = self.policy.act(self._obs)
        if self.shaper is None:
            values = np.array([float(action[0])])
        else:
            try:
                values = self.shaper.shape(action[0])
            except ValueError as err:  # a non-finite policy output never reaches the arm
                decision = self._reject(str(err))
                decision.command = self._fault()
                return decision
        self.counters['commands'] += 1
        self.last_latency_ms = (self.now() - self._obs_time) * 1e3
        step_id = 0 if self.lockstep is None else self.lockstep.action_id()
        return Decision(Command(values, fault=False, step_id=step_id))

    def _fault(self) -> Optional[Command]:
        """Return the fault command (zero, hold), or None: nothing to send (no position, sim)."""
        if not self.configured:
            return None
        values = None if self.shaper is None else self.shaper.safe()
        if values is None or not self.output.sends_fault:
            return None
        self.counters['safe_commands'] += 1
        return Command(values, fault=True)

    def _reject(self, reason: str) -> Decision:
        """Count a rejected observation (or policy output); log it unless one was just logged."""
        self.counters['rejected_observations'] += 1
        now = self.now()
        if now - self._rejection_logged < REJECTION_LOG_PERIOD_S:
            return Decision()
        self._rejection_logged = now
        return Decision(notes=[_error(f'observation ignored, no command from it: {reason}')])

    # Diagnostics ------------------------------------------------------------------------------

    def status(self, state: str) -> Tuple[str, str, Dict[str, str]]:
        """Return level ('OK', 'WARN', 'ERROR'), message and values for /diagnostics."""
        configured = self.configured
        estop = configured and self.estop.engaged
        stale = configured and self.active and self.watchdog.stale(self.now())
        if estop:
            level, message = 'ERROR', 'e-stopped'
        elif not self.active:
            level, message = 'WARN', state
        elif stale:
            level, message = 'WARN', 'stale observations'
        else:
            level, message = 'OK', 'armed'
        latency = '-' if self.last_latency_ms is None else f'{self.last_latency_ms:.3f}'
        values = {
            'state': state, 'armed': str(self.active and not estop), 'estop_engaged': str(estop),
            'estop_topic_engaged': str(configured and self.estop.topic_engaged),
            'stale': str(stale), 'watchdog_trips': str(self.counters['stale_episodes']),
            'last_latency_ms': latency, 'output_mode': self.params['output_mode'],
            'policy': self.params['policy_path'],
            **{name: str(count) for name, count in self.counters.items()
               if name != 'stale_episodes'}}
        return level, message, values
