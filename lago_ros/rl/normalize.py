# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Running observation normalisation and reward scaling, with checkpointable state.

Both live outside the environment (unlike gymnasium's wrappers) so that the trainer owns their
state: it goes into PPO checkpoints and, for observations, into the exported ONNX policy.
"""

from typing import Dict, Tuple

import numpy as np
import torch


class RunningMeanStd:
    """Mean and variance of a stream of batches (parallel update of Chan et al.)."""

    def __init__(self, shape: Tuple[int, ...] = (), epsilon: float = 1e-4) -> None:
        """Start from mean 0, variance 1 with a tiny pseudo-count, so early batches dominate."""
        self.mean = np.zeros(shape, dtype=np.float64)
        self.var = np.ones(shape, dtype=np.float64)
        self.count = float(epsilon)

    def update(self, batch: np.ndarray) -> None:
        """Fold a batch (n, *shape) into the running statistics."""
        batch = np.asarray(batch, dtype=np.float64)
        n = batch.shape[0]
        if n == 0:
            return
        b_mean, b_var = batch.mean(axis=0), batch.var(axis=0)
        delta = b_mean - self.mean
        total = self.count + n
        self.mean = self.mean + delta * n / total
        m2 = self.var * self.count + b_var * n + delta ** 2 * self.count * n / total
        self.var = m2 / total
        self.count = total

    def state_dict(self) -> Dict:
        """Return the statistics as tensors and floats (loadable with weights_only=True)."""
        return {'mean': torch.tensor(np.asarray(self.mean)),
                'var': torch.tensor(np.asarray(self.var)), 'count': self.count}

    def load_state_dict(self, state: Dict) -> None:
        """Restore statistics written by `state_dict`, checking the shape."""
        mean = np.asarray(state['mean'], dtype=np.float64)
        if mean.shape != self.mean.shape:
            raise ValueError(f'normaliser statistics have shape {mean.shape}, expected '
                             f'{self.mean.shape}')
        self.mean = mean
        self.var = np.asarray(state['var'], dtype=np.float64)
        self.count = float(state['count'])


class ObservationNormalizer:
    """(obs - mean) / sqrt(var + eps), clipped to [-clip, clip]; identity when disabled."""

    def __init__(self, obs_dim: int, enabled: bool = True, clip: float = 10.0,
                 eps: float = 1e-8) -> None:
        """Create a normaliser for `obs_dim`-vectors."""
        self.enabled = enabled
        self.clip = float(clip)
        self.eps = float(eps)
        self.rms = RunningMeanStd((obs_dim,))

    def update(self, obs: np.ndarray) -> None:
        """Fold a batch of raw observations (n, obs_dim) into the statistics (if enabled)."""
        if self.enabled:
            self.rms.update(obs)

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        """Return normalised float32 observations without changing the statistics."""
        obs = np.asarray(obs, dtype=np.float64)
        if not self.enabled:
            return obs.astype(np.float32)
        out = (obs - self.rms.mean) / np.sqrt(self.rms.var + self.eps)
        return np.clip(out, -self.clip, self.clip).astype(np.float32)

    def scale_and_shift(self) -> Tuple[np.ndarray, np.ndarray]:
        """Return (mean, std) as float32 so an exporter can bake the normalisation into a graph."""
        if not self.enabled:
            size = self.rms.mean.shape
            return np.zeros(size, np.float32), np.ones(size, np.float32)
        return (self.rms.mean.astype(np.float32),
                np.sqrt(self.rms.var + self.eps).astype(np.float32))

    def state_dict(self) -> Dict:
        """Return settings and statistics for a checkpoint."""
        return {'enabled': self.enabled, 'clip': self.clip, 'eps': self.eps,
                'rms': self.rms.state_dict()}

    def load_state_dict(self, state: Dict) -> None:
        """Restore what `state_dict` returned."""
        self.enabled = bool(state['enabled'])
        self.clip = float(state['clip'])
        self.eps = float(state['eps'])
        self.rms.load_state_dict(state['rms'])


class RewardScaler:
    """
    Scale rewards by `scale`, and if `normalize`, also by 1/std of the discounted return.

    The return-based variant keeps value targets near unit scale whatever the task's reward
    magnitude; a fixed scale (e.g. 0.1) is the simpler, stationary alternative.
    """

    def __init__(self, num_envs: int, gamma: float, normalize: bool = True, scale: float = 1.0,
                 eps: float = 1e-8) -> None:
        """Create a scaler for `num_envs` parallel reward streams."""
        self.gamma = float(gamma)
        self.normalize = normalize
        self.scale = float(scale)
        self.eps = float(eps)
        self.returns = np.zeros(num_envs, dtype=np.float64)
        self.rms = RunningMeanStd(())

    def __call__(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        """Update the return statistics with one vector step and return the scaled rewards."""
        rewards = np.asarray(rewards, dtype=np.float64)
        if not self.normalize:
            return (rewards * self.scale).astype(np.float32)
        self.returns = self.returns * self.gamma + rewards
        self.rms.update(self.returns)
        self.returns[np.asarray(dones, dtype=bool)] = 0.0
        return (rewards * self.scale / np.sqrt(self.rms.var + self.eps)).astype(np.float32)

    def reset_returns(self) -> None:
        """Forget the in-flight discounted returns (all environments restart their episodes)."""
        self.returns[:] = 0.0

    def state_dict(self) -> Dict:
        """Return settings and statistics for a checkpoint (in-flight returns included)."""
        return {'gamma': self.gamma, 'normalize': self.normalize, 'scale': self.scale,
                'eps': self.eps, 'returns': torch.from_numpy(self.returns.copy()),
                'rms': self.rms.state_dict()}

    def load_state_dict(self, state: Dict) -> None:
        """Restore what `state_dict` returned."""
        self.gamma = float(state['gamma'])
        self.normalize = bool(state['normalize'])
        self.scale = float(state['scale'])
        self.eps = float(state['eps'])
        self.returns = np.asarray(state['returns'], dtype=np.float64).copy()
        self.rms.load_state_dict(state['rms'])
