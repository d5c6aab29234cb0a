# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
State-wise trust in the prior (GuidanceConfig.adaptation 'statewise'): one KL weight per state.

For each state i the prior was queried on, a score says how far to trust the prior there:

    score_i = -confidence * (h_i - mean_j h_j) + agreement * tanh(rho_i / 2) * A_i

- h_i, the prior's entropy per action dimension, from its own (unfloored) std, or the entropy
  of its categorical: a prior unsure of itself gets less weight. For a Gaussian h_i - mean h
  is the difference of mean log-stds, so with confidence 1 a state where the prior's std is
  twice as large in every dimension gets half the weight.
- rho_i = log prior(a_i | s_i) - log pi_old(a_i | s_i): the log-ratio of the action taken at
  s_i under the prior (as the KL sees it, std floored) and under the policy that took it, and
  A_i its advantage under the learner's critic (GAE, standardised over the rollout).
  (exp(rho) - 1) * A is an importance-sampling estimate of the advantage of acting by the
  prior at s_i, E_{a~prior}[A(s_i, a)] (unbiased because E_{a~pi}[A] = 0); no Q-function is
  needed. tanh(rho / 2) = (r - 1) / (r + 1) has its sign and is bounded in (-1, 1). The term is
  negative where the prior favours an action the critic found worse than expected, or
  disfavours one it found better: there the prior disagrees with what the learner measured,
  and the state is down-weighted. One sample per state is noisy, hence the bounded transform
  and the bounds on the weights.

The weights are w_i = beta * clip(exp(score_i + c), lo, hi) with the c that makes their mean
beta (`bounded_mean_weights`): bounded in [lo * beta, hi * beta], mean beta over the states the
prior saw, so beta (and its schedule) keeps its meaning as the strength of the pull.
"""

import math

import numpy as np
import torch
from torch import Tensor

from lago_ros.rl.distributions import DistParams

_STD_EPS = 1e-6
"""Smallest std the entropy reads (a prior may send 0; the KL floors it anyway)."""


def log_prob(params: DistParams, actions: Tensor) -> Tensor:
    """Log-probability (B,) of `actions` under (logits,) or diagonal (mean, std) parameters."""
    if len(params) == 1:
        log_p = torch.log_softmax(params[0], dim=-1)
        return log_p.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
    mean, std = params
    z = (actions - mean) / std
    return (-0.5 * z.pow(2) - std.log() - 0.5 * math.log(2 * math.pi)).sum(-1)


def entropy_per_dim(params: DistParams) -> Tensor:
    """Entropy (B,) of a categorical, or a diagonal Gaussian's entropy divided by its dims."""
    if len(params) == 1:
        log_p = torch.log_softmax(params[0], dim=-1)
        return -(log_p.exp() * log_p).sum(-1)
    log_std = params[1].clamp_min(_STD_EPS).log()
    return 0.5 + 0.5 * math.log(2 * math.pi) + log_std.mean(-1)


def prior_agreement(prior: DistParams, actions: Tensor, behaviour_log_probs: Tensor,
                    advantages: Tensor) -> Tensor:
    """
    Return tanh(rho / 2) * A (B,): the sign and bounded size of the prior's advantage estimate.

    `prior` as the KL sees it; `actions` and `behaviour_log_probs` as the rollout stored them
    (the log-probabilities of the policy that acted); `advantages` standardised.
    """
    rho = log_prob(prior, actions) - behaviour_log_probs
    return torch.tanh(0.5 * rho) * advantages


def trust_scores(raw_prior: DistParams, agreement_values: Tensor, confidence: float,
                 agreement: float) -> Tensor:
    """
    Return the scores (B,) of the module docstring for B states the prior saw.

    `raw_prior`: the prior's own parameters (its confidence); `agreement_values`: what
    `prior_agreement` returned for the same states.
    """
    entropy = entropy_per_dim(raw_prior)
    return -confidence * (entropy - entropy.mean()) + agreement * agreement_values


def bounded_mean_weights(scores: Tensor, mean: float, low: float, high: float,
                         iterations: int = 100) -> Tensor:
    """
    Return w = mean * clip(exp(scores + c), low, high) whose average is `mean` (low <= 1 <= high).

    The average of the clipped values grows monotonically with c from `low` to `high`, so
    bisection on c finds the one that gives 1; 100 halvings of a bracket a few hundred wide
    leave it exact to float64 rounding.
    """
    if not 0 <= low <= 1 <= high:
        raise ValueError(f'weight bounds must satisfy 0 <= low <= 1 <= high, got {low}, {high}')
    if len(scores) == 0 or low == high:
        return torch.full_like(scores, mean * low)
    s = scores.double().numpy()  # numpy: 100 small steps cost ~1 ms where torch's took ~10x
    log_low = math.log(low) if low > 0 else math.log(1e-300)
    lo_c, hi_c = log_low - s.max(), math.log(high) - s.min()

    def clipped(c: float) -> np.ndarray:
        with np.errstate(over='ignore'):  # exp overflows to inf: clipped to `high`
            return np.clip(np.exp(s + c), low, high)

    for _ in range(iterations):
        mid = 0.5 * (lo_c + hi_c)
        if clipped(mid).mean() < 1.0:
            lo_c = mid
        else:
            hi_c = mid
    weights = clipped(0.5 * (lo_c + hi_c))
    weights = np.clip(mean * weights / weights.mean(), mean * low, mean * high)
    return torch.from_numpy(weights).to(scores.dtype)
