# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Parameters tunable at runtime: the trainer's ppo.beta, and the guards' ROS-free tightening.

The trainer runs in this process on the fake bridge of test_trainer_run (no prior service); the
beta a PPO update used is read from its logs (lago/beta, what the KL term is weighted by). The
deploy node's own `ros2 param set` tests are in test_deploy_node.py.
"""

import math

import numpy as np
import pytest
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from test_trainer_run import graph, silent_at  # noqa: F401 (fixtures)

from lago_ros.control.guards import CommandShaper, DeployConfigError
from lago_ros.nodes.params import READ_ONLY_REASON
from lago_ros.rl.checkpoint import load_checkpoint
from lago_ros.rl.guidance import GuidanceConfig, PriorGuidance, with_beta

pytestmark = pytest.mark.ros
DEADLINE = 20.0


def test_beta_set_at_runtime_is_the_beta_of_the_next_update(graph, tmp_path):  # noqa: F811
    node = graph(tmp_path / 'run', total_timesteps=96)  # three updates of 2 x 16 steps
    peer = graph.bridge  # any node on the executor can ask
    client = AsyncParameterClient(peer, node.get_fully_qualified_name())
    assert client.wait_for_services(timeout_sec=DEADLINE)
    future = client.set_parameters([Parameter('ppo.beta', value=0.1)])
    node.executor_.spin_until_future_complete(future, timeout_sec=DEADLINE)
    assert future.result().results[0].successful  # before training: the run starts with it
    refused = []
    publish = node.publish_metrics

    def publish_then_tune(agent, stats):
        publish(agent, stats)
        if agent.update_index == 1:
            for value in (-0.1, math.nan, math.inf):
                refused.append(node.set_parameters([Parameter('ppo.beta', value=value)])[0])
            assert node.set_parameters([Parameter('ppo.beta', value=0.25)])[0].successful

    node.publish_metrics = publish_then_tune
    node.train()
    assert [update['lago/beta'] for update in node.agent.history] == [0.1, 0.25, 0.25]
    assert all(not r.successful and 'beta must be a finite number >= 0' in r.reason
               for r in refused) and len(refused) == 3
    assert node.get_parameter('ppo.beta').value == 0.25
    assert load_checkpoint(node.run.checkpoint)['guidance']['config']['beta'] == 0.25


def test_other_trainer_parameters_are_read_only_and_say_why(graph, tmp_path):  # noqa: F811
    node = graph(tmp_path / 'run')
    for name, value in (('ppo.learning_rate', 0.1), ('bridge', '/other'), ('ppo.beta_final', 1.0)):
        result = node.set_parameters([Parameter(name, value=value)])[0]
        assert not result.successful and 'read-only' in result.reason, name
        assert node.describe_parameter(name).additional_constraints.endswith(READ_ONLY_REASON)
    beta = node.describe_parameter('ppo.beta')
    assert not beta.read_only and beta.additional_constraints.startswith('tunable at runtime:')
    assert node.set_parameters([Parameter('ppo.beta', value=0)])[0].successful  # int widened
    assert node.cfg.guidance.beta == 0.0 and isinstance(node.cfg.guidance.beta, float)


def test_with_beta_refuses_what_the_guidance_cannot_use():
    adaptive = GuidanceConfig(beta=0.1, adaptation='target_kl')
    with pytest.raises(ValueError, match="'target_kl' adapts beta itself"):
        with_beta(adaptive, 0.2)
    guidance = PriorGuidance(GuidanceConfig(beta=0.1, beta_schedule='linear', beta_final=0.0,
                                            beta_decay_steps=100), None)
    guidance.set_beta(0.4)
    assert guidance.schedule(0) == pytest.approx(0.4) and guidance.schedule(50) == \
        pytest.approx(0.2)  # a decaying schedule starts from the new beta
    with pytest.raises(ValueError, match='>= 0'):
        guidance.set_beta(-1.0)
    assert guidance.config.beta == 0.4


def test_tightening_clips_the_previous_command_into_the_new_range():
    shaper = CommandShaper(np.full(2, -1.0), np.full(2, 1.0), np.full(2, 0.1), velocity=False)
    shaper.last = np.array([0.9, -0.9])
    shaper.set_limits(np.full(2, -0.5), np.full(2, 0.5), np.full(2, 0.1))
    np.testing.assert_array_equal(shaper.safe(), [0.5, -0.5])  # a held position obeys them too
    np.testing.assert_array_equal(shaper.shape(np.array([1.0, 0.0])), [0.5, -0.4])
    with pytest.raises(DeployConfigError, match='expected min <= max and max_delta > 0'):
        shaper.set_limits(np.full(2, 0.6), np.full(2, 0.5), np.full(2, 0.1))
    np.testing.assert_array_equal(shaper.high, [0.5, 0.5])
