# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
PPO for gymnasium-style vector envs, with one optional hook for a guidance term.

Each iteration (`learn`): collect `num_steps` vector steps, compute GAE advantages, let the
guidance prepare (LaGO: query the prior once on the rollout), then run `update_epochs` epochs of
minibatch updates of

    L = L_clip + vf_coef * L_V - ent_coef * H[pi]  (+ the guidance's term, if any).

The loop follows CleanRL's ppo_continuous_action.py; everything LaGO adds (beta schedule, prior
subset, std floor, KL direction, the prior query and the KL term) lives in
lago_ros/rl/guidance.py. Sampling and minibatch shuffling draw from a private torch.Generator,
so a prior or any other code that uses the global RNGs cannot perturb training.

Resuming: checkpoints hold everything but the environments. `PPO.load` marks the envs for a
reset with a seed derived from (config.seed, update index), the same reset `reset_envs` performs,
so the partial episodes that were running at save time are dropped.
"""

from collections import deque
import contextlib
import dataclasses
from dataclasses import dataclass
from datetime import timedelta
import logging
from pathlib import Path
import time
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

import numpy as np
import torch
from torch import nn

from lago_ros.rl.buffer import RolloutBuffer
from lago_ros.rl.checkpoint import (capture_rng_state, CheckpointError, load_checkpoint,
                                    restore_rng_state, save_checkpoint)
from lago_ros.rl.guidance import Guidance
from lago_ros.rl.metrics import EpisodeTracker, MetricsLogger
from lago_ros.rl.normalize import ObservationNormalizer, RewardScaler
from lago_ros.rl.policy import ActorCritic
from lago_ros.utils import PathLike, seed_everything

LOGGER = logging.getLogger(__name__)

CHECKPOINT_NAME = 'checkpoint.pt'


@dataclass
class PPOConfig:
    """Hyper-parameters of PPO; defaults follow common continuous-control PPO."""

    seed: int = 0
    """seed of policy init, action sampling, minibatch shuffling and environment resets"""
    num_steps: int = 512
    """vector-env steps per rollout (a batch is num_steps * num_envs transitions)"""
    learning_rate: float = 3e-4
    """Adam learning rate"""
    anneal_lr: bool = False
    """decay the learning rate linearly to 0 over the `total_timesteps` given to learn()"""
    gamma: float = 0.99
    """discount factor"""
    gae_lambda: float = 0.95
    """GAE lambda"""
    minibatch_size: int = 64
    """transitions per gradient step"""
    update_epochs: int = 10
    """passes over each rollout"""
    norm_adv: bool = True
    """normalise advantages within each minibatch"""
    clip_coef: float = 0.2
    """PPO ratio clip range"""
    clip_vloss: bool = True
    """clip the value update around the old values"""
    ent_coef: float = 0.0
    """entropy bonus coefficient"""
    vf_coef: float = 0.5
    """value loss coefficient"""
    max_grad_norm: float = 0.5
    """global gradient-norm clip"""
    target_kl: Optional[float] = None
    """stop an update's epochs early once approx KL(old || new) exceeds this"""
    hidden_sizes: Tuple[int, ...] = (64, 64)
    """hidden layer widths of the actor and critic MLPs"""
    init_log_std: float = 0.0
    """initial log standard deviation of continuous actions"""
    normalize_obs: bool = True
    """normalise observations with running statistics"""
    obs_clip: float = 10.0
    """clip normalised observations to [-obs_clip, obs_clip]"""
    normalize_reward: bool = True
    """divide rewards by the running std of the discounted return"""
    reward_scale: float = 1.0
    """fixed factor applied to rewards (after return normalisation, if enabled)"""
    success_window: int = 100
    """episodes in the rolling return / success-rate statistics"""
    log_interval: int = 10
    """updates between progress log lines"""
    torch_threads: int = 1
    """
    torch threads for the policy's own compute (0: keep the process setting); small MLPs run
    fastest on one, and a guidance's prior query runs outside this setting"""

    def __post_init__(self) -> None:
        """Normalise types and reject values that would fail later or silently misbehave."""
        self.hidden_sizes = tuple(int(h) for h in self.hidden_sizes)
        positive = ('num_steps', 'minibatch_size', 'update_epochs', 'success_window',
                    'log_interval', 'learning_rate')
        bad = [name for name in positive if not getattr(self, name) > 0]
        if bad:
            raise ValueError(f'PPOConfig fields {bad} must be > 0, got '
                             f'{[getattr(self, name) for name in bad]}')


