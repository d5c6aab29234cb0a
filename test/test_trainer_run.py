# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The trainer node and `lago train` share one run path: the same run-folder files, the same refusal
to resume with changed settings; its ROS parameters are the TrainConfig fields, typed.

Everything runs in this process on one executor: a sim bridge over a tiny fake backend and the
trainer node, no prior service (unguided), a budget of two updates.
"""

import numpy as np
import pytest

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip('rclpy')
from lago_ros.config import ConfigError  # noqa: E402
from lago_ros.nodes.codec import StepResult  # noqa: E402
from lago_ros.nodes.params import ParameterValueError  # noqa: E402
from lago_ros.nodes.sim_bridge import EnvBackend, SimBridge  # noqa: E402
from lago_ros.nodes.trainer import parameter_table, Trainer  # noqa: E402
from lago_ros.rl.run import RUN_FILES  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

OBS_DIM = 39


class _ShortEpisodes(EnvBackend):
    """Two fake reach-v3 envs whose episodes all last 4 steps; observation = step in episode."""

    task, num_envs, obs_dim, action_type, action_dim = 'reach-v3', 2, OBS_DIM, 'continuous', 4

    def __init__(self):
        self.t = 0

    def _result(self, done: bool) -> StepResult:
        obs = np.full((2, OBS_DIM), self.t % 4, np.float32)
        final = np.full_like(obs, 4.0) if done else np.zeros_like(obs)
        flags = np.full(2, done)
        return StepResult(obs, final, np.array([1.0, 0.5], np.float32), flags,
                          np.zeros(2, bool), flags.copy(), ['reach', 'reach'])

    def reset(self, seed):
        self.t = 0
        return self._result(False)

    def step(self, actions):
        self.t += 1
        return self._result(self.t % 4 == 0)


def _overrides(run_dir, **extra):
    values = {'prior_service': '', 'num_envs': 2, 'total_timesteps': 64, 'run_dir': str(run_dir),
              'eval_episodes': 2, 'checkpoint_every': 1, 'ppo.num_steps': 16,
              'ppo.minibatch_size': 16, 'ppo.update_epochs': 1, 'ppo.hidden_sizes': [8],
              'step_timeout': 30.0, 'bridge_wait_timeout': 30.0, **extra}
    return [Parameter(name, value=value) for name, value in values.items()]


@pytest.fixture
def graph():
    """A context with a bridge on the fake backend; yields a trainer factory."""
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    bridge = SimBridge(backend=_ShortEpisodes(), context=context)
    executor.add_node(bridge)
    nodes = []

    def trainer(run_dir, **extra):
        node = Trainer(executor, context=context, parameter_overrides=_overrides(run_dir, **extra))
        nodes.append(node)
        return node

    yield trainer
    for node in nodes:
        node.destroy_node()
    bridge.destroy_node()
    rclpy.shutdown(context=context)


def test_trainer_node_run_folder_matches_lago_train_and_refuses_changed_resume(graph, tmp_path):
    node = graph(tmp_path / 'run')
    node.train()
    summary = node.evaluate()
    assert summary['global_step'] == 64 and len(summary['eval']['returns']) == 2
    assert sorted(p.name for p in (tmp_path / 'run').iterdir()) == sorted(RUN_FILES)
    from lago_ros.rl.train_config import load_config

    stored = load_config(tmp_path / 'run' / 'config.yaml')
    assert (stored.num_envs, stored.ppo.num_steps, stored.ppo.hidden_sizes) == (2, 16, (8,))
    with pytest.raises(ConfigError, match=r'different settings: ppo\.beta \(0\.0 -> 0\.3\)'):
        graph(tmp_path / 'run', **{'ppo.beta': 0.3, 'total_timesteps': 128})
    resumed = graph(tmp_path / 'run', total_timesteps=96)
    resumed.train()
    assert resumed.agent.global_step == 96 and resumed.agent.update_index == 3


def test_integer_for_a_float_parameter_is_accepted_typed(graph, tmp_path):
    node = graph(tmp_path / 'run', **{'ppo.beta': 0, 'ppo.learning_rate': 1})
    assert node.cfg.guidance.beta == 0.0 and isinstance(node.cfg.guidance.beta, float)
    assert node.get_parameter('ppo.beta').type_ == Parameter.Type.DOUBLE
    assert node.cfg.ppo.learning_rate == 1.0 and node.cfg.ppo.target_kl is None
    assert not (tmp_path / 'run').exists()  # nothing is written before training starts


@pytest.mark.parametrize('name, value, message', [
    ('ppo.beta_schedule', 'cosine', r"'ppo.beta_schedule' .* expected one of \('constant'"),
    ('ppo.beta', 'high', r"'ppo.beta' .*expected float"),
    ('total_timesteps', -5, 'total_timesteps is -5; expected a positive integer'),
])
def test_bad_parameters_are_refused_in_one_line(graph, tmp_path, name, value, message):
    with pytest.raises(ValueError, match=message) as caught:
        graph(tmp_path / 'run', **{name: value})
    assert '\n' not in str(caught.value)
    assert isinstance(caught.value, (ParameterValueError, ConfigError))


def test_parameter_table_lists_choices():
    rows = {row.name: row for row in parameter_table()}
    assert rows['ppo.kl_direction'].choices == ('reverse', 'forward')
    assert 'one of: constant, linear, exponential' in \
        rows['ppo.beta_schedule'].descriptor().additional_constraints
    assert 'prior' not in rows and 'ppo.seed' not in rows and 'seed' in rows
