# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What a prior describes to its clients: its task's instructions and action layout."""

from types import SimpleNamespace

import pytest

from lago_ros.cli import main
from lago_ros.envs.families import family_of
from lago_ros.envs.instructions import METAWORLD_INSTRUCTIONS
from lago_ros.envs.tasks import get_task
from lago_ros.prior.describe import describe_prior, task_instructions


def config(task: str, obs_dim: int = 39, action_type: str = 'continuous', action_dim: int = 4):
    return SimpleNamespace(task=task, obs_dim=obs_dim, action_type=action_type,
                           action_dim=action_dim)


def test_metaworld_prior_lists_its_training_phrasings_and_action_axes():
    described = describe_prior(config('reach-v3'), 32)
    phrasings = METAWORLD_INSTRUCTIONS['reach-v3']
    assert described.instructions == [p for i, p in enumerate(phrasings) if i % 4 != 3]
    assert described.instructions[0] == 'Reach the goal position with the gripper.'
    assert described.action_names == ['dx', 'dy', 'dz', 'gripper']
    assert described.action_low == [-1.0] * 4 and described.action_high == [1.0] * 4
    assert (described.obs_dim, described.action_type, described.action_dim,
            described.max_instruction_tokens) == (39, 'continuous', 4, 32)
    assert '"fields"' in described.action_layout_json


def test_clevr_prior_lists_every_training_instruction_and_its_encoding():
    described = describe_prior(config('clevr-robot', 24, 'discrete', 40), 32)
    assert len(described.instructions) == len(set(described.instructions)) == 80 * 6
    assert set(described.instructions).isdisjoint(task_instructions('clevr-robot', 'test'))
    assert described.action_names == []  # the layout encodes indices, not per-dimension fields
    assert described.action_layout == family_of('clevr-robot').action_layout(
        get_task('clevr-robot'))


def test_prior_of_an_unregistered_task_still_describes_its_shape():
    described = describe_prior(config('my-robot-task', 7, 'continuous', 2), 16)
    assert described.task == 'my-robot-task' and described.instructions == []
    assert (described.obs_dim, described.action_dim) == (7, 2)
    assert described.action_layout_json == '{}'


def test_lago_tasks_lists_a_tasks_instructions_and_actions(capsys):
    assert main(['tasks', 'reach-v3']) == 0
    out = capsys.readouterr().out
    for phrasing in METAWORLD_INSTRUCTIONS['reach-v3']:
        assert phrasing in out
    assert 'train:' in out and 'test:' in out and 'gripper' in out


def test_lago_tasks_without_a_name_lists_every_task_and_an_instruction(capsys):
    assert main(['tasks']) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith('reach-v3') and 'Reach the goal position with the gripper.'
               in line for line in lines)
    assert any(line.startswith('clevr-robot') for line in lines)


def test_lago_tasks_refuses_an_unknown_task(capsys):
    assert main(['tasks', 'rech-v3']) == 2
    assert "Did you mean 'reach-v3'" in capsys.readouterr().err


@pytest.mark.parametrize('split', ['train', 'test'])
def test_task_instructions_are_the_env_splits(split):
    from lago_ros.envs.instructions import instructions_for

    assert task_instructions('push-v3', split) == instructions_for('push-v3', split)
