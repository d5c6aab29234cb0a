# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Shared node plumbing: parameters declared from one table, and the spin-until-Ctrl-C loop.

Every node lists its parameters once as `Param` rows (name, default, description, range,
read-only); `declare_parameters` turns the table into declarations and returns the values, so no
node repeats descriptor boilerplate and `ros2 param describe` shows the same text as the docs.
"""

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter

from lago_ros.ros_env import configure_ros_environment


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
    read_only: bool = True
    """True for parameters only read at start-up (changing them later would have no effect)."""
    constraints: str = ''
    """Free-text constraint for `additional_constraints` (e.g. allowed strings)."""

    def descriptor(self) -> ParameterDescriptor:
        """Return the ParameterDescriptor this row declares."""
        kind = Parameter.Type.from_parameter_value(self.default)
        descriptor = ParameterDescriptor(
            name=self.name, type=kind.value, description=self.description,
            read_only=self.read_only, additional_constraints=self.constraints)
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


def declare_parameters(node: Node, table: Sequence[Param]) -> Dict[str, Any]:
    """
    Declare every row of `table` on `node` and return {name: value} after overrides.

    A value of the wrong type or outside its range raises ParameterValueError naming the
    parameter and what was expected, instead of rclpy's generic exception.
    """
    values = {}
    for row in table:
        descriptor = row.descriptor()
        try:
            values[row.name] = node.declare_parameter(row.name, row.default, descriptor).value
        except (ParameterException, TypeError, ValueError) as err:
            expected = type(row.default).__name__
            if row.low is not None or row.high is not None:
                expected += f' in [{row.low}, {row.high}]'
            raise ParameterValueError(
                f'parameter {row.name!r} of node {node.get_name()!r} is invalid ({err}); '
                f'expected {expected}: {row.description}') from err
    return values


def spin_node(node_factory: Callable[[], Node], args: Optional[List[str]] = None) -> int:
    """
    Run one node on a SingleThreadedExecutor until Ctrl-C or shutdown; return the exit code.

    Not the EventsExecutor: with the rclpy 9.1.2 wheels it never answers service requests and
    ignores SIGINT/SIGTERM (measured: see docs/ros_graph.md), and these nodes host services.

    Configures the ROS environment, inits rclpy, builds the node (a ValueError here is a
    configuration error: logged, exit code 2), spins, and on Ctrl-C or an external shutdown
    destroys the node and shuts rclpy down cleanly.
    """
    configure_ros_environment()
    rclpy.init(args=args)
    node = None
    try:
        node = node_factory()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
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
