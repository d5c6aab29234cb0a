# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Shared node plumbing: parameters declared from one table, and the spin-until-Ctrl-C loop.

Every node lists its parameters once as `Param` rows (name, default, description, range,
allowed values, read-only); `declare_parameters` turns the table into declarations and returns
the values, so no node repeats descriptor boilerplate and `ros2 param describe` shows the same
text as the docs. A float parameter also takes an integer (`ppo.beta:=0`), as YAML does.

Parameters are read-only unless their row is `tunable`: `ros2 param describe` says why in the
descriptor's additional constraints (READ_ONLY_REASON, or what a runtime change does), and
`on_runtime_change` hands a node the values a `ros2 param set` asks for, to accept or refuse
with a one-line reason.
"""

from dataclasses import dataclass
import signal
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions

from lago_ros.ros_env import configure_ros_environment

READ_ONLY_REASON = 'read once at start-up; restart the node to change it'
"""Why a parameter refuses `ros2 param set`, unless its row gives its own reason."""


class ParameterValueError(ValueError):
    """A parameter given to a node has the wrong type or lies outside its range."""


@dataclass(frozen=True)
class Param:
    """One row of a node's parameter table."""

    name: str
    """Parameter name, as written in YAML and on the command line."""
    default: Any
    """Default value; its type is the parameter's type (never an empty list)."""
    description: str
    """What the parameter does, shown by `ros2 param describe`."""
    low: Optional[float] = None
    """Smallest allowed value of a numeric parameter (inclusive)."""
    high: Optional[float] = None
    """Largest allowed value of a numeric parameter (inclusive)."""
    constraints: str = ''
    """Free-text constraint for `additional_constraints`."""
    choices: Tuple[Any, ...] = ()
    """Allowed values (checked at declaration and listed in `additional_constraints`)."""
    tunable: str = ''
    """
    What a change at runtime may do and when it takes effect (the node checks it in its
    `on_runtime_change` handler); '' for a read-only parameter, only read at start-up."""
    read_only_reason: str = READ_ONLY_REASON
    """Why a read-only parameter cannot change at runtime (in `additional_constraints`)."""

    @property
    def read_only(self) -> bool:
        """Whether `ros2 param set` is refused (every row that is not `tunable`)."""
        return not self.tunable

    @property
    def runtime(self) -> str:
        """What `ros2 param describe` says about changing the parameter at runtime."""
        return f'tunable at runtime: {self.tunable}' if self.tunable else self.read_only_reason

    def descriptor(self) -> ParameterDescriptor:
        """Return the ParameterDescriptor this row declares."""
        kind = Parameter.Type.from_parameter_value(self.default)
        constraints = self.constraints
        if self.choices:
            constraints = ' '.join(filter(None, (
                constraints, f'one of: {", ".join(str(c) for c in self.choices)}')))
        constraints = '; '.join(filter(None, (constraints, self.runtime)))
        descriptor = ParameterDescriptor(
            name=self.name, type=kind.value, description=self.description,
            read_only=self.read_only, additional_constraints=constraints)
        if self.low is not None or self.high is not None:
            if kind == Parameter.Type.INTEGER:
                descriptor.integer_range = [IntegerRange(
                    from_value=int(self.low), to_value=int(self.high), step=0)]
            elif kind == Parameter.Type.DOUBLE:
                descriptor.floating_point_range = [FloatingPointRange(
                    from_value=float(self.low), to_value=float(self.high), step=0.0)]
            else:
                raise TypeError(f'parameter {self.name} has a range but type {kind.name}; '
                                'expected an integer or double default')
        return descriptor


def _is_float_row(default: Any) -> bool:
    if isinstance(default, list):
        return bool(default) and all(isinstance(v, float) for v in default)
    return isinstance(default, float)


def _widened(value: Any) -> Any:
    """Return integers (or a list of them) given for a float parameter as floats."""
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, (list, tuple)) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return [float(v) for v in value]
    return value


def _override(node: Node, row: Param) -> Any:
    """Return the value given for `row` (or its default) whatever its type, by a probe."""
    probe = ParameterDescriptor(dynamic_typing=True)
    value = node.declare_parameter(row.name, row.default, probe).value
    node.undeclare_parameter(row.name)
    return value


