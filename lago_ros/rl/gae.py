# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Generalised advantage estimation with correct handling of terminations and truncations.

The rollout stores, for every step t, the value of the state that truly followed it
(``next_values[t]``): V(final_obs) when the episode ended there (the observation that came back
from the vector env already belongs to the next episode), V(obs[t+1]) otherwise. A termination
cuts the bootstrap (the true return after it is zero); a truncation keeps it, because the episode
was merely stopped. Either way the advantage recursion stops at an episode end.
"""

from typing import Tuple

import torch
from torch import Tensor


def compute_gae(rewards: Tensor, values: Tensor, next_values: Tensor, terminations: Tensor,
                dones: Tensor, gamma: float, gae_lambda: float) -> Tuple[Tensor, Tensor]:
    """
    Return (advantages, returns), each shaped like `rewards` (num_steps, num_envs).

    `terminations` marks true episode ends (no bootstrap); `dones` marks terminations or
    truncations (the end of the recursion). Both are float 0/1 tensors.
    """
    shapes = [tuple(x.shape) for x in (rewards, values, next_values, terminations, dones)]
    if len(set(shapes)) != 1:
        raise ValueError('GAE inputs (rewards, values, next_values, terminations, dones) must '
                         f'share one (num_steps, num_envs) shape, got {shapes}')
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        delta = rewards[t] + gamma * (1.0 - terminations[t]) * next_values[t] - values[t]
        running = delta + gamma * gae_lambda * (1.0 - dones[t]) * running
        advantages[t] = running
    return advantages, advantages + values
