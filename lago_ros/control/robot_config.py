# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The topic backend's configuration: one YAML file maps a robot's topics onto a task (ROS-free).

`load_robot_config(path)` reads and checks the whole file before any topic is opened: the task,
the inputs (topic and message type), which input fills each named field of the task's
observation layout (`lago_ros.envs.state_view`) and in which unit, the reward/success rule, the
episode reset and time limit, the command output with its limits, and the e-stop. Every problem
is one `RobotConfigError` line naming the key, what it holds and what is expected.
config/robot_backend.yaml is the annotated example; docs/robot.md explains the choices.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import yaml

from lago_ros.envs.state_view import layout_for, ObsField
from lago_ros.envs.tasks import get_task, UnknownTaskError

JOINT_STATE = 'sensor_msgs/JointState'
POSE_STAMPED = 'geometry_msgs/PoseStamped'
INPUT_TYPES = (JOINT_STATE, POSE_STAMPED)
"""Message types an input may have."""
POSE_VALUES = {'position': 3, 'xy': 2, 'orientation_xyzw': 4, 'orientation_wxyz': 4}
"""What a field can take from a pose, and how many numbers that is."""
JOINT_VALUES = ('position', 'velocity', 'effort')
LENGTH_UNITS = {'m': 1.0, 'cm': 0.01, 'mm': 0.001}
"""Units a field in metres can be given in, with their factor to metres."""
INPUT_QOS = ('sensor', 'reliable')
RESET_MODES = ('service', 'operator')
OUTPUT_MODES = ('twist', 'float64_multi_array', 'joint_trajectory')
"""Command outputs the topic backend can drive (`lago_ros.nodes.command_sinks` classes)."""
PREVIOUS_PREFIX = 'prev_'
"""A layout field `prev_X` is filled with field X of the previous step (Meta-World's frame)."""


class RobotConfigError(ValueError):
    """A robot config that is malformed or does not fit its task."""


@dataclass(frozen=True)
class InputSpec:
    """One subscribed topic."""

    name: str
    """Key of the input under `inputs`, used by the fields."""
    topic: str
    """Topic name (relative names resolve in the bridge's namespace)."""
    type: str  # noqa: A003 (the YAML key)
    """One of INPUT_TYPES."""
    frame_id: str = ''
    """Poses must carry this header frame_id; '' accepts any."""
    qos: str = 'sensor'
    """'sensor' (best effort, matches every publisher) or 'reliable'."""

    @property
    def ros_type(self) -> str:
        """The type as the ROS graph spells it, e.g. 'geometry_msgs/msg/PoseStamped'."""
        package, name = self.type.split('/')
        return f'{package}/msg/{name}'


@dataclass(frozen=True)
class FieldSource:
    """Where one layout field's numbers come from and how they become the field's unit."""

    field: str
    """Name of the layout field (state_view), e.g. 'hand_pos'."""
    input: str  # noqa: A003 (the YAML key)
    """Key of the input it comes from."""
    value: str
    """Pose inputs: a POSE_VALUES key; JointState inputs: a JOINT_VALUES entry."""
    joints: Tuple[str, ...] = ()
    """JointState inputs: the joint names, one per number of the field."""
    scale: float = 1.0
    """Factor from the input's unit to the field's unit (1 for dimensionless values)."""
    range: Optional[Tuple[float, float]] = None  # noqa: A003 (the YAML key)
    """Input values mapped linearly onto [0, 1] (first -> 0, second -> 1); None: no mapping."""


@dataclass(frozen=True)
class ResetSpec:
    """How an episode starts: a std_srvs/Trigger service, or an operator who confirms."""

    mode: str = 'service'
    service: str = ''
    """Trigger service of mode 'service' (it returns once the scene is reset)."""
    timeout_s: float = 60.0
    """Longest wait for the reset (service reply or operator) and the first fresh inputs."""


@dataclass(frozen=True)
class CommandSpec:
    """The command output and its guards."""

    output_mode: str
    sink_params: Dict[str, Any]
    """Parameters of the command sink (as the deploy node's, plus rate_hz)."""
    action_min: Tuple[float, ...] = (-1.0,)
    action_max: Tuple[float, ...] = (1.0,)
    max_delta: Tuple[float, ...] = (2.0,)
    """Largest change of an action between two commands, per dim (or one for all)."""
    command_timeout_s: float = 0.5
    """No action for this long (the client stalled): the fault command at every tick."""