def declare_parameters(node: Node, table: Sequence[Param]) -> Dict[str, Any]:
    """
    Declare every row of `table` on `node` and return {name: value} after overrides.

    A value of the wrong type, outside its range or not among its choices raises
    ParameterValueError naming the parameter and what was expected, instead of rclpy's generic
    exception. Float parameters are declared typed, with an integer override widened first.
    """
    values = {}
    for row in table:
        descriptor = row.descriptor()
        expected = type(row.default).__name__
        if row.low is not None or row.high is not None:
            expected += f' in [{row.low}, {row.high}]'
        try:
            if _is_float_row(row.default):
                value = _widened(_override(node, row))
                if isinstance(value, list) != isinstance(row.default, list) or not \
                        _is_float_row(value if isinstance(value, list) else [value]):
                    raise TypeError(f'got {value!r} of type {type(value).__name__}')
                values[row.name] = node.declare_parameter(
                    row.name, value, descriptor, ignore_override=True).value
            else:
                values[row.name] = node.declare_parameter(row.name, row.default,
                                                          descriptor).value
        except (ParameterException, TypeError, ValueError) as err:
            raise ParameterValueError(
                f'parameter {row.name!r} of node {node.get_name()!r} is invalid ({err}); '
                f'expected {expected}: {row.description}') from err
        if row.choices and values[row.name] not in row.choices:
            raise ParameterValueError(
                f'parameter {row.name!r} of node {node.get_name()!r} is '
                f'{values[row.name]!r}; expected one of {tuple(row.choices)}: {row.description}')
    return values


def on_runtime_change(node: Node, table: Sequence[Param],
                      apply: Callable[[Dict[str, Any]], str]) -> None:
    """
    Route `ros2 param set` of the table's tunable rows to `apply`, after declaration.

    rclpy refuses read-only rows, wrong types and values outside a row's range first. An
    integer (or a list of them) set on a float row is widened, as at start-up. `apply` gets
    {name: value} of one set call (several names when set atomically) and returns '' to accept
    (the node applies them and rclpy stores them) or the one-line reason it refuses them.
    """
    floats = {row.name for row in table if _is_float_row(row.default)}
    tunable = {row.name for row in table if row.tunable}

    def widen(parameters: List[Parameter]) -> List[Parameter]:
        return [Parameter(p.name, value=_widened(p.value)) if p.name in floats and
                _widened(p.value) is not p.value else p for p in parameters]

    def check(parameters: List[Parameter]) -> SetParametersResult:
        changes = {p.name: p.value for p in parameters if p.name in tunable}
        reason = apply(changes) if changes else ''
        return SetParametersResult(successful=not reason, reason=reason)

    node.add_pre_set_parameters_callback(widen)
    node.add_on_set_parameters_callback(check)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def spin_node(node_factory: Callable[[], Node], args: Optional[List[str]] = None,
              own_signals: bool = False) -> int:
    """
    Run one node on a SingleThreadedExecutor until Ctrl-C or shutdown; return the exit code.

    Not the EventsExecutor: with the rclpy 9.1.2 wheels it never answers service requests and
    ignores SIGINT/SIGTERM (measured: see docs/ros_graph.md), and these nodes host services.

    Configures the ROS environment, inits rclpy, builds the node (a ValueError here is a
    configuration error: logged, exit code 2), spins, and on Ctrl-C or an external shutdown
    destroys the node and shuts rclpy down cleanly.

    `own_signals`: SIGINT and SIGTERM raise KeyboardInterrupt here instead of rclpy shutting
    the context down first, so `destroy_node` can still publish (the deploy node's last safe
    command); the loop wakes every 0.1 s to notice them.
    """
    configure_ros_environment()
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO if own_signals
               else SignalHandlerOptions.ALL)
    if own_signals:
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
    node = None
    try:
        node = node_factory()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while not own_signals or rclpy.ok():
            executor.spin_once(timeout_sec=0.1 if own_signals else None)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except ValueError as err:
        rclpy.logging.get_logger('lago_ros').fatal(f'cannot start: {err}')
        return 2
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
