# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Closed-form KL divergences between the policy and the action prior.

Both families LaGO needs have exact KLs, so the guidance term costs one cheap formula per sample
instead of a Monte-Carlo estimate. Parameters are passed as tuples so that one function serves both
families: ``(logits,)`` for a categorical, ``(mean, std)`` for a diagonal Gaussian.
"""

from typing import Tuple

import torch
from torch import Tensor

KL_DIRECTIONS = ('reverse', 'forward')

DistParams = Tuple[Tensor, ...]


def categorical_kl(p_logits: Tensor, q_logits: Tensor) -> Tensor:
    """KL(p || q) of categoricals given by logits over the last dim; shape (...)."""
    p_log = torch.log_softmax(p_logits, dim=-1)
    q_log = torch.log_softmax(q_logits, dim=-1)
    return (p_log.exp() * (p_log - q_log)).sum(dim=-1)


def gaussian_kl(p_mean: Tensor, p_std: Tensor, q_mean: Tensor, q_std: Tensor) -> Tensor:
    """
    KL(p || q) of diagonal Gaussians, summed over the last (action) dim; shape (...).

    Per dimension: log(s_q / s_p) + (s_p^2 + (m_p - m_q)^2) / (2 s_q^2) - 1/2.
    """
    var_ratio = (p_std / q_std).pow(2)
    mean_term = ((p_mean - q_mean) / q_std).pow(2)
    return 0.5 * (var_ratio + mean_term - 1.0 - var_ratio.log()).sum(dim=-1)


def kl_divergence(p: DistParams, q: DistParams) -> Tensor:
    """KL(p || q) for two parameter tuples of the same family (1 tuple item: categorical)."""
    if len(p) != len(q) or len(p) not in (1, 2):
        raise ValueError(f'KL needs two (logits,) or two (mean, std) tuples, got lengths '
                         f'{len(p)} and {len(q)}')
    if len(p) == 1:
        return categorical_kl(p[0], q[0])
    return gaussian_kl(p[0], p[1], q[0], q[1])


def policy_prior_kl(policy: DistParams, prior: DistParams, direction: str) -> Tensor:
    """
    Per-sample KL between policy and prior: 'reverse' is KL(pi || prior), 'forward' the other.

    Reverse KL is mode-seeking (the policy may commit to one of the prior's modes); forward KL is
    mass-covering (the policy must put probability wherever the prior does).
    """
    if direction == 'reverse':
        return kl_divergence(policy, prior)
    if direction == 'forward':
        return kl_divergence(prior, policy)
    raise ValueError(f'unknown KL direction {direction!r}; expected one of {KL_DIRECTIONS}')
