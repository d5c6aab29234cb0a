# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Guards between a policy and an arm, ROS-free so tests drive them with plain numbers and clocks.

`ObservationAssembler` builds observations from joint states and task inputs, `CommandShaper`
clamps and rate-limits commands and knows the fault command (zero velocity / hold position),
`EStop` is the latched e-stop with its optional heartbeat, and `Watchdog` says when observations
went stale. Every time is a float of seconds from the caller's clock.
"""

from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from lago_ros.export.onnx_policy import ObservationError

JOINT_FIELDS = ('position', 'velocity', 'effort')


class DeployConfigError(ValueError):
    """Parameters of the deploy node that contradict each other or the policy."""


def broadcast(values: Sequence[float], size: int, name: str) -> np.ndarray:
    """Return `values` (one, or one per dim) as an array of `size`; refuse other lengths."""
    array = np.asarray(values, dtype=np.float64)
    if array.size not in (1, size):
        raise DeployConfigError(f'{name} has {array.size} values; expected 1 or {size}')
    return np.broadcast_to(array, (size,)).copy()


def check_limits(low: np.ndarray, high: np.ndarray, max_delta: np.ndarray) -> None:
    """Refuse action limits with min > max or a max_delta <= 0 (DeployConfigError)."""
    if (low > high).any() or (max_delta <= 0).any():
        raise DeployConfigError(f'action limits [{low.tolist()}, {high.tolist()}] and max_delta '
                                f'{max_delta.tolist()} are inconsistent; expected min <= max '
                                'and max_delta > 0')


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
        check_limits(low, high, max_delta)
        self.low, self.high, self.max_delta, self.velocity = low, high, max_delta, velocity
        self.last: Optional[np.ndarray] = None
        self.reset()

    def set_limits(self, low: np.ndarray, high: np.ndarray, max_delta: np.ndarray) -> None:
        """
        Change the limits (a runtime tightening) from the next command on.

        A previous command outside the new range is clipped into it, so neither the next command
        (rate-limited against it) nor a held position leaves the range: the limit wins over
        max_delta for that one step.
        """
        check_limits(low, high, max_delta)
        self.low, self.high, self.max_delta = low, high, max_delta
        if self.last is not None:
            self.last = np.clip(self.last, low, high)

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

    def engage(self) -> None:
        """Latch without a message (e.g. the e-stop input cannot be heard)."""
        self.engaged = True

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


class Watchdog:
    """Observation freshness: stale when none came for `timeout_s` (ROS-free)."""

    def __init__(self, timeout_s: float) -> None:
        """`timeout_s` > 0: the largest age of a fresh observation."""
        self.timeout_s = timeout_s
        self.last_fed = -np.inf
        self.tripped = False

    def restart(self) -> None:
        """Forget every observation (activation): stale until the next one, not a trip."""
        self.last_fed, self.tripped = -np.inf, False

    def feed(self, now: float) -> bool:
        """Record a valid observation; return True if that ended a trip."""
        self.last_fed = now
        ended, self.tripped = self.tripped, False
        return ended

    def stale(self, now: float) -> bool:
        """Return whether no observation came for more than `timeout_s`."""
        return now - self.last_fed > self.timeout_s

    def check(self, now: float) -> bool:
        """Return True when observations newly went stale (a trip; none before the first)."""
        if not self.stale(now) or self.tripped or self.last_fed == -np.inf:
            return False
        self.tripped = True
        return True