@dataclass(frozen=True)
class RobotConfig:
    """Everything the topic backend needs, checked against the task's layout."""

    task: str
    rate_hz: float
    observation_timeout_s: float
    discovery_timeout_s: float
    inputs: Dict[str, InputSpec]
    fields: Tuple[FieldSource, ...]
    absent: Tuple[str, ...]
    """Layout fields the task does not have (all zeros, e.g. Meta-World's second object)."""
    task_function: str
    task_options: Dict[str, Any]
    time_limit_steps: int
    terminate_on_success: bool
    instruction: str
    """Instruction of every episode; '' draws one of the task's instructions per episode."""
    split: str
    reset: ResetSpec
    command: CommandSpec
    estop_topic: str
    estop_timeout_s: float
    source: str = field(default='', compare=False)
    """Where the config came from, for messages."""

    @property
    def period_s(self) -> float:
        """Control period."""
        return 1.0 / self.rate_hz


DEFAULT_TASK_FUNCTIONS = {'reach-v3': 'reach', 'push-v3': 'push'}
"""Built-in task rule of a task (lago_ros.control.task_rules); others name theirs."""
_TOP_KEYS = ('task', 'rate_hz', 'observation_timeout_s', 'discovery_timeout_s', 'inputs',
             'fields', 'absent', 'task_function', 'task_options', 'time_limit_steps',
             'terminate_on_success', 'instruction', 'split', 'reset', 'command', 'estop')
_COMMAND_KEYS = ('output_mode', 'command_topic', 'gripper_topic', 'twist_linear_scale',
                 'twist_frame_id', 'command_kind', 'trajectory_joint_names', 'action_min',
                 'action_max', 'max_delta', 'command_timeout_s')


def _fail(where: str, message: str) -> RobotConfigError:
    return RobotConfigError(f'{where}: {message}' if where else message)


def _section(data: Any, name: str, allowed: Tuple[str, ...], where: str) -> Dict[str, Any]:
    """Return mapping `data` after refusing unknown keys (typos are the commonest mistake)."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _fail(where, f'{name} is {data!r}; expected a mapping')
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise _fail(where, f'{name} has unknown keys {unknown}; expected some of '
                           f'{list(allowed)}')
    return data


def _number(data: Dict[str, Any], key: str, default: float, low: float, high: float,
            where: str) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not low <= value <= high:
        raise _fail(where, f'{key} is {value!r}; expected a number in [{low}, {high}]')
    return float(value)


def _numbers(data: Dict[str, Any], key: str, default: Tuple[float, ...],
             where: str) -> Tuple[float, ...]:
    value = data.get(key, list(default))
    value = value if isinstance(value, list) else [value]
    if not value or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
        raise _fail(where, f'{key} is {value!r}; expected a number or a list of numbers')
    return tuple(float(v) for v in value)


def _text(data: Dict[str, Any], key: str, default: str, where: str,
          choices: Tuple[str, ...] = ()) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or (choices and value not in choices):
        expected = f'one of {list(choices)}' if choices else 'a string'
        raise _fail(where, f'{key} is {value!r}; expected {expected}')
    return value


def _inputs(data: Any, where: str) -> Dict[str, InputSpec]:
    if not isinstance(data, dict) or not data:
        raise _fail(where, f'inputs is {data!r}; expected a mapping of input names to '
                           '{topic, type}')
    inputs = {}
    for name, spec in data.items():
        at = f'inputs.{name}'
        spec = _section(spec, at, ('topic', 'type', 'frame_id', 'qos'), where)
        topic = _text(spec, 'topic', '', f'{where}: {at}')
        if not topic:
            raise _fail(where, f'{at}.topic is missing; expected the topic name')
        inputs[str(name)] = InputSpec(str(name), topic, _text(spec, 'type', '', f'{where}: {at}',
                                                              INPUT_TYPES),
                                      _text(spec, 'frame_id', '', f'{where}: {at}'),
                                      _text(spec, 'qos', 'sensor', f'{where}: {at}', INPUT_QOS))
    return inputs


def _unit_scale(layout_field: ObsField, unit: Any, has_range: bool, at: str, where: str) -> float:
    """Return the factor from `unit` to the field's unit; refuse units that cannot convert."""
    if has_range:
        if layout_field.unit != '1':
            raise _fail(where, f'{at}.range maps onto [0, 1], but field {layout_field.name} is '
                               f'in {layout_field.unit}; use range only for dimensionless fields')
        return 1.0
    if layout_field.unit == 'm':
        if unit not in LENGTH_UNITS:
            raise _fail(where, f'unit mismatch: {at}.unit is {unit!r} but field '
                               f'{layout_field.name} is in m; expected one of '
                               f'{list(LENGTH_UNITS)}')
        return LENGTH_UNITS[unit]
    if unit != '1':
        raise _fail(where, f'unit mismatch: {at}.unit is {unit!r} but field {layout_field.name}'
                           " is dimensionless; expected '1', or a range that maps the values "
                           'onto [0, 1]')
    return 1.0


