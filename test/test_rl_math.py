# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Closed-form KLs, GAE, beta schedules and running normalisers of lago_ros.rl."""

import math

import numpy as np
import pytest
import torch
from torch.distributions import Categorical, Normal

from lago_ros.rl.buffer import RolloutBuffer
from lago_ros.rl.distributions import kl_divergence, policy_prior_kl
from lago_ros.rl.gae import compute_gae
from lago_ros.rl.normalize import ObservationNormalizer, RewardScaler, RunningMeanStd
from lago_ros.rl.schedules import BetaSchedule

SAMPLES = 400_000


def _monte_carlo_kl(p, q) -> torch.Tensor:
    """E_p[log p - log q] from samples, with its standard error; shape (batch,)."""
    x = p.sample((SAMPLES,))
    log_ratio = p.log_prob(x) - q.log_prob(x)
    if log_ratio.dim() == 3:  # Normal: sum the independent action dims
        log_ratio = log_ratio.sum(-1)
    return log_ratio.mean(0), log_ratio.std(0) / math.sqrt(SAMPLES)


@pytest.mark.parametrize('direction', ['reverse', 'forward'])
def test_categorical_kl_matches_monte_carlo(direction):
    torch.manual_seed(0)
    pi_logits, prior_logits = torch.randn(3, 5) * 1.5, torch.randn(3, 5) * 1.5
    closed = policy_prior_kl((pi_logits,), (prior_logits,), direction)
    pi, prior = Categorical(logits=pi_logits), Categorical(logits=prior_logits)
    estimate, stderr = _monte_carlo_kl(*((pi, prior) if direction == 'reverse' else (prior, pi)))
    assert closed.shape == (3,)
    assert torch.all((closed - estimate).abs() < 5 * stderr + 1e-4)
    assert torch.all(closed > 0)


@pytest.mark.parametrize('direction', ['reverse', 'forward'])
def test_gaussian_kl_matches_monte_carlo(direction):
    torch.manual_seed(1)
    pi_params = (torch.randn(2, 4), torch.rand(2, 4) + 0.3)
    prior_params = (torch.randn(2, 4), torch.rand(2, 4) + 0.3)
    closed = policy_prior_kl(pi_params, prior_params, direction)
    pi, prior = Normal(*pi_params), Normal(*prior_params)
    estimate, stderr = _monte_carlo_kl(*((pi, prior) if direction == 'reverse' else (prior, pi)))
    assert closed.shape == (2,)
    assert torch.all((closed - estimate).abs() < 5 * stderr + 1e-4)
    # The two directions differ for unequal variances, so a swapped implementation would fail.
    other = 'forward' if direction == 'reverse' else 'reverse'
    assert not torch.allclose(closed, policy_prior_kl(pi_params, prior_params, other))


def test_kl_is_zero_for_identical_distributions_and_rejects_bad_input():
    params = (torch.zeros(2, 3), torch.ones(2, 3))
    assert torch.allclose(kl_divergence(params, params), torch.zeros(2))
    assert torch.allclose(kl_divergence((params[0],), (params[0],)), torch.zeros(2))
    with pytest.raises(ValueError, match='direction'):
        policy_prior_kl(params, params, 'sideways')
    with pytest.raises(ValueError, match='tuples'):
        kl_divergence(params, (params[0],))


def test_gae_hand_computed_with_termination_and_truncation():
    # One env, 4 steps: step 1 terminates, step 2 is truncated (bootstrap V(final_obs) = 10),
    # the rollout ends after step 3 with V(next obs) = 3.
    gamma, lam = 0.9, 0.8
    rewards = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    values = torch.tensor([[0.5], [1.0], [1.5], [2.0]])
    terminations = torch.tensor([[0.0], [1.0], [0.0], [0.0]])
    dones = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    buffer = RolloutBuffer(4, 1, obs_dim=2, action_dim=1, discrete=True)
    buffer.values, buffer.rewards = values, rewards
    buffer.terminations, buffer.dones = terminations, dones
    final_values = torch.tensor([[99.0], [7.0], [10.0], [99.0]])
    buffer.set_next_values(torch.tensor([3.0]), final_values)
    assert buffer.next_values.flatten().tolist() == [1.0, 7.0, 10.0, 3.0]
    advantages, returns = compute_gae(rewards, values, buffer.next_values, terminations, dones,
                                      gamma, lam)
    # deltas: 1 + .9*1 - .5 = 1.4; 2 - 1 = 1 (terminal); 3 + .9*10 - 1.5 = 10.5; 4 + .9*3 - 2 = 4.7
    # A3 = 4.7; A2 = 10.5 (episode ends); A1 = 1.0 (episode ends); A0 = 1.4 + .72 * 1.0
    expected = torch.tensor([[2.12], [1.0], [10.5], [4.7]])
    assert torch.allclose(advantages, expected, atol=1e-6)
    assert torch.allclose(returns, expected + values, atol=1e-6)


def test_gae_rejects_mismatched_shapes():
    x = torch.zeros(3, 2)
    with pytest.raises(ValueError, match='shape'):
        compute_gae(x, x, torch.zeros(3, 1), x, x, 0.99, 0.95)


def test_beta_schedules_values():
    assert BetaSchedule('constant', 0.3)(10**6) == pytest.approx(0.3)
    linear = BetaSchedule('linear', 1.0, 0.1, 100)
    assert [linear(s) for s in (0, 50, 100, 1000)] == pytest.approx([1.0, 0.55, 0.1, 0.1])
    exponential = BetaSchedule('exponential', 1.0, 0.1, 100)
    assert [exponential(s) for s in (0, 100, 200)] == pytest.approx([1.0, 0.55, 0.325])
    assert exponential(10**6) == pytest.approx(0.1)
    with pytest.raises(ValueError, match='constant, linear|expected one of'):
        BetaSchedule('cosine', 1.0)
    with pytest.raises(ValueError, match='>= 0'):
        BetaSchedule('constant', -1.0)


def test_running_mean_std_matches_batch_statistics_and_round_trips():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(1000, 3))
    rms = RunningMeanStd((3,), epsilon=1e-12)
    for chunk in np.array_split(data, 7):
        rms.update(chunk)
    assert np.allclose(rms.mean, data.mean(0)) and np.allclose(rms.var, data.var(0))
    normalizer = ObservationNormalizer(3, clip=1.5)
    normalizer.update(data)
    restored = ObservationNormalizer(3)
    restored.load_state_dict(normalizer.state_dict())
    out = restored.normalize(data)
    assert np.array_equal(out, normalizer.normalize(data)) and np.abs(out).max() == 1.5
    with pytest.raises(ValueError, match='shape'):
        ObservationNormalizer(4).load_state_dict(normalizer.state_dict())


def test_reward_scaler_fixed_and_return_normalised():
    fixed = RewardScaler(2, gamma=0.99, normalize=False, scale=0.1)
    assert np.allclose(fixed(np.array([5.0, -10.0]), np.array([False, True])), [0.5, -1.0])
    scaler = RewardScaler(1, gamma=0.0, normalize=True)
    rng = np.random.default_rng(1)
    for _ in range(2000):  # with gamma = 0 the "return" is the reward itself
        scaled = scaler(rng.normal(0.0, 10.0, size=1), np.array([False]))
    assert abs(float(np.sqrt(scaler.rms.var)) - 10.0) < 1.0
    assert abs(float(scaled[0])) < 5.0
