# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Named views of flat observations: a layout table per env family, features and a text view.

The layout (field name, slice, unit, bounds) is the single description of what each observation
number means. Meta-World's env builds its observation space from it, the ONNX export stores it as
metadata (`layout_metadata`) and the deploy node uses it to name incoming fields; `feature_view`
splits observations into named arrays and `text_view` renders one state for humans and logs.
"""

from dataclasses import asdict, dataclass
from typing import Optional

import numpy as np

from lago_ros.envs.clevr_language import COLOURS, RELATIONS
from lago_ros.envs.tasks import get_task

# Meta-World's hand box (metaworld.sawyer_xyz_env.SawyerXYZEnv._HAND_SPACE), metres.
MW_HAND_LOW = (-0.525, 0.348, -0.0525)
MW_HAND_HIGH = (0.525, 1.025, 0.7)
# A box around the Meta-World table that objects and goals stay in (Meta-World declares none:
# objects are unbounded and its goal bounds are wrong), metres.
MW_WORKSPACE_LOW = (-1.0, -0.5, -0.5)
MW_WORKSPACE_HIGH = (1.0, 1.5, 1.5)
# CLEVR-Robot ball centres, metres: the bounds ClevrRobotEnv declares (its walls keep centres
# within x = +-0.6, y = -0.3..0.7, with room to spare for contact softness).
CLEVR_BALL_LOW = (-2.0, -2.0)
CLEVR_BALL_HIGH = (2.0, 2.0)
# Ball colours and goal relations of the CLEVR layout, in observation order.
CLEVR_COLOURS = COLOURS
CLEVR_RELATIONS = RELATIONS


@dataclass(frozen=True)
class ObsField:
    """One named slice of a flat observation."""

    name: str
    start: int
    stop: int
    unit: str
    """'m' for positions, '1' for dimensionless numbers, 'one-hot' for categorical codes."""
    low: tuple[float, ...]
    high: tuple[float, ...]
    description: str
    labels: tuple[str, ...] = ()
    """Category names of a one-hot field, in index order."""
    in_text: bool = True
    """Whether `text_view` shows the field (the previous frame and quaternions are left out)."""
    zero_means_absent: bool = False
    """All zeros is padding for an object the task does not have; `text_view` leaves it out."""

    @property
    def size(self) -> int:
        """Number of observation values in the field."""
        return self.stop - self.start


class ObservationShapeError(ValueError):
    """An observation whose last axis does not match the task's observation size."""


def _repeat(value: float, n: int) -> tuple[float, ...]:
    return (float(value),) * n


def _metaworld_frame(offset: int, prefix: str, when: str, in_text: bool) -> list[ObsField]:
    """Return the fields of the 18 numbers Meta-World reports per frame, from `offset` on."""
    ws_lo, ws_hi = MW_WORKSPACE_LOW, MW_WORKSPACE_HIGH
    specs = [
        ('hand_pos', 3, 'm', MW_HAND_LOW, MW_HAND_HIGH, 'gripper centre xyz', in_text),
        ('gripper', 1, '1', (-1.0,), (1.0,), 'finger opening, 1 = fully open', in_text),
        ('obj1_pos', 3, 'm', ws_lo, ws_hi, 'first object xyz', in_text),
        # Meta-World builds these with scipy's Rotation.as_quat(): x, y, z, w (MuJoCo: w first).
        ('obj1_quat', 4, '1', _repeat(-1, 4), _repeat(1, 4), 'first object quaternion xyzw',
         False),
        ('obj2_pos', 3, 'm', ws_lo, ws_hi, 'second object xyz (zeros if none)', in_text),
        ('obj2_quat', 4, '1', _repeat(-1, 4), _repeat(1, 4), 'second object quaternion xyzw',
         False),
    ]
    fields = []
    for name, size, unit, low, high, description, shown in specs:
        fields.append(ObsField(prefix + name, offset, offset + size, unit, tuple(low),
                               tuple(high), f'{description}, {when}', in_text=shown,
                               zero_means_absent=name.startswith('obj2')))
        offset += size
    return fields


