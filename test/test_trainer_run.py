# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The trainer node and `lago train` share one run path.

The same run-folder files, the same refusal to resume with changed settings, and a resume that
continues from the stored weights and optimizer state; its ROS parameters are the TrainConfig
fields, typed. A bridge that stops answering costs the rollout (discarded, envs reset), not the
run; with no bridge at all the trainer exits 2.

Everything runs in this process on one executor: a sim bridge over a tiny fake backend and the
trainer node, no prior service (unguided), budgets of a few updates.
"""

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter

from lago_ros.config import ConfigError
from lago_ros.nodes.codec import StepResult
from lago_ros.nodes.params import ParameterValueError
from lago_ros.nodes.sim_bridge import EnvBackend, SimBridge
from lago_ros.nodes.trainer import parameter_table, Trainer
from lago_ros.rl.run import RUN_FILES

pytestmark = pytest.mark.ros

OBS_DIM = 39


class _ShortEpisodes(EnvBackend):
    """Two fake reach-v3 envs whose episodes all last 4 steps; observation = step in episode."""

    task, num_envs, obs_dim, action_type, action_dim = 'reach-v3', 2, OBS_DIM, 'continuous', 4

    def __init__(self):
        self.t = 0
        self.events = []
        """'reset' and 'step' in the order the bridge asked for them."""

    def _result(self, done: bool) -> StepResult:
        obs = np.full((2, OBS_DIM), self.t % 4, np.float32)
        final = np.full_like(obs, 4.0) if done else np.zeros_like(obs)
        flags = np.full(2, done)
        return StepResult(obs, final, np.array([1.0, 0.5], np.float32), flags,
                          np.zeros(2, bool), flags.copy(), ['reach', 'reach'])

    def reset(self, seed):
        self.t = 0
        self.events.append('reset')
        return self._result(False)

    def step(self, actions):
        self.events.append('step')
        self.t += 1
        return self._result(self.t % 4 == 0)


def _overrides(run_dir, **extra):
    values = {'prior_service': '', 'num_envs': 2, 'total_timesteps': 64, 'run_dir': str(run_dir),
              'eval_episodes': 2, 'checkpoint_every': 1, 'ppo.num_steps': 16,
              'ppo.minibatch_size': 16, 'ppo.update_epochs': 1, 'ppo.hidden_sizes': [8],
              'step_timeout': 30.0, 'bridge_wait_timeout': 30.0, **extra}
    return [Parameter(name, value=value) for name, value in values.items()]


class _SilentOnce(SimBridge):
    """A bridge that ignores the `silent_at`-th action it receives, as a bridge that hangs."""

    def __init__(self, silent_at: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.silent_at, self.actions = silent_at, 0

    def _on_action(self, action) -> None:
        self.actions += 1
        if self.actions != self.silent_at:
            super()._on_action(action)


@pytest.fixture
def silent_at():
    """Which action the bridge leaves unanswered (0: none); tests override it."""
    return 0


@pytest.fixture
def graph(silent_at):
    """Make a context with a bridge on the fake backend; yield a trainer factory."""
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    bridge = _SilentOnce(silent_at, backend=_ShortEpisodes(), context=context)
    executor.add_node(bridge)
    nodes = []

    def trainer(run_dir, **extra):
        node = Trainer(executor, context=context, parameter_overrides=_overrides(run_dir, **extra))
        nodes.append(node)
        return node

    trainer.bridge = bridge
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
    saved = _training_state(node.agent)
    resumed = graph(tmp_path / 'run', total_timesteps=96)
    start, loaded = resumed.run.start, []

    def start_and_record(*args):
        agent = start(*args)
        loaded.append(_training_state(agent))
        return agent

    resumed.run.start = start_and_record
    resumed.train()
    # The resumed agent starts from the stored weights, optimizer moments and normaliser.
    _assert_same_state(loaded[0], saved)
    assert resumed.agent.global_step == 96 and resumed.agent.update_index == 3


def _training_state(agent) -> dict:
    """Copy what training continues from: weights, Adam state, normaliser, counters."""
    import copy

    return copy.deepcopy({'policy': agent.policy.state_dict(),
                          'optimizer': agent.optimizer.state_dict(),
                          'obs_normalizer': agent.obs_normalizer.state_dict(),
                          'steps': (agent.global_step, agent.update_index)})


def _assert_same_state(actual, expected, where='state') -> None:
    """Equal nested dicts/lists of tensors, arrays and numbers (tensors element for element)."""
    import torch

    if isinstance(expected, dict):
        assert sorted(actual, key=str) == sorted(expected, key=str), where
        for key in expected:
            _assert_same_state(actual[key], expected[key], f'{where}.{key}')
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _assert_same_state(a, e, f'{where}[{i}]')
    elif isinstance(expected, torch.Tensor):
        assert torch.equal(actual, expected), where
    elif isinstance(expected, np.ndarray):
        np.testing.assert_array_equal(actual, expected, err_msg=where)
    else:
        assert actual == expected, where


@pytest.mark.parametrize('silent_at', [40])  # the 8th step of the third rollout
def test_a_bridge_that_stops_answering_costs_the_rollout_not_the_run(
        graph, tmp_path, silent_at):
    """The trainer discards the partial rollout, waits for the bridge, resets, trains on."""
    node = graph(tmp_path / 'run', step_timeout=10.0, total_timesteps=128)
    published, publish = [], node.publish_metrics

    def publish_and_record(agent, stats):
        published.append((agent.update_index, agent.global_step))
        publish(agent, stats)

    node.publish_metrics = publish_and_record
    node.train()
    events = graph.bridge.backend.events
    # The bridge's own reset and the trainer's; rollouts of 16 vector steps: two whole ones and
    # 7 steps of the third, whose 8th action goes unanswered; then a reset and two whole rollouts.
    assert events[:41] == ['reset', 'reset'] + ['step'] * 39
    assert events[41:] == ['reset'] + ['step'] * 32
    assert published == [(1, 32), (2, 64), (3, 96), (4, 128)]
    assert node.agent.global_step == 128


def test_trainer_exits_2_when_no_bridge_appears(tmp_path):
    from node_process import NodeProcess

    trainer = NodeProcess('trainer', '-p', 'bridge:=/nobody_here', '-p', "prior_service:=''",
                          '-p', 'bridge_wait_timeout:=2.0', '-p', f'run_dir:={tmp_path / "run"}')
    try:
        assert trainer.wait(300) == 2, trainer.log[-3000:]
    finally:
        trainer.stop()
    assert 'bridge /nobody_here did not appear within 2.0 s' in trainer.log
    assert not (tmp_path / 'run').exists()  # a run that never started leaves no folder


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