@contextlib.contextmanager
def torch_threads(num_threads: int) -> Iterator[None]:
    """Run a block with `num_threads` intra-op torch threads (0: unchanged), then restore."""
    previous = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        if num_threads:
            torch.set_num_threads(previous)


def env_reset_seed(seed: int, update: int) -> int:
    """Seed for resetting the envs before update `update` (0 for a fresh run, k on resume)."""
    return int(np.random.SeedSequence([seed, update]).generate_state(1)[0])


class PPO:
    """PPO on a gymnasium-style vector env (autoreset mode SAME_STEP), optionally guided."""

    def __init__(self, config: PPOConfig, envs: Any, guidance: Optional[Guidance] = None,
                 run_dir: Optional[PathLike] = None, task: Optional[str] = None) -> None:
        """
        Seed everything, build policy, optimiser, normalisers and rollout storage.

        `guidance` adds a term to the loss (LaGO: lago_ros.rl.guidance.PriorGuidance); None is
        plain PPO. `task` (a registry name) is only recorded in checkpoints, for export and
        evaluation.
        """
        if guidance is not None and not callable(getattr(guidance, 'loss', None)):
            raise TypeError(f'guidance must implement lago_ros.rl.guidance.Guidance (e.g. '
                            f'PriorGuidance(GuidanceConfig(beta=0.1), prior)), got '
                            f'{type(guidance).__name__}')
        self.config = config
        self.task = task
        self.envs = envs
        self.guidance = guidance
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.num_envs = int(envs.num_envs)
        seed_everything(config.seed)
        self.generator = torch.Generator().manual_seed(config.seed)
        with torch_threads(config.torch_threads):  # orthogonal init runs QR decompositions
            self.policy = ActorCritic.from_spaces(envs.single_observation_space,
                                                  envs.single_action_space, config.hidden_sizes)
        if not self.policy.discrete:
            with torch.no_grad():
                self.policy.log_std.fill_(config.init_log_std)
        # foreach: one kernel per op over all parameters instead of one per parameter (measured
        # ~15% of an update on CPU; the same arithmetic, so the same results)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.learning_rate,
                                          eps=1e-5, foreach=True)
        obs_dim, action_dim = self.policy.obs_dim, self.policy.action_dim
        self.obs_normalizer = ObservationNormalizer(obs_dim, config.normalize_obs,
                                                    config.obs_clip)
        self.reward_scaler = RewardScaler(self.num_envs, config.gamma, config.normalize_reward,
                                          config.reward_scale)
        self.buffer = RolloutBuffer(config.num_steps, self.num_envs, obs_dim, action_dim,
                                    self.policy.discrete)
        if guidance is not None:
            guidance.bind(config.num_steps, self.num_envs, self.policy)
        self.global_step = 0
        self.update_index = 0
        self.history: list = []
        self._episode_returns: deque = deque(maxlen=config.success_window)
        self._episode_lengths: deque = deque(maxlen=config.success_window)
        self._episode_successes: deque = deque(maxlen=config.success_window)
        self._episodes = EpisodeTracker(self.num_envs)
        self._next_obs: Optional[np.ndarray] = None
        self._next_info: Dict[str, Any] = {}
        self._resume_step: Optional[int] = None
        self._logger: Optional[MetricsLogger] = None

    @property
    def batch_size(self) -> int:
        """Transitions per rollout."""
        return self.config.num_steps * self.num_envs

    def reset_envs(self) -> None:
        """Start fresh episodes in all envs, seeded from (seed, update index)."""
        obs, info = self.envs.reset(seed=env_reset_seed(self.config.seed, self.update_index))
        self._next_obs = np.asarray(obs, dtype=np.float32)
        self._next_info = info
        self._episodes.reset()
        self.reward_scaler.reset_returns()

    def _normalized(self, raw_obs: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(self.obs_normalizer.normalize(raw_obs))

    def _record_episodes(self, info: Dict, raw_rewards: np.ndarray, dones: np.ndarray) -> None:
        """Add the raw return, length and success of episodes that just ended to the windows."""
        for episode in self._episodes.step(raw_rewards, dones, info):
            self._episode_returns.append(episode.episode_return)
            self._episode_lengths.append(episode.length)
            self._episode_successes.append(float(episode.success))

    def collect_rollout(self) -> None:
        """
        Fill the buffer with `num_steps` vector steps and compute advantages.

        A rollout that raises (a lost bridge, Ctrl-C) leaves no trace: the step count, the
        normalisers, the generator and the episode windows are as they were before it began, so
        a retry or a checkpoint taken then resumes exactly from the last update.
        """
        before = self._rollout_snapshot()
        try:
            with torch_threads(self.config.torch_threads):
                self._collect_steps()
        except BaseException:
            self._restore_rollout_snapshot(before)
            raise

    def _rollout_snapshot(self) -> Dict[str, Any]:
        return {'global_step': self.global_step, 'rng': capture_rng_state(self.generator),
                'obs_normalizer': self.obs_normalizer.state_dict(),
                'reward_scaler': self.reward_scaler.state_dict(),
                'episodes': (list(self._episode_returns), list(self._episode_lengths),
                             list(self._episode_successes))}

    def _restore_rollout_snapshot(self, state: Dict[str, Any]) -> None:
        self.global_step = state['global_step']
        restore_rng_state(state['rng'], self.generator)
        self.obs_normalizer.load_state_dict(state['obs_normalizer'])
        self.reward_scaler.load_state_dict(state['reward_scaler'])
        for window, values in zip((self._episode_returns, self._episode_lengths,
                                   self._episode_successes), state['episodes'], strict=True):
            window.clear()
            window.extend(values)

    def _collect_steps(self) -> None:
        """Step the envs `num_steps` times with the current policy and compute advantages."""
        if self._next_obs is None:
            self.reset_envs()
        buf = self.buffer
        buf.final_obs.zero_()
        # With envs that step in the background (step_async/step_wait, e.g. SplitVectorEnv) the
        # previous step's bookkeeping runs meanwhile; it touches neither the policy, nor the
        # normaliser nor the generator, so the results are the same either way.
        overlap = callable(getattr(self.envs, 'step_async', None))
        pending = None
        for t in range(self.config.num_steps):
            raw = self._next_obs
            self.obs_normalizer.update(raw)
            obs = self._normalized(raw)
            out = self.policy.act(obs, self.generator)
            buf.add(t, obs, out.action, out.log_prob, out.value)
            if self.guidance is not None:
                self.guidance.observe(t, raw, self._next_info)
            actions = self.policy.to_env_action(out.action)
            if overlap:
                self.envs.step_async(actions)
            if pending is not None:
                self._record_outcome(*pending)
            next_obs, reward, terminated, truncated, info = (
                self.envs.step_wait() if overlap else self.envs.step(actions))
            dones = np.logical_or(terminated, truncated)
            if dones.any():  # now, while the normaliser is as it was for this step's action
                ended = np.flatnonzero(dones)
                final = np.stack([info['final_obs'][i] for i in ended]).astype(np.float32)
                buf.final_obs[t, torch.as_tensor(ended)] = self._normalized(final)
            pending = (t, np.asarray(reward, dtype=np.float64), terminated, dones, info)
            self._next_obs = np.asarray(next_obs, dtype=np.float32)
            self._next_info = info
            self.global_step += self.num_envs
        self._record_outcome(*pending)
        with torch.no_grad():
            last_values = self.policy.value(self._normalized(self._next_obs))
            final_values = self.policy.value(buf.final_obs).reshape(buf.dones.shape)
        buf.set_next_values(last_values, final_values)
        buf.compute_advantages(self.config.gamma, self.config.gae_lambda)

    def _record_outcome(self, t: int, reward: np.ndarray, terminated: np.ndarray,
                        dones: np.ndarray, info: Dict) -> None:
        """Store step t's scaled rewards and episode ends; count the episodes that ended."""
        self.buffer.add_outcome(t, self.reward_scaler(reward, dones), terminated, dones)
        self._record_episodes(info, reward, dones)

    def update(self) -> Dict[str, float]:
        """Run the PPO epochs on the current buffer; return the averaged loss statistics."""
        with torch_threads(self.config.torch_threads):
            return self._update()

    def _update(self) -> Dict[str, float]:
        cfg = self.config
        data = self.buffer.flat()
        sums: Dict[str, float] = {}
        counts: Dict[str, int] = {}  # per key: a guidance may log a key in some minibatches only
        for _ in range(cfg.update_epochs):
            order = torch.randperm(self.batch_size, generator=self.generator)
            for start in range(0, self.batch_size, cfg.minibatch_size):
                idx = order[start:start + cfg.minibatch_size]
                stats = self._minibatch_step(data, idx)
                for key, value in stats.items():
                    sums[key] = sums.get(key, 0.0) + value
                    counts[key] = counts.get(key, 0) + 1
            if cfg.target_kl is not None and stats['losses/approx_kl'] > cfg.target_kl:
                break
        result = {key: value / counts[key] for key, value in sums.items()}
        values, returns = data['values'], data['returns']
        var_returns = returns.var()
        result['losses/explained_variance'] = float(
            1 - (returns - values).var() / var_returns) if var_returns > 0 else float('nan')
        if self.guidance is not None:
            result.update(self.guidance.finish_update(result))
        return result

    def _minibatch_step(self, data: Dict[str, torch.Tensor], idx: torch.Tensor
                        ) -> Dict[str, float]:
        """One gradient step on the minibatch `idx` (flat rollout rows)."""
        cfg = self.config
        log_prob, entropy, value, params = self.policy.evaluate(data['obs'][idx],
                                                                data['actions'][idx])
        log_ratio = log_prob - data['log_probs'][idx]
        ratio = log_ratio.exp()
        with torch.no_grad():
            approx_kl = ((ratio - 1) - log_ratio).mean()
            clipfrac = ((ratio - 1.0).abs() > cfg.clip_coef).float().mean()
        adv = data['advantages'][idx]
        if cfg.norm_adv and len(idx) > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        policy_loss = torch.max(-adv * ratio,
                                -adv * ratio.clamp(1 - cfg.clip_coef, 1 + cfg.clip_coef)).mean()
        returns, old_values = data['returns'][idx], data['values'][idx]
        value_loss = (value - returns).pow(2)
        if cfg.clip_vloss:
            clipped = old_values + (value - old_values).clamp(-cfg.clip_coef, cfg.clip_coef)
            value_loss = torch.max(value_loss, (clipped - returns).pow(2))
        value_loss = 0.5 * value_loss.mean()
        entropy_mean = entropy.mean()
        loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy_mean
        stats: Dict[str, float] = {}
        if self.guidance is not None:
            extra, stats = self.guidance.loss(params, idx)
            if extra is not None:
                loss = loss + extra
        self.optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm, foreach=True)
        self.optimizer.step()
        stats.update({'losses/policy_loss': policy_loss.item(),
                      'losses/value_loss': value_loss.item(),
                      'losses/entropy': entropy_mean.item(), 'losses/approx_kl': approx_kl.item(),
                      'losses/clipfrac': clipfrac.item()})
        return stats

    def _episode_stats(self) -> Dict[str, float]:
        """Return means over the last `success_window` finished episodes (NaN before any)."""
        def mean(values: deque) -> float:
            return float(np.mean(values)) if values else float('nan')

        return {'charts/episodic_return': mean(self._episode_returns),
                'charts/episodic_length': mean(self._episode_lengths),
                'charts/success_rate': mean(self._episode_successes)}

    def learn(self, total_timesteps: int, checkpoint_every: int = 0,
              callback: Optional[Callable[['PPO', Dict[str, float]], Optional[bool]]] = None
              ) -> 'PPO':
        """
        Train until `global_step` reaches `total_timesteps` (absolute, so resuming continues).

        With a run_dir, metrics go to run_dir/metrics.csv and TensorBoard, and a checkpoint is
        written every `checkpoint_every` updates (0: only at the end) to run_dir/checkpoint.pt.
        `callback(agent, stats)` runs after every update (e.g. to publish metrics); returning
        False stops training after that update. Learning-rate annealing spans `total_timesteps`,
        so pass the whole budget rather than calling learn() once per update.
        """
        cfg = self.config
        if checkpoint_every and self.run_dir is None:
            raise ValueError('checkpoint_every needs a run_dir to write checkpoints into')
        if self.run_dir is not None and self._logger is None:
            self._logger = MetricsLogger(self.run_dir, resume_step=self._resume_step)
        num_updates = -(-total_timesteps // self.batch_size)
        start_time, start_step = time.perf_counter(), self.global_step
        while self.global_step < total_timesteps:
            if cfg.anneal_lr:
                lr = cfg.learning_rate * max(1.0 - self.update_index / num_updates, 0.0)
                for group in self.optimizer.param_groups:
                    group['lr'] = lr
            rollout_start = self.global_step
            self.collect_rollout()
            stats = {}
            if self.guidance is not None:
                stats.update(self.guidance.prepare(rollout_start, self.generator,
                                                   self.buffer.flat()))
            stats.update(self.update())
            self.update_index += 1
            elapsed = time.perf_counter() - start_time
            sps = (self.global_step - start_step) / max(elapsed, 1e-9)
            stats.update(self._episode_stats())
            stats.update({'charts/SPS': sps,
                          'charts/learning_rate': self.optimizer.param_groups[0]['lr']})
            self.history.append({'global_step': self.global_step, **stats})
            if self._logger is not None:
                self._logger.log(self.global_step, stats)
            self._log_progress(stats, total_timesteps, sps)
            stop = callback is not None and callback(self, stats) is False
            if self.run_dir is not None and (
                    (checkpoint_every and self.update_index % checkpoint_every == 0)
                    or self.global_step >= total_timesteps or stop):
                self.save(self.run_dir / CHECKPOINT_NAME)
            if stop:
                break
        if self._logger is not None:
            self._logger.flush()
        return self

    def close(self) -> None:
        """Close the metrics writers (the envs belong to the caller)."""
        if self._logger is not None:
            self._logger.close()
            self._logger = None

    def _log_progress(self, stats: Dict[str, float], total_timesteps: int, sps: float) -> None:
        """Log a progress line with rate and ETA every `log_interval` updates and at the end."""
        if self.update_index % self.config.log_interval and self.global_step < total_timesteps:
            return
        remaining = max(total_timesteps - self.global_step, 0)
        eta = timedelta(seconds=int(remaining / max(sps, 1e-9)))
        LOGGER.info('update %d | step %d/%d | %.0f steps/s | ETA %s | return %.2f | '
                    'success %.2f%s', self.update_index, self.global_step, total_timesteps, sps,
                    eta, stats['charts/episodic_return'], stats['charts/success_rate'],
                    self.guidance.progress(stats) if self.guidance is not None else '')

    @torch.no_grad()
    def predict(self, observations: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Env actions for raw observations (B, obs_dim), using the frozen normaliser."""
        obs = self._normalized(np.asarray(observations, dtype=np.float32))
        with torch_threads(self.config.torch_threads):
            if deterministic:
                return self.policy.deterministic_action(obs).cpu().numpy()
            return self.policy.to_env_action(self.policy.act(obs, self.generator).action)

    def state_dict(self) -> Dict[str, Any]:
        """Everything needed to resume training, as tensors and plain values."""
        return {'config': dataclasses.asdict(self.config), 'task': self.task,
                'policy': self.policy.state_dict(), 'optimizer': self.optimizer.state_dict(),
                'obs_normalizer': self.obs_normalizer.state_dict(),
                'reward_scaler': self.reward_scaler.state_dict(),
                'global_step': self.global_step, 'update': self.update_index,
                'rng': capture_rng_state(self.generator),
                **({'guidance': self.guidance.state_dict()} if self.guidance is not None else {}),
                'episodes': {'returns': list(self._episode_returns),
                             'lengths': list(self._episode_lengths),
                             'successes': list(self._episode_successes)}}

    def save(self, path: PathLike) -> Path:
        """Write an atomic checkpoint to `path` and return it."""
        save_checkpoint(path, self.state_dict())
        return Path(path)

    @classmethod
    def load(cls, path: PathLike, envs: Any, guidance: Optional[Guidance] = None,
             run_dir: Optional[PathLike] = None) -> 'PPO':
        """
        Restore a checkpoint; the envs are reset (seed from seed and update) on the next learn.

        Raises CheckpointError (a ValueError) for a damaged file or one that does not fit `envs`.
        """
        state = load_checkpoint(path)
        try:
            config = PPOConfig(**state['config'])
            agent = cls(config, envs, guidance, run_dir, task=state.get('task'))
            agent.policy.load_state_dict(state['policy'])
            agent.optimizer.load_state_dict(state['optimizer'])
        except (TypeError, RuntimeError, ValueError) as err:
            raise CheckpointError(f'checkpoint {path} does not fit these envs or this version '
                                  f'of PPO: {err}') from err
        agent.obs_normalizer.load_state_dict(state['obs_normalizer'])
        agent.reward_scaler.load_state_dict(state['reward_scaler'])
        agent.global_step = int(state['global_step'])
        agent.update_index = int(state['update'])
        episodes = state.get('episodes', {})
        agent._episode_returns.extend(episodes.get('returns', []))
        agent._episode_lengths.extend(episodes.get('lengths', []))
        agent._episode_successes.extend(episodes.get('successes', []))
        restore_rng_state(state['rng'], agent.generator)
        if guidance is not None:
            guidance.load_state_dict(state.get('guidance', {}))
        agent._resume_step = agent.global_step
        return agent
