# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""`import lago_ros` registers one gymnasium id per task; each passes gymnasium's env checker."""

import os
from pathlib import Path
import subprocess
import sys
import warnings

import gymnasium as gym
from gymnasium.utils.env_checker import check_env
import numpy as np
import pytest

import lago_ros
from lago_ros.envs.instructions import instructions_for
from lago_ros.envs.registry import get_task, list_tasks, make_env

ROOT = Path(__file__).resolve().parents[1]
GYM_IDS = [get_task(name).gym_id for name in list_tasks()]
pytestmark = pytest.mark.filterwarnings('ignore:Constant.*may be too high:UserWarning')


def _environment_without_ros() -> dict[str, str]:
    """Return this process's environment minus every ROS and ament variable."""
    return {key: value for key, value in os.environ.items()
            if not key.startswith(('ROS_', 'AMENT_', 'COLCON_', 'RMW_'))
            and key not in ('PYTHONPATH', 'LD_LIBRARY_PATH')}


def test_every_task_has_an_id_with_its_episode_length():
    assert 'LaGO/ClevrRobot-v0' in GYM_IDS and 'LaGO/reach-v3' in GYM_IDS
    assert len(set(GYM_IDS)) == len(list_tasks())
    assert lago_ros.register_gym_ids() == GYM_IDS  # registering again changes nothing
    for name in list_tasks():
        spec = gym.spec(get_task(name).gym_id)
        assert spec.max_episode_steps == get_task(name).max_episode_steps
        assert isinstance(spec.entry_point, str) and spec.entry_point.startswith('lago_ros.')


@pytest.mark.parametrize('gym_id', GYM_IDS)
def test_check_env_passes_on_every_id(gym_id):
    env = gym.make(gym_id, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        check_env(env.unwrapped, skip_render_check=True)
        obs, info = env.reset(seed=1)  # through the wrappers gymnasium.make adds
        obs, _, _, _, step_info = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs)
    assert isinstance(info['instruction'], str) and step_info['instruction'] == info['instruction']
    env.close()


@pytest.mark.parametrize('task', ['push-v3', 'clevr-robot'])
def test_id_gives_the_registry_env_numbers_and_takes_split_and_seed(task):
    made = gym.make(get_task(task).gym_id, seed=5, split='test')
    direct = make_env(task, seed=5, split='test')
    for seed in (None, 8):
        obs, info = made.reset(seed=seed)
        expected_obs, expected_info = direct.reset(seed=seed)
        np.testing.assert_array_equal(obs, expected_obs)
        assert info['instruction'] == expected_info['instruction']
    if task == 'push-v3':
        assert info['instruction'] in instructions_for(task, 'test')
    assert made.unwrapped.split == 'test'
    made.close()
    direct.close()


def test_time_limit_comes_from_the_spec():
    env = gym.make('LaGO/ClevrRobot-v0', seed=0, max_episode_steps=3)
    env.reset()
    ends = [env.step(0)[3] for _ in range(3)]
    assert ends == [False, False, True]
    env.close()


def test_import_lago_ros_loads_no_simulator():
    code = ('import sys, lago_ros, gymnasium; '
            "print(sorted(m for m in ('mujoco', 'metaworld', 'torch', 'rclpy') "
            "if m in sys.modules), 'LaGO/reach-v3' in gymnasium.registry)")
    done = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.split() == ['[]', 'True']


@pytest.mark.parametrize('copy', ['source', 'installed'])
def test_clevr_id_works_with_no_ros_variable_set(tmp_path, copy):
    """The issue's one-liner, from this checkout and from the package installed in the venv."""
    env = _environment_without_ros()
    if copy == 'source':
        env['PYTHONPATH'] = str(ROOT)
    code = ("import gymnasium as gym, lago_ros; e = gym.make('LaGO/ClevrRobot-v0'); "
            "o, i = e.reset(seed=0); print(o.shape[0], bool(i['instruction']), lago_ros.__file__)")
    done = subprocess.run([sys.executable, '-c', code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f'{done.stderr} (installed copy stale? run `make venv`)'
    size, has_instruction, package_file = done.stdout.split()
    assert (size, has_instruction) == ('24', 'True')
    assert Path(package_file).is_relative_to(ROOT / 'lago_ros') == (copy == 'source')
    assert not any(key.startswith(('ROS_', 'AMENT_')) for key in env)
