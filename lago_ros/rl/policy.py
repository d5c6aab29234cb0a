# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Actor-critic MLP for discrete (categorical) and continuous (diagonal Gaussian) actions.

The network sees normalised observations. For continuous actions the Gaussian is over the
unclipped action (its log-probabilities stay exact); only what is sent to the environment, and the
deterministic action, are clipped to the action bounds. `forward` is the deterministic action so
the ONNX exporter can trace the module as is.
"""

import math
from typing import NamedTuple, Optional, Sequence, Tuple

import gymnasium as gym
import numpy as np
import torch
from torch import nn, Tensor
from torch.nn import functional as F

from lago_ros.rl.distributions import DistParams


class ActOutput(NamedTuple):
    """One sampled step: the raw action, its log-probability and the state value."""

    action: Tensor
    log_prob: Tensor
    value: Tensor


def _mlp(sizes: Sequence[int], out_gain: float) -> nn.Sequential:
    """Tanh MLP with orthogonal init (gain sqrt 2 inside, `out_gain` on the last layer)."""
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        last = i == len(sizes) - 2
        linear = nn.Linear(n_in, n_out)
        nn.init.orthogonal_(linear.weight, out_gain if last else math.sqrt(2))
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if not last:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def _run_mlp(mlp: nn.Sequential, x: Tensor) -> Tensor:
    """
    Apply an `_mlp` layer by layer with the ops its modules would run.

    Skipping nn.Module call dispatch matters at one small batch per env step (measured: about a
    third of the policy's share of a rollout).
    """
    for layer in mlp:
        x = torch.tanh(x) if isinstance(layer, nn.Tanh) else F.linear(x, layer.weight, layer.bias)
    return x


class ActorCritic(nn.Module):
    """Separate actor and critic MLPs; a state-independent log-std for continuous actions."""

    def __init__(self, obs_dim: int, action_dim: int, discrete: bool,
                 hidden_sizes: Sequence[int] = (64, 64),
                 action_low: Optional[Sequence[float]] = None,
                 action_high: Optional[Sequence[float]] = None,
                 init_log_std: float = 0.0) -> None:
        """Build the networks; `action_dim` is the number of actions when `discrete`."""
        super().__init__()
        self.obs_dim = int(obs_dim)
        self.action_dim = int(action_dim)
        self.discrete = bool(discrete)
        hidden = [int(h) for h in hidden_sizes]
        self.actor = _mlp([self.obs_dim, *hidden, self.action_dim], out_gain=0.01)
        self.critic = _mlp([self.obs_dim, *hidden, 1], out_gain=1.0)
        if not self.discrete:
            self.log_std = nn.Parameter(torch.full((1, self.action_dim), float(init_log_std)))
            low = torch.full((self.action_dim,), -math.inf) if action_low is None else \
                torch.as_tensor(action_low, dtype=torch.float32)
            high = torch.full((self.action_dim,), math.inf) if action_high is None else \
                torch.as_tensor(action_high, dtype=torch.float32)
            self.register_buffer('action_low', low.reshape(self.action_dim).clone())
            self.register_buffer('action_high', high.reshape(self.action_dim).clone())

    @classmethod
    def from_spaces(cls, observation_space: gym.spaces.Box, action_space: gym.Space,
                    hidden_sizes: Sequence[int] = (64, 64)) -> 'ActorCritic':
        """Build a policy for one environment's observation and action spaces."""
        if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 1:
            raise ValueError(f'expected a flat Box observation space, got {observation_space}')
        obs_dim = observation_space.shape[0]
        if isinstance(action_space, gym.spaces.Discrete):
            return cls(obs_dim, int(action_space.n), True, hidden_sizes)
        if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
            return cls(obs_dim, action_space.shape[0], False, hidden_sizes,
                       action_low=action_space.low, action_high=action_space.high)
        raise ValueError(f'expected a Discrete or flat Box action space, got {action_space}')

    def dist_params(self, obs: Tensor) -> DistParams:
        """Return (logits,) or (mean, std) of the action distribution at `obs` (B, obs_dim)."""
        out = _run_mlp(self.actor, obs)
        if self.discrete:
            return (out,)
        return out, self.log_std.exp().expand_as(out)

    def value(self, obs: Tensor) -> Tensor:
        """Return the state values (B,)."""
        return _run_mlp(self.critic, obs).squeeze(-1)

    def _log_prob_entropy(self, params: DistParams, actions: Tensor) -> Tuple[Tensor, Tensor]:
        """Log-probability of `actions` and entropy, both (B,)."""
        if self.discrete:
            log_p = torch.log_softmax(params[0], dim=-1)
            chosen = log_p.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
            return chosen, -(log_p.exp() * log_p).sum(-1)
        mean, std = params
        log_std = std.log()
        z = (actions - mean) / std
        log_prob = (-0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        entropy = (0.5 + 0.5 * math.log(2 * math.pi) + log_std).sum(-1)
        return log_prob, entropy

    @torch.inference_mode()  # half the per-step cost of no_grad (measured, tiny batches)
    def act(self, obs_norm: Tensor, generator: Optional[torch.Generator] = None) -> ActOutput:
        """Sample actions for normalised observations, drawing noise from `generator`."""
        params = self.dist_params(obs_norm)
        if self.discrete:
            probs = torch.softmax(params[0], dim=-1)
            action = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        else:
            mean, std = params
            action = mean + std * torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
        log_prob, _ = self._log_prob_entropy(params, action)
        return ActOutput(action, log_prob, self.value(obs_norm))

    def evaluate(self, obs_norm: Tensor, actions: Tensor
                 ) -> Tuple[Tensor, Tensor, Tensor, DistParams]:
        """Return (log_prob, entropy, value, dist params) of stored actions, with gradients."""
        params = self.dist_params(obs_norm)
        log_prob, entropy = self._log_prob_entropy(params, actions)
        return log_prob, entropy, self.value(obs_norm), params

    def clip_action(self, action: Tensor) -> Tensor:
        """Clip continuous actions to the action bounds; discrete actions pass through."""
        if self.discrete:
            return action
        return torch.maximum(torch.minimum(action, self.action_high), self.action_low)

    def deterministic_action(self, obs_norm: Tensor) -> Tensor:
        """Argmax action (discrete) or the Gaussian mean clipped to the bounds (continuous)."""
        out = _run_mlp(self.actor, obs_norm)
        if self.discrete:
            return out.argmax(dim=-1)
        return self.clip_action(out)

    def forward(self, obs_norm: Tensor) -> Tensor:
        """Deterministic action; what an exported policy computes."""
        return self.deterministic_action(obs_norm)

    def to_env_action(self, action: Tensor) -> np.ndarray:
        """Convert (and for continuous actions clip) a batch of actions for `env.step`."""
        return self.clip_action(action).cpu().numpy()
