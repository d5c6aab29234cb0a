# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Observations of a task from the latest message of each robot input (ROS-free).

The topic backend turns each message into a plain sample (`PoseSample`, `JointSample`), keeps
the newest per input with its arrival time (`LatestInputs`), and `StateAssembler` builds the
flat observation in the task's layout: each configured field from its input, converted to the
field's unit, `prev_X` fields from the previous step's X (at an episode's start from its own
values, as Meta-World does), absent fields zero, clipped to the layout's bounds like the
simulated env's observations.
"""

from dataclasses import dataclass
import threading
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from lago_ros.control.robot_config import PREVIOUS_PREFIX, RobotConfig
from lago_ros.envs.state_view import layout_for, observation_bounds
from lago_ros.export.onnx_policy import ObservationError


@dataclass(frozen=True)
class PoseSample:
    """A geometry_msgs/PoseStamped as numbers."""

    frame_id: str
    position: Tuple[float, float, float]
    orientation_xyzw: Tuple[float, float, float, float]


@dataclass(frozen=True)
class JointSample:
    """A sensor_msgs/JointState as numbers (empty sequences where the message has none)."""

    names: Tuple[str, ...]
    position: Tuple[float, ...]
    velocity: Tuple[float, ...]
    effort: Tuple[float, ...]


Sample = object
"""A PoseSample or JointSample."""


class LatestInputs:
    """The newest sample of every input with its arrival time; thread-safe, waitable."""

    def __init__(self, names: Sequence[str]) -> None:
        """Track inputs `names`; none has a sample yet."""
        self.names = list(names)
        self._samples: Dict[str, Tuple[Sample, float]] = {}
        self._changed = threading.Condition()

    def put(self, name: str, sample: Sample, now: float) -> None:
        """Store the newest sample of input `name`, received at `now`."""
        with self._changed:
            self._samples[name] = (sample, now)
            self._changed.notify_all()

    def not_since(self, since: float) -> List[str]:
        """Return the inputs with no sample received at or after `since`."""
        with self._changed:
            return [n for n in self.names
                    if n not in self._samples or self._samples[n][1] < since]

    def wait_since(self, since: float, timeout: float) -> List[str]:
        """Wait up to `timeout` s for a sample of every input from `since` on; return the rest."""
        with self._changed:
            self._changed.wait_for(lambda: not self._missing(since), timeout=max(timeout, 0.0))
            return self._missing(since)

    def _missing(self, since: float) -> List[str]:
        return [n for n in self.names if n not in self._samples or self._samples[n][1] < since]

    def snapshot(self) -> Dict[str, Sample]:
        """Return the newest sample of every input that has one."""
        with self._changed:
            return {name: sample for name, (sample, _) in self._samples.items()}


class StateAssembler:
    """Flat float32 observations of the config's task from input samples."""

    def __init__(self, config: RobotConfig) -> None:
        """Resolve every configured field to its slice of the observation."""
        self.config = config
        self.layout = {f.name: f for f in layout_for(config.task)}
        self.obs_dim = max(f.stop for f in self.layout.values())
        self.low, self.high = observation_bounds(config.task)
        self.previous = [(f, self.layout[f.name[len(PREVIOUS_PREFIX):]])
                         for f in self.layout.values() if f.name.startswith(PREVIOUS_PREFIX)]
        self._last: Optional[np.ndarray] = None

    def start_episode(self) -> None:
        """Forget the previous step: the next observation's prev_* fields copy its own."""
        self._last = None

    def fields(self, samples: Dict[str, Sample]) -> Dict[str, np.ndarray]:
        """Return every configured field in its layout unit; ObservationError if one cannot."""
        values = {}
        for source in self.config.fields:
            spec = self.config.inputs[source.input]
            sample = samples.get(source.input)
            if sample is None:
                raise ObservationError(f'no message yet on {spec.topic} (input {source.input})')
            if isinstance(sample, PoseSample):
                if spec.frame_id and sample.frame_id != spec.frame_id:
                    raise ObservationError(f'pose on {spec.topic} is in frame '
                                           f'{sample.frame_id!r}; the config expects '
                                           f'{spec.frame_id!r}')
                raw = _pose_values(sample, source.value)
            else:
                raw = _joint_values(sample, source.value, source.joints, spec.topic)
            if source.range is not None:
                lo, hi = source.range
                raw = (raw - lo) / (hi - lo)
            values[source.field] = raw * source.scale
        return values

    def assemble(self, samples: Dict[str, Sample]) -> np.ndarray:
        """Return the observation of `samples` and remember it as the previous step."""
        obs = np.zeros(self.obs_dim, dtype=np.float64)
        for name, value in self.fields(samples).items():
            field = self.layout[name]
            if not np.isfinite(value).all():
                raise ObservationError(f'field {name} is {value.tolist()}; expected finite '
                                       'numbers')
            obs[field.start:field.stop] = value
        source = obs if self._last is None else self._last
        for prev, current in self.previous:
            obs[prev.start:prev.stop] = source[current.start:current.stop]
        self._last = obs.copy()
        return np.clip(obs, self.low, self.high).astype(np.float32)


def _pose_values(sample: PoseSample, value: str) -> np.ndarray:
    x, y, z, w = sample.orientation_xyzw
    return np.asarray({'position': sample.position, 'xy': sample.position[:2],
                       'orientation_xyzw': (x, y, z, w),
                       'orientation_wxyz': (w, x, y, z)}[value], dtype=np.float64)


def _joint_values(sample: JointSample, value: str, joints: Sequence[str],
                  topic: str) -> np.ndarray:
    numbers = getattr(sample, value)
    if len(numbers) != len(sample.names):
        raise ObservationError(f'JointState on {topic} has {len(sample.names)} names but '
                               f'{len(numbers)} {value} values; expected one per name')
    lookup = dict(zip(sample.names, numbers, strict=True))
    missing = [j for j in joints if j not in lookup]
    if missing:
        raise ObservationError(f'JointState on {topic} lacks {value} of joints {missing}')
    return np.asarray([lookup[j] for j in joints], dtype=np.float64)
