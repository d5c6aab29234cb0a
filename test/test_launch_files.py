# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Launch files: executables exist, parameter files resolve and match the nodes, launcher parses.

Also the launcher's own rules (substitutions, arguments, groups, conditions), and that Ctrl-C on
the launcher stops its nodes cleanly.
"""

import ast
import importlib
from pathlib import Path
import signal

import pytest
import yaml

from lago_ros.launcher import LaunchError, LaunchFile, main

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((ROOT / 'launch').glob('*.launch.xml'))
# Launch arguments without a default, and a value to parse the file with.
REQUIRED_ARGS = {'policy': '/tmp/policy.onnx', 'prior_path': '/tmp/prior'}


def _setup_nodes():
    tree = ast.parse((ROOT / 'setup.py').read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', '') == 'NODES':
            return set(ast.literal_eval(node.value))
    raise AssertionError('setup.py has no NODES list')


def _parse(path):
    text = path.read_text()
    args = {k: v for k, v in REQUIRED_ARGS.items() if f'name="{k}"' in text}
    return LaunchFile(path, args)


def _flatten(params, prefix=''):
    for key, value in params.items():
        if isinstance(value, dict):
            yield from _flatten(value, f'{prefix}{key}.')
        else:
            yield prefix + key


def _declared(module_name):
    module = importlib.import_module(module_name)
    table = getattr(module, 'PARAMETERS', None) or module.parameter_table()
    return {row.name for row in table}


def test_there_are_launch_files():
    names = {p.name for p in LAUNCH_FILES}
    assert {'train.launch.xml', 'sim_bridge.launch.xml', 'prior_service.launch.xml'} <= names


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_every_node_is_a_console_script_and_its_params_fit(path):
    launch = _parse(path)
    assert launch.nodes, f'{path.name} starts no node'
    scripts = _setup_nodes()
    for spec in launch.nodes:
        assert spec.package == 'lago_ros'
        assert spec.executable in scripts, f'{spec.executable} is not in setup.py NODES'
        declared = _declared(f'lago_ros.nodes.{spec.executable}')
        for param_file in spec.param_files:
            assert Path(param_file).is_file()
            document = yaml.safe_load(Path(param_file).read_text())
            section = document.get(spec.name) or document.get('/**')
            assert section, f'{param_file} has no section for node {spec.name}'
            unknown = set(_flatten(section['ros__parameters'])) - declared
            assert not unknown, f'{param_file}: {spec.name} declares no {sorted(unknown)}'
        unknown = {key for key, _ in spec.params} - declared
        assert not unknown, f'{path.name}: {spec.name} declares no {sorted(unknown)}'


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launcher_shows_every_file(path, capsys):
    args = [f'{k}:={v}' for k, v in REQUIRED_ARGS.items() if f'name="{k}"' in path.read_text()]
    assert main(['--show', str(path)] + args) == 0
    commands = [line for line in capsys.readouterr().out.splitlines() if '--ros-args' in line]
    assert len(commands) == len(_parse(path).nodes)


@pytest.mark.parametrize('where', ['first', 'middle', 'last'])
def test_show_works_wherever_it_is_placed(where, tmp_path, capsys):
    params = tmp_path / 'q.yaml'
    params.write_text('prior_service:\n  ros__parameters: {}\n')
    items = ['prior_service.launch.xml', 'prior_path:=/p', f'params:={params}']
    items.insert({'first': 0, 'middle': 2, 'last': 3}[where], '--show')
    assert main(items) == 0
    out = capsys.readouterr().out
    assert 'arg prior_path:' in out
    [command] = [line for line in out.splitlines() if '--ros-args' in line]
    assert command.endswith('-p prior_path:=/p') and f'--params-file {params}' in command


def test_train_launch_passes_arguments_to_all_nodes():
    launch = LaunchFile(ROOT / 'launch' / 'train.launch.xml',
                        {'task': 'push-v3', 'num_envs': '3', 'prior_path': '/p'})
    by_name = {spec.name: spec for spec in launch.nodes}
    assert set(by_name) == {'sim_bridge', 'prior_service', 'trainer'}
    assert ('num_envs', '3') in by_name['sim_bridge'].params
    assert ('num_envs', '3') in by_name['trainer'].params
    assert ('task', 'push-v3') in by_name['trainer'].params
    assert ('prior_path', '/p') in by_name['prior_service'].params
    assert ('run_dir', 'runs/ros-push-v3-seed0') in by_name['trainer'].params
    assert by_name['trainer'].required and not by_name['sim_bridge'].required
    command = by_name['trainer'].command()
    assert command[1:3] == ['-m', 'lago_ros.nodes.trainer']
    assert command[command.index('--params-file') + 1].endswith('config/trainer.yaml')


def _write(tmp_path, body):
    path = tmp_path / 'x.launch.xml'
    path.write_text(f'<launch>{body}</launch>')
    return path


def test_launcher_rules(tmp_path, monkeypatch):
    monkeypatch.setenv('LAGO_TEST_NS', 'robot1')
    path = _write(tmp_path, """
      <arg name="on" default="true"/>
      <let name="rate" value="5.0"/>
      <group namespace="$(env LAGO_TEST_NS)">
        <set_env name="MY_VAR" value="1"/>
        <node pkg="lago_ros" exec="sim_bridge" name="b" if="$(var on)">
          <param name="joint_state_rate" value="$(var rate)"/>
          <remap from="~/action" to="/cmd"/>
        </node>
      </group>
      <node pkg="lago_ros" exec="trainer" name="t" unless="$(var on)"/>
      <node pkg="lago_ros" exec="trainer" name="u" namespace="$(env LAGO_UNSET fallback)"/>""")
    launch = LaunchFile(path)
    assert [(n.name, n.namespace) for n in launch.nodes] == [('b', 'robot1'), ('u', 'fallback')]
    bridge = launch.nodes[0]
    assert bridge.params == [('joint_state_rate', '5.0')] and bridge.env == {'MY_VAR': '1'}
    assert bridge.remaps == [('~/action', '/cmd')]
    assert 'MY_VAR' not in launch.nodes[1].env
    assert [n.name for n in LaunchFile(path, {'on': 'false'}).nodes] == ['t', 'u']


@pytest.mark.parametrize('body, arguments, message', [
    ('<node pkg="lago_ros" exec="trainer" name="$(var missing)"/>', {}, 'undefined'),
    ('<arg name="a"/>', {}, "argument 'a' is required"),
    ('<arg name="a" default="1"/>', {'b': '2'}, "no argument(s) ['b']"),
    ('<node pkg="lago_ros" exec="trainer"><param from="/no/such.yaml"/></node>', {},
     'does not exist'),
    ('<executable cmd="ls"/>', {}, 'unsupported element <executable>'),
    ('<node pkg="lago_ros" exec="t" name="$(eval 1+1)"/>', {}, 'unsupported substitution'),
])
def test_launcher_rejects_bad_files(tmp_path, body, arguments, message):
    with pytest.raises(LaunchError, match=message.replace('(', r'\(').replace(')', r'\)')
                       .replace('[', r'\[').replace(']', r'\]')):
        LaunchFile(_write(tmp_path, body), arguments)


def test_unknown_executable_is_refused(tmp_path):
    spec = LaunchFile(_write(tmp_path, '<node pkg="demo_nodes_cpp" exec="talker"/>')).nodes[0]
    with pytest.raises(LaunchError, match='use ros2 launch'):
        spec.command()


@pytest.mark.ros
def test_ctrl_c_stops_the_nodes_cleanly():
    from node_process import NodeProcess

    launch_file = ROOT / 'launch' / 'sim_bridge.launch.xml'
    launcher = NodeProcess('', argv=['-m', 'lago_ros.launcher', str(launch_file), 'num_envs:=1'])
    try:
        launcher.wait_for('hosting 1 x reach-v3', 300)  # built: Ctrl-C from here on is clean
        launcher.process.send_signal(signal.SIGINT)
        assert launcher.wait(300) == 0
    finally:
        launcher.stop()
    assert 'sim_bridge exited with code 0' in launcher.log, launcher.log
