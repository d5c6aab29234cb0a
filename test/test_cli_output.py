# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What the `lago` command prints: the real options of export/launch, only the project's logs."""

import logging

import pytest

from lago_ros.cli import main


@pytest.mark.parametrize('command,options', [
    ('export', ['checkpoint', 'out', '--task', '--opset', '--no-extra-output']),
    ('launch', ['file', 'name:=value', '--show']),
])
def test_help_of_export_and_launch_lists_their_options(command, options, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, '-h'])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f'usage: lago {command} ')
    assert all(option in out for option in options), out


def test_other_commands_still_refuse_unknown_arguments(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(['tasks', '--bogus'])
    assert exit_info.value.code == 2
    assert 'unrecognized arguments: --bogus' in capsys.readouterr().err


def test_only_the_project_loggers_print(capsys):
    assert main(['tasks']) == 0
    capsys.readouterr()
    logging.getLogger('OpenGL.acceleratesupport').info('No OpenGL_accelerate module loaded')
    logging.getLogger('lago_ros.rl.ppo').info('update 1')
    logging.getLogger('lago.run').debug('not shown without -v')
    err = capsys.readouterr().err
    assert 'lago_ros.rl.ppo INFO: update 1' in err
    assert 'OpenGL' not in err and 'not shown' not in err
    assert main(['-v', 'tasks']) == 0
    logging.getLogger('lago.run').debug('shown with -v')
    err = capsys.readouterr().err
    assert err.count('shown with -v') == 1  # one handler, not one per call
