# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
A pip-only launcher for our ROS 2 XML launch files (no `launch`/`ros2 launch` needed).

It reads the same files `ros2 launch lago_ros train.launch.xml` reads and starts every <node> as
`python -m <module>` with `--ros-args` (node name, namespace, parameter files, parameters,
remaps). Supported: <launch>, <arg name default description>, <let>, <node pkg exec name namespace
output on_exit> with nested <param from/> <param name value/> <remap from to/>, <include file>
with nested <arg>, <group> (scoped), <push_ros_namespace>, <set_env>, `if`/`unless` attributes
and the substitutions $(var x), $(find-pkg-share pkg), $(env NAME [default]). Ctrl-C (SIGINT) and
SIGTERM are forwarded to the nodes as SIGINT; the launcher waits for them to exit cleanly. A node
with on_exit="shutdown" is required: when it exits, the others are stopped and its exit code
becomes the launcher's.
"""

import argparse
from dataclasses import dataclass, field
from importlib import metadata
import os
from pathlib import Path
import re
import signal
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence
import xml.etree.ElementTree as ET

PACKAGE = 'lago_ros'
STOP_TIMEOUT = 10.0
_SUBSTITUTION = re.compile(r'\$\(([a-z-]+)((?:\s+[^)\s]+)*)\s*\)')


class LaunchError(ValueError):
    """A launch file that is malformed or asks for something this launcher cannot do."""


def console_scripts(package: str = PACKAGE) -> Dict[str, str]:
    """Map executable names to modules for the package's console scripts (install metadata)."""
    scripts = {}
    for entry in metadata.entry_points(group='console_scripts'):
        module = entry.value.split(':')[0]
        if module.split('.')[0] == package:
            scripts[entry.name] = module
    return scripts


def find_package_share(package: str) -> str:
    """Share directory of an installed ROS package, through the ament index."""
    from ament_index_python.packages import get_package_share_directory, PackageNotFoundError

    try:
        return get_package_share_directory(package)
    except PackageNotFoundError as err:
        raise LaunchError(f'package {package!r} is not in the ament index ({err}); install it '
                          'and check AMENT_PREFIX_PATH') from err


@dataclass
class NodeSpec:
    """One process to start: a package executable with its ROS arguments."""

    package: str
    executable: str
    name: str = ''
    namespace: str = ''
    param_files: List[str] = field(default_factory=list)
    params: List[tuple] = field(default_factory=list)
    remaps: List[tuple] = field(default_factory=list)
    env: Dict[str, str] = field(default_factory=dict)
    required: bool = False

    def command(self, scripts: Optional[Dict[str, str]] = None) -> List[str]:
        """Return the command line that starts this node with this Python."""
        scripts = console_scripts(self.package) if scripts is None else scripts
        if self.package != PACKAGE or self.executable not in scripts:
            raise LaunchError(
                f'cannot start {self.package}/{self.executable}: this launcher only starts '
                f'{PACKAGE} console scripts ({", ".join(sorted(scripts))}); use ros2 launch')
        ros_args = []
        if self.name:
            ros_args += ['-r', f'__node:={self.name}']
        if self.namespace:
            ros_args += ['-r', f'__ns:={self.namespace}']
        for path in self.param_files:
            ros_args += ['--params-file', path]
        for key, value in self.params:
            ros_args += ['-p', f'{key}:={value}']
        for source, target in self.remaps:
            ros_args += ['-r', f'{source}:={target}']
        command = [sys.executable, '-m', scripts[self.executable]]
        return command + (['--ros-args'] + ros_args if ros_args else [])


@dataclass
class _Scope:
    """Variables, environment and namespace visible at one point of a launch file."""

    variables: Dict[str, str]
    env: Dict[str, str]
    namespace: str = ''

    def child(self) -> '_Scope':
        return _Scope(dict(self.variables), dict(self.env), self.namespace)


def substitute(text: str, scope: _Scope) -> str:
    """Expand $(var), $(find-pkg-share) and $(env) in `text`."""
    def expand(match: re.Match) -> str:
        kind, args = match.group(1), match.group(2).split()
        if kind == 'var' and len(args) == 1:
            if args[0] not in scope.variables:
                raise LaunchError(f'$(var {args[0]}) is undefined; declare it with <arg> or '
                                  f'<let> (known: {", ".join(sorted(scope.variables))})')
            return scope.variables[args[0]]
        if kind == 'find-pkg-share' and len(args) == 1:
            return find_package_share(args[0])
        if kind == 'env' and len(args) in (1, 2):
            value = scope.env.get(args[0], os.environ.get(args[0]))
            if value is None and len(args) == 1:
                raise LaunchError(f'$(env {args[0]}) is not set and has no default')
            return value if value is not None else args[1]
        raise LaunchError(f'unsupported substitution {match.group(0)!r}; expected $(var x), '
                          '$(find-pkg-share pkg) or $(env NAME [default])')

    return _SUBSTITUTION.sub(expand, text)