def _field_source(name: str, spec: Any, layout_field: ObsField, inputs: Dict[str, InputSpec],
                  where: str) -> FieldSource:
    at = f'fields.{name}'
    spec = _section(spec, at, ('input', 'value', 'joints', 'unit', 'range'), where)
    input_name = spec.get('input')
    if input_name not in inputs:
        raise _fail(where, f'{at}.input is {input_name!r}; expected one of {list(inputs)}')
    kind = inputs[input_name].type
    default_unit = 'm' if layout_field.unit == 'm' else '1'
    unit = spec.get('unit', default_unit)
    has_range = spec.get('range') is not None
    joints: Tuple[str, ...] = ()
    if kind == POSE_STAMPED:
        value = _text(spec, 'value', 'position', f'{where}: {at}', tuple(POSE_VALUES))
        size = POSE_VALUES[value]
        if value.startswith('orientation') and (unit != '1' or layout_field.unit != '1'):
            raise _fail(where, f'unit mismatch: {at} takes a quaternion (unit 1) into field '
                               f'{name} in {layout_field.unit}; expected a dimensionless field')
    else:
        value = _text(spec, 'value', 'position', f'{where}: {at}', JOINT_VALUES)
        names = spec.get('joints')
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, list) or not names or \
                not all(isinstance(n, str) and n for n in names):
            raise _fail(where, f'{at}.joints is {names!r}; expected the joint names of input '
                               f'{input_name}, one per value of field {name}')
        joints, size = tuple(names), len(names)
    if size != layout_field.size:
        raise _fail(where, f'{at} gives {size} values; field {name} of the task has '
                           f'{layout_field.size}')
    scale = _unit_scale(layout_field, unit, has_range, at, where)
    value_range = None
    if has_range:
        bounds = spec['range']
        if not isinstance(bounds, list) or len(bounds) != 2 or \
                any(isinstance(b, bool) or not isinstance(b, (int, float)) for b in bounds) \
                or bounds[0] == bounds[1]:
            raise _fail(where, f'{at}.range is {bounds!r}; expected two different numbers '
                               '[value at 0, value at 1]')
        value_range = (float(bounds[0]), float(bounds[1]))
    return FieldSource(name, input_name, value, joints, scale, value_range)


def _fields(data: Any, absent: Any, task: str, inputs: Dict[str, InputSpec],
            where: str) -> Tuple[Tuple[FieldSource, ...], Tuple[str, ...]]:
    layout = {f.name: f for f in layout_for(task)}
    if not isinstance(data, dict) or not data:
        raise _fail(where, f'fields is {data!r}; expected a mapping of layout fields to their '
                           'inputs')
    absent = absent or []
    if not isinstance(absent, list) or not all(isinstance(a, str) for a in absent):
        raise _fail(where, f'absent is {absent!r}; expected a list of field names')
    for name in [*data, *absent]:
        if name not in layout or name.startswith(PREVIOUS_PREFIX):
            fillable = [n for n in layout if not n.startswith(PREVIOUS_PREFIX)]
            raise _fail(where, f'field {name!r} is not a field task {task} fills from inputs; '
                               f'expected one of {fillable} (prev_* fields follow their field)')
    both = sorted(set(data) & set(absent))
    if both:
        raise _fail(where, f'fields {both} are both mapped and absent; expected one of the two')
    missing = [n for n in layout if not n.startswith(PREVIOUS_PREFIX)
               and n not in data and n not in absent]
    if missing:
        raise _fail(where, f'fields {missing} of task {task} have no input; map them under '
                           'fields or list them under absent')
    sources = tuple(_field_source(name, spec, layout[name], inputs, where)
                    for name, spec in data.items())
    return sources, tuple(absent)


