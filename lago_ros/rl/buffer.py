# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Rollout storage for one PPO iteration: num_steps x num_envs transitions.

Beside the usual PPO tensors it keeps the final observations of episodes that ended mid-rollout
(needed to bootstrap truncated episodes). What a guidance needs (LaGO: raw observations and
instructions) it records itself (lago_ros/rl/guidance.py).
"""

from typing import Dict

import numpy as np
import torch
from torch import Tensor

from lago_ros.rl.gae import compute_gae


class RolloutBuffer:
    """Preallocated (num_steps, num_envs, ...) arrays filled one vector step at a time."""

    def __init__(self, num_steps: int, num_envs: int, obs_dim: int, action_dim: int,
                 discrete: bool) -> None:
        """Allocate storage; `action_dim` is ignored for discrete actions (stored as indices)."""
        self.num_steps, self.num_envs, self.obs_dim = num_steps, num_envs, obs_dim
        shape = (num_steps, num_envs)
        self.obs = torch.zeros(shape + (obs_dim,))
        self.actions = torch.zeros(shape, dtype=torch.long) if discrete else \
            torch.zeros(shape + (action_dim,))
        self.log_probs = torch.zeros(shape)
        self.values = torch.zeros(shape)
        self.rewards = torch.zeros(shape)
        self.terminations = torch.zeros(shape)
        self.dones = torch.zeros(shape)
        self.final_obs = torch.zeros(shape + (obs_dim,))
        self.next_values = torch.zeros(shape)
        self.advantages = torch.zeros(shape)
        self.returns = torch.zeros(shape)

    def add(self, t: int, obs: Tensor, action: Tensor, log_prob: Tensor, value: Tensor) -> None:
        """Store what was known when acting at step t."""
        self.obs[t] = obs
        self.actions[t] = action
        self.log_probs[t] = log_prob
        self.values[t] = value

    def add_outcome(self, t: int, reward: np.ndarray, terminated: np.ndarray,
                    dones: np.ndarray) -> None:
        """Store the (scaled) reward and the episode-end flags (terminated or truncated) of t."""
        self.rewards[t] = torch.as_tensor(reward, dtype=torch.float32)
        self.terminations[t] = torch.as_tensor(terminated, dtype=torch.float32)
        self.dones[t] = torch.as_tensor(dones, dtype=torch.float32)

    def set_next_values(self, last_values: Tensor, final_values: Tensor) -> None:
        """
        Fill next_values[t] with V(s_{t+1}), the value of the state that truly followed step t.

        That is the next step's value, `last_values` after the last step, and the value of the
        stored final observation (`final_values`, (T, N)) wherever an episode ended.
        """
        self.next_values[:-1] = self.values[1:]
        self.next_values[-1] = last_values
        ended = self.dones.bool()
        self.next_values[ended] = final_values[ended]

    def compute_advantages(self, gamma: float, gae_lambda: float) -> None:
        """Run GAE over the stored rollout (after `set_next_values`)."""
        self.advantages, self.returns = compute_gae(
            self.rewards, self.values, self.next_values, self.terminations, self.dones,
            gamma, gae_lambda)

    def flat(self) -> Dict[str, Tensor]:
        """Return the training tensors flattened to (num_steps * num_envs, ...)."""
        n = self.num_steps * self.num_envs
        data = {'obs': self.obs.reshape(n, self.obs_dim),
                'actions': self.actions.reshape((n,) + tuple(self.actions.shape[2:])),
                'log_probs': self.log_probs.reshape(n), 'values': self.values.reshape(n),
                'advantages': self.advantages.reshape(n), 'returns': self.returns.reshape(n)}
        return data