def _truthy(text: str) -> bool:
    value = text.strip().lower()
    if value not in ('true', 'false', '1', '0'):
        raise LaunchError(f'condition {text!r} must be true or false')
    return value in ('true', '1')


class LaunchFile:
    """A parsed launch file: the nodes it starts, given the launch arguments."""

    def __init__(self, path: os.PathLike, arguments: Optional[Dict[str, str]] = None) -> None:
        """Parse `path` with `arguments` (name -> value, as `name:=value` on the command line)."""
        self.path = Path(path)
        self.nodes: List[NodeSpec] = []
        self.declared: Dict[str, str] = {}
        self._load(self.path, dict(arguments or {}), _Scope({}, {}), top=True)

    def _load(self, path: Path, arguments: Dict[str, str], scope: _Scope, top: bool) -> None:
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as err:
            raise LaunchError(f'cannot read launch file {path}: {err}') from err
        if root.tag != 'launch':
            raise LaunchError(f'{path}: root element is <{root.tag}>, expected <launch>')
        scope = _Scope(dict(arguments), dict(scope.env), scope.namespace)
        declared = {child.get('name') for child in root if child.tag == 'arg'}
        unknown = sorted(set(arguments) - declared)
        if unknown:
            raise LaunchError(f'{path.name} has no argument(s) {unknown}; it declares '
                              f'{sorted(declared)}')
        self._children(root, scope, path, top)

    def _children(self, element: ET.Element, scope: _Scope, path: Path, top: bool) -> None:
        for child in element:
            if not self._enabled(child, scope):
                continue
            handler = getattr(self, f'_tag_{child.tag}', None)
            if handler is None:
                raise LaunchError(f'{path.name}: unsupported element <{child.tag}>')
            handler(child, scope, path, top)

    def _enabled(self, element: ET.Element, scope: _Scope) -> bool:
        if 'if' in element.attrib and not _truthy(substitute(element.get('if'), scope)):
            return False
        return not ('unless' in element.attrib
                    and _truthy(substitute(element.get('unless'), scope)))

    def _attr(self, element: ET.Element, name: str, scope: _Scope, path: Path,
              default: Optional[str] = None) -> str:
        value = element.get(name)
        if value is None:
            if default is None:
                raise LaunchError(f'{path.name}: <{element.tag}> needs a {name!r} attribute')
            return default
        return substitute(value, scope)

    def _tag_arg(self, element: ET.Element, scope: _Scope, path: Path, top: bool) -> None:
        name = element.get('name')
        if name not in scope.variables:
            if 'default' not in element.attrib:
                raise LaunchError(f'{path.name}: argument {name!r} is required '
                                  f'({element.get("description", "no description")})')
            scope.variables[name] = self._attr(element, 'default', scope, path)
        if top:
            self.declared[name] = element.get('description', '')

    def _tag_let(self, element: ET.Element, scope: _Scope, path: Path, top: bool) -> None:
        scope.variables[element.get('name')] = self._attr(element, 'value', scope, path)

    def _tag_set_env(self, element: ET.Element, scope: _Scope, path: Path, top: bool) -> None:
        scope.env[self._attr(element, 'name', scope, path)] = self._attr(element, 'value',
                                                                         scope, path)

    def _tag_push_ros_namespace(self, element: ET.Element, scope: _Scope, path: Path,
                                top: bool) -> None:
        scope.namespace = _join_namespace(scope.namespace,
                                          self._attr(element, 'namespace', scope, path))

    def _tag_group(self, element: ET.Element, scope: _Scope, path: Path, top: bool) -> None:
        inner = scope.child()
        if 'namespace' in element.attrib:
            inner.namespace = _join_namespace(inner.namespace,
                                              self._attr(element, 'namespace', scope, path))
        self._children(element, inner, path, top)

    def _tag_include(self, element: ET.Element, scope: _Scope, path: Path, top: bool) -> None:
        target = Path(self._attr(element, 'file', scope, path))
        if not target.is_absolute():
            target = path.parent / target
        arguments = {arg.get('name'): self._attr(arg, 'value', scope, path)
                     for arg in element if arg.tag == 'arg'}
        self._load(target, arguments, scope, top=False)

    def _tag_node(self, element: ET.Element, scope: _Scope, path: Path, top: bool) -> None:
        spec = NodeSpec(
            package=self._attr(element, 'pkg', scope, path),
            executable=self._attr(element, 'exec', scope, path),
            name=self._attr(element, 'name', scope, path, ''),
            namespace=_join_namespace(scope.namespace,
                                      self._attr(element, 'namespace', scope, path, '')),
            env=dict(scope.env),
            required=self._attr(element, 'on_exit', scope, path, '') == 'shutdown')
        for child in element:
            if child.tag == 'param' and 'from' in child.attrib:
                param_file = self._attr(child, 'from', scope, path)
                if not Path(param_file).is_file():
                    raise LaunchError(f'{path.name}: parameter file {param_file} does not exist')
                spec.param_files.append(param_file)
            elif child.tag == 'param':
                spec.params.append((self._attr(child, 'name', scope, path),
                                    self._attr(child, 'value', scope, path)))
            elif child.tag == 'remap':
                spec.remaps.append((self._attr(child, 'from', scope, path),
                                    self._attr(child, 'to', scope, path)))
            else:
                raise LaunchError(f'{path.name}: unsupported <{child.tag}> inside <node>')
        self.nodes.append(spec)