def _command(data: Any, rate_hz: float, where: str) -> CommandSpec:
    data = _section(data, 'command', _COMMAND_KEYS, where)
    if not data:
        raise _fail(where, 'command is missing; expected at least output_mode and command_topic')
    at = f'{where}: command' if where else 'command'
    mode = _text(data, 'output_mode', '', at, OUTPUT_MODES)
    topic = _text(data, 'command_topic', '', at)
    if not topic:
        raise _fail(where, 'command.command_topic is missing; expected the command topic name')
    names = data.get('trajectory_joint_names', [''])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _fail(where, f'command.trajectory_joint_names is {names!r}; expected a list of '
                           'joint names')
    params = {
        'output_mode': mode, 'command_topic': topic, 'rate_hz': rate_hz,
        'gripper_topic': _text(data, 'gripper_topic', 'gripper_command', at),
        'twist_linear_scale': _number(data, 'twist_linear_scale', 0.2, 0.0, 10.0, at),
        'twist_frame_id': _text(data, 'twist_frame_id', 'base_link', at),
        'command_kind': _text(data, 'command_kind', 'velocity', at, ('velocity', 'position')),
        'trajectory_joint_names': names,
    }
    return CommandSpec(mode, params, _numbers(data, 'action_min', (-1.0,), at),
                       _numbers(data, 'action_max', (1.0,), at),
                       _numbers(data, 'max_delta', (2.0,), at),
                       _number(data, 'command_timeout_s', 0.5, 0.001, 600.0, at))


def parse_robot_config(data: Any, source: str = '') -> RobotConfig:
    """Check a parsed robot config (a mapping, as in the YAML file) and return it."""
    where = source
    data = _section(data, 'the robot config', _TOP_KEYS, where)
    task = data.get('task')
    try:
        spec = get_task(task)
    except UnknownTaskError as err:
        raise _fail(where, str(err)) from None
    if spec.action_type != 'continuous':
        raise _fail(where, f'task {task} has {spec.action_type} actions; the topic backend '
                           'commands continuous ones (an arm)')
    rate_hz = _number(data, 'rate_hz', 20.0, 0.1, 1000.0, where)
    inputs = _inputs(data.get('inputs'), where)
    fields, absent = _fields(data.get('fields'), data.get('absent'), task, inputs, where)
    task_function = data.get('task_function', DEFAULT_TASK_FUNCTIONS.get(task))
    if not isinstance(task_function, str) or not task_function:
        raise _fail(where, f'task {task} has no built-in task function; set task_function to '
                           f'one of {sorted(set(DEFAULT_TASK_FUNCTIONS.values()))} or '
                           "'module:factory'")
    options = data.get('task_options') or {}
    if not isinstance(options, dict):
        raise _fail(where, f'task_options is {options!r}; expected a mapping')
    limit = data.get('time_limit_steps', spec.max_episode_steps)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise _fail(where, f'time_limit_steps is {limit!r}; expected a positive integer')
    terminate = data.get('terminate_on_success', False)
    if not isinstance(terminate, bool):
        raise _fail(where, f'terminate_on_success is {terminate!r}; expected true or false')
    reset = _section(data.get('reset'), 'reset', ('mode', 'service', 'timeout_s'), where)
    at = f'{where}: reset' if where else 'reset'
    reset_spec = ResetSpec(_text(reset, 'mode', 'service', at, RESET_MODES),
                           _text(reset, 'service', '', at),
                           _number(reset, 'timeout_s', 60.0, 0.1, 86400.0, at))
    if reset_spec.mode == 'service' and not reset_spec.service:
        raise _fail(where, 'reset.service is missing; expected a std_srvs/Trigger service, or '
                           'reset.mode operator')
    estop = _section(data.get('estop'), 'estop', ('topic', 'timeout_s'), where)
    at = f'{where}: estop' if where else 'estop'
    return RobotConfig(
        task=task, rate_hz=rate_hz,
        observation_timeout_s=_number(data, 'observation_timeout_s', 0.25, 0.001, 600.0, where),
        discovery_timeout_s=_number(data, 'discovery_timeout_s', 10.0, 0.0, 600.0, where),
        inputs=inputs, fields=fields, absent=absent, task_function=task_function,
        task_options=dict(options), time_limit_steps=limit, terminate_on_success=terminate,
        instruction=_text(data, 'instruction', '', where),
        split=_text(data, 'split', 'train', where, ('train', 'test')), reset=reset_spec,
        command=_command(data.get('command'), rate_hz, where),
        estop_topic=_text(estop, 'topic', 'estop', at),
        estop_timeout_s=_number(estop, 'timeout_s', 0.0, 0.0, 60.0, at), source=source)


def load_robot_config(path: Union[str, Path]) -> RobotConfig:
    """Read and check the robot config YAML at `path`."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as err:
        raise RobotConfigError(f'cannot read robot config {path}: {err.strerror}') from None
    except yaml.YAMLError as err:
        raise RobotConfigError(f'robot config {path} is not valid YAML: '
                               f'{str(err).splitlines()[0]}') from None
    return parse_robot_config(data, str(path))