def _clevr_layout() -> tuple[ObsField, ...]:
    balls = [ObsField(f'{colour}_pos', 2 * i, 2 * i + 2, 'm', CLEVR_BALL_LOW, CLEVR_BALL_HIGH,
                      f'{colour} ball centre xy') for i, colour in enumerate(CLEVR_COLOURS)]
    goal = [
        ObsField('goal_anchor', 10, 15, 'one-hot', _repeat(0, 5), _repeat(1, 5),
                 'colour of the ball the relation is measured from', CLEVR_COLOURS),
        ObsField('goal_target', 15, 20, 'one-hot', _repeat(0, 5), _repeat(1, 5),
                 'colour of the ball to move', CLEVR_COLOURS),
        ObsField('goal_relation', 20, 24, 'one-hot', _repeat(0, 4), _repeat(1, 4),
                 'where the target must end up relative to the anchor', CLEVR_RELATIONS),
    ]
    return tuple(balls + goal)


LAYOUTS: dict[str, tuple[ObsField, ...]] = {
    'metaworld': tuple(
        _metaworld_frame(0, '', 'now', True)
        + _metaworld_frame(18, 'prev_', 'previous step', False)
        + [ObsField('goal_pos', 36, 39, 'm', MW_WORKSPACE_LOW, MW_WORKSPACE_HIGH,
                    'goal xyz of the task')]),
    'clevr': _clevr_layout(),
}


def layout_for(task: str) -> tuple[ObsField, ...]:
    """Return the observation layout of `task` (shared by every task of its family)."""
    return LAYOUTS[get_task(task).family]


def layout_metadata(task: str) -> list[dict]:
    """Return the layout of `task` as JSON-serialisable dicts (for model metadata)."""
    return [asdict(field) for field in layout_for(task)]


def observation_bounds(task: str) -> tuple[np.ndarray, np.ndarray]:
    """Return float32 (low, high) arrays of `task`'s observation, assembled from its layout."""
    layout = layout_for(task)
    low = np.concatenate([np.asarray(f.low, dtype=np.float32) for f in layout])
    high = np.concatenate([np.asarray(f.high, dtype=np.float32) for f in layout])
    return low, high


def _checked(task: str, obs: np.ndarray) -> np.ndarray:
    obs = np.asarray(obs, dtype=np.float32)
    expected = get_task(task).obs_dim
    if obs.ndim == 0 or obs.shape[-1] != expected:
        raise ObservationShapeError(
            f'observation has shape {obs.shape}; task {task} expects (..., {expected})')
    return obs


def feature_view(task: str, obs: np.ndarray) -> dict[str, np.ndarray]:
    """Split observation(s) of shape (..., obs_dim) into named float32 arrays (..., size)."""
    obs = _checked(task, obs)
    return {f.name: obs[..., f.start:f.stop].copy() for f in layout_for(task)}


def _format_field(field: ObsField, values: np.ndarray) -> Optional[str]:
    if field.labels:
        if not np.any(values > 0.5):
            return f'{field.name}=none'
        return f'{field.name}={field.labels[int(np.argmax(values))]}'
    if field.zero_means_absent and not np.any(values):
        return None
    numbers = ', '.join(f'{v:.3f}' for v in values)
    text = f'({numbers})' if field.size > 1 else numbers
    unit = f' {field.unit}' if field.unit == 'm' else ''
    return f'{field.name}={text}{unit}'


def text_view(task: str, obs: np.ndarray) -> str:
    """Render one observation as 'name=value unit; ...' text for logs and humans."""
    obs = _checked(task, obs)
    if obs.ndim != 1:
        raise ObservationShapeError(
            f'text_view takes one observation of shape ({obs.shape[-1]},); got {obs.shape}')
    parts = (_format_field(f, obs[f.start:f.stop]) for f in layout_for(task) if f.in_text)
    return '; '.join(p for p in parts if p is not None)