def _join_namespace(outer: str, inner: str) -> str:
    if inner.startswith('/'):
        return inner.rstrip('/')
    return '/'.join(part for part in (outer.rstrip('/'), inner.strip('/')) if part) or ''


def resolve_launch_file(name: str, package: str = PACKAGE) -> Path:
    """Resolve a path, or a file name looked up in the package's share/launch folder."""
    path = Path(name)
    if path.is_file():
        return path.resolve()
    candidate = Path(find_package_share(package)) / 'launch' / name
    if not candidate.is_file():
        raise LaunchError(f'no launch file {name!r}: not a path and not in {candidate.parent}')
    return candidate


class Launcher:
    """Runs the nodes of a LaunchFile as child processes and stops them cleanly."""

    def __init__(self, launch: LaunchFile) -> None:
        """Prepare to start `launch`'s nodes."""
        self.launch = launch
        self.processes: List[tuple] = []
        self._stopping = False

    def start(self) -> None:
        """Start every node in file order, each in its own session (signals come from us)."""
        scripts = console_scripts()
        for spec in self.launch.nodes:
            command = spec.command(scripts)
            process = subprocess.Popen(command, env={**os.environ, **spec.env},
                                       start_new_session=True)
            print(f'[launcher] started {spec.name or spec.executable} (pid {process.pid}): '
                  f'{" ".join(command)}', flush=True)
            self.processes.append((spec, process))

    def _on_signal(self, signum: int, frame: object) -> None:
        self._stopping = True

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGINT every running node, then SIGTERM and SIGKILL what outlives `timeout`."""
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            running = [p for _, p in self.processes if p.poll() is None]
            if not running:
                return
            for process in running:
                process.send_signal(sig)
            deadline = time.monotonic() + timeout
            while any(p.poll() is None for p in running) and time.monotonic() < deadline:
                time.sleep(0.05)

    def run(self) -> int:
        """Start, supervise and stop the nodes; return the launch's exit code."""
        previous = {sig: signal.signal(sig, self._on_signal)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        code = 0
        reported: set = set()
        try:
            self.start()
            while not self._stopping and len(reported) < len(self.processes):
                for spec, rc in self._newly_exited(reported):
                    if spec.required:
                        code, self._stopping = rc, True
                    elif rc:
                        code = code or rc
                time.sleep(0.1)
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        for _, rc in self._newly_exited(reported):
            code = code or (rc and 1)
        return code

    def _newly_exited(self, reported: set) -> List[tuple]:
        """Log and return (spec, exit code) of nodes that exited since the last call."""
        exited = []
        for spec, process in self.processes:
            rc = process.poll()
            if rc is not None and id(process) not in reported:
                reported.add(id(process))
                print(f'[launcher] {spec.name or spec.executable} exited with code {rc}',
                      flush=True)
                exited.append((spec, rc))
        return exited


def main(argv: Optional[Sequence[str]] = None) -> int:
    """`lago launch FILE [name:=value ...]`: run a launch file; --show prints the commands."""
    parser = argparse.ArgumentParser(
        prog='lago launch', description=__doc__.strip().splitlines()[0],
        epilog='example: lago launch train.launch.xml task:=reach-v3 prior_path:=runs/prior '
               "(--show anywhere lists the file's arguments and node commands)")
    parser.add_argument('file', help=f"launch file path, or a name in {PACKAGE}'s share/launch "
                        '(train.launch.xml, prior_service.launch.xml, ...)')
    parser.add_argument('arguments', nargs='*', help='launch arguments as name:=value')
    parser.add_argument('--show', action='store_true',
                        help='print the node commands and declared arguments, start nothing')
    options = parser.parse_intermixed_args(argv)
    from lago_ros.ros_env import configure_ros_environment

    configure_ros_environment()
    try:
        arguments = {}
        for item in options.arguments:
            name, sep, value = item.partition(':=')
            if not sep or not name:
                raise LaunchError(f'launch argument {item!r} must look like name:=value')
            arguments[name] = value
        launch = LaunchFile(resolve_launch_file(options.file), arguments)
        if options.show:
            for name, description in launch.declared.items():
                print(f'arg {name}: {description}')
            for spec in launch.nodes:
                print(' '.join(spec.command()))
            return 0
    except LaunchError as err:
        print(f'lago launch: {err}', file=sys.stderr)
        return 2
    return Launcher(launch).run()


if __name__ == '__main__':
    sys.exit(main())
