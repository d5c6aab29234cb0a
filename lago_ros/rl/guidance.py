# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Everything LaGO adds to PPO: a KL pull toward a frozen language-model action prior.

PPO (lago_ros/rl/ppo.py) optimises L_clip + vf_coef * L_V - ent_coef * H[pi]; with a guidance
it adds this module's term to every minibatch loss:

    L = ... + beta(t) * mean over the prior's states of KL(pi || prior)

Per rollout, `PriorGuidance`:
1. records the raw observation and instruction of every step (`observe`): the prior reads raw
   env observations and language, not the policy's normalised inputs;
2. after the rollout (`prepare`) takes beta(t) from the schedule at the rollout's first env step,
   draws `prior_states` rows uniformly from the rollout with PPO's generator (the KL term is a
   mean over states, so a subset estimates it without bias at a fraction of the prior's cost),
   queries the prior once on them and floors its Gaussian std at `min_prior_std`;
3. in every minibatch (`loss`) returns beta * the closed-form KL on the minibatch rows the prior
   saw, in the configured direction, and logs it as lago/kl_prior;
4. after the epochs (`finish_update`) logs lago/beta.
With beta(t) = 0 or no prior answer it queries nothing and adds nothing, so the update is
exactly vanilla PPO's (same computation, same random numbers).

The interface PPO calls (`Guidance`) is small on purpose: a variant that adapts beta to a
target KL, or weighs states differently, implements the same calls and keeps its own
state in `state_dict`, so it resumes from checkpoints like the rest of the run.
"""

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Protocol, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from lago_ros.config import choices
from lago_ros.rl.distributions import DistParams, KL_DIRECTIONS, policy_prior_kl
from lago_ros.rl.schedules import BetaSchedule, SCHEDULE_KINDS

PriorFn = Callable[[np.ndarray, Sequence[str]], Any]
"""(raw observations (B, obs_dim), instructions) -> PriorOutput, or None (no guidance now)."""


@dataclass
class GuidanceConfig:
    """LaGO's additions to PPO: how strongly, in which direction and on which states."""

    beta: float = 0.0
    """initial weight of the KL term toward the prior (0 = vanilla PPO)"""
    beta_schedule: str = field(default='constant', metadata=choices(*SCHEDULE_KINDS))
    """beta(t) shape: constant, linear or exponential (decay toward beta_final)"""
    beta_final: float = 0.0
    """floor that a decaying beta reaches"""
    beta_decay_steps: int = 100_000
    """env steps to reach the floor (linear) or half-life of the gap to it (exponential)"""
    kl_direction: str = field(default='reverse', metadata=choices(*KL_DIRECTIONS))
    """'reverse' = KL(pi || prior) (mode-seeking), 'forward' = KL(prior || pi)"""
    prior_states: int = 256
    """
    states per rollout the prior is evaluated on, drawn uniformly (0: all); the KL term is a
    mean over states, so a subset estimates it without bias at a fraction of the prior's cost
    (256 is what the shipped configs and the results study use)"""
    min_prior_std: float = 0.3
    """
    the one floor on the prior's Gaussian std inside the KL. The prior's own log-std range
    (PriorConfig.log_std_min, std >= 0.05) only bounds what its head can output, which keeps
    behaviour cloning's likelihood finite; BC makes priors over-confident (std near 0.05 on the
    demos) and a KL toward such a prior swamps the PPO loss (measured ~400 nats), so the KL sees
    max(std, min_prior_std)"""

    def __post_init__(self) -> None:
        """Reject values that would fail later or silently misbehave."""
        if self.kl_direction not in KL_DIRECTIONS:
            raise ValueError(f'unknown kl_direction {self.kl_direction!r}; expected one of '
                             f'{KL_DIRECTIONS}')
        if not self.min_prior_std > 0:
            raise ValueError(f'min_prior_std must be > 0, got {self.min_prior_std}')
        if self.prior_states < 0:
            raise ValueError(f'prior_states must be >= 0 (0: all states), got '
                             f'{self.prior_states}')
        self.schedule()

    def schedule(self) -> BetaSchedule:
        """Return the beta(t) schedule these fields describe (validating them)."""
        return BetaSchedule(self.beta_schedule, self.beta, self.beta_final,
                            self.beta_decay_steps)


class Guidance(Protocol):
    """What PPO calls on its optional guidance, in loop order."""

    def bind(self, num_steps: int, num_envs: int, policy: Any) -> None:
        """Size storage for rollouts of (num_steps, num_envs) of this policy."""

    def observe(self, t: int, raw_obs: np.ndarray, info: Dict[str, Any]) -> None:
        """Record rollout step t's raw observations and the info that came with them."""

    def prepare(self, step: int, generator: torch.Generator) -> Dict[str, float]:
        """Get ready for the update of the rollout that began at env step `step`; logs."""

    def loss(self, params: DistParams, rows: Tensor) -> Tuple[Optional[Tensor], Dict[str, float]]:
        """Return an extra loss term, or None, and logs for the flat rollout rows given."""

    def finish_update(self, stats: Dict[str, float]) -> Dict[str, float]:
        """Return logs to add after the epochs (`stats`: PPO's averaged minibatch logs)."""

    def progress(self, stats: Dict[str, float]) -> str:
        """Text appended to PPO's progress line, e.g. ' | beta 0.1 | kl_prior 0.3'."""

    def state_dict(self) -> Dict[str, Any]:
        """Return the settings and state to keep in the checkpoint."""

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""


class PriorGuidance:
    """The LaGO KL term toward a prior callable (in-process model or a ROS service client)."""

    def __init__(self, config: GuidanceConfig, prior: Optional[PriorFn]) -> None:
        """`prior` None: guidance is configured but unavailable (logged, never added)."""
        self.config = config
        self.prior = prior
        self.schedule = config.schedule()
        self.beta = 0.0
        self.prior_params: Optional[DistParams] = None
        # Row of each flat rollout state in prior_params, -1 where the prior did not see it.
        self.prior_row: Optional[Tensor] = None
        self.raw_obs: Optional[np.ndarray] = None
        self.instructions: Optional[np.ndarray] = None
        self.discrete, self.action_dim = False, 0

    def bind(self, num_steps: int, num_envs: int, policy: Any) -> None:
        """Allocate raw-observation and instruction storage; remember the action layout."""
        shape = (num_steps, num_envs)
        self.raw_obs = np.zeros(shape + (policy.obs_dim,), dtype=np.float32)
        self.instructions = np.empty(shape, dtype=object)
        self.discrete, self.action_dim = policy.discrete, policy.action_dim

    def observe(self, t: int, raw_obs: np.ndarray, info: Dict[str, Any]) -> None:
        """Keep the prior's inputs of step t: raw observations and their instructions."""
        if 'instruction' not in info and self.prior is not None:
            raise ValueError("the envs' info has no 'instruction', but the prior needs one "
                             'instruction per observation')
        self.raw_obs[t] = raw_obs
        self.instructions[t] = np.asarray(info.get('instruction', ''), dtype=object)

    def prepare(self, step: int, generator: torch.Generator) -> Dict[str, float]:
        """Set beta(step), query the prior on this rollout's subset; log whether it answered."""
        self.beta = self.schedule(step)
        start = time.perf_counter()
        active = self._query(generator)
        return {'lago/guidance_active': float(active),
                'lago/prior_seconds': time.perf_counter() - start}

    def _query(self, generator: torch.Generator) -> bool:
        """Query the prior once on the rollout; False if guidance is off or unavailable."""
        self.prior_params = None
        if self.prior is None or self.beta == 0:
            return False
        n = self.raw_obs.shape[0] * self.raw_obs.shape[1]
        rows = torch.arange(n)
        if 0 < self.config.prior_states < n:
            rows = torch.randperm(n, generator=generator)[:self.config.prior_states].sort()[0]
        output = self.prior(self.raw_obs.reshape(n, -1)[rows.numpy()],
                            list(self.instructions.reshape(n)[rows.numpy()]))
        if output is None:
            return False
        self.prior_params = self.to_params(output, len(rows))
        self.prior_row = torch.full((n,), -1, dtype=torch.long)
        self.prior_row[rows] = torch.arange(len(rows))
        return True

    def to_params(self, output: Any, n: int) -> DistParams:
        """Validate a PriorOutput and turn it into (logits,) or (mean, floored std) tensors."""
        expected = (n, self.action_dim)
        names = ('logits',) if self.discrete else ('mean', 'std')
        params = []
        for name in names:
            value = getattr(output, name, None)
            if value is None:
                raise ValueError(f'the prior returned no {name!r}; a '
                                 f"{'discrete' if self.discrete else 'continuous'} "
                                 f'policy needs {names}')
            tensor = torch.as_tensor(np.asarray(value, dtype=np.float32))
            if tuple(tensor.shape) != expected or not torch.isfinite(tensor).all():
                raise ValueError(f'prior {name} must be finite with shape {expected}, got '
                                 f'shape {tuple(tensor.shape)}')
            params.append(tensor)
        if not self.discrete:
            params[1] = params[1].clamp_min(self.config.min_prior_std)
        return tuple(params)

    def loss(self, params: DistParams, rows: Tensor) -> Tuple[Optional[Tensor], Dict[str, float]]:
        """Return beta * mean KL(policy, prior) on the rows the prior saw, and its log."""
        if self.prior_params is None or self.beta == 0:
            return None, {}
        prior_rows = self.prior_row[rows]
        has = prior_rows >= 0
        if not has.any():
            return None, {}
        kl = policy_prior_kl(tuple(p[has] for p in params),
                             tuple(p[prior_rows[has]] for p in self.prior_params),
                             self.config.kl_direction).mean()
        return self.beta * kl, {'lago/kl_prior': kl.item()}

    def finish_update(self, stats: Dict[str, float]) -> Dict[str, float]:
        """Return the update's mean KL (NaN where no minibatch had one) and its beta."""
        return {'lago/kl_prior': stats.get('lago/kl_prior', float('nan')),
                'lago/beta': float(self.beta)}

    def progress(self, stats: Dict[str, float]) -> str:
        """Beta, the update's KL and whether the prior answered, for the progress line."""
        return (f" | beta {stats['lago/beta']:.3g} | kl_prior {stats['lago/kl_prior']:.3g} | "
                f"guidance {stats['lago/guidance_active']:.0f}")

    def state_dict(self) -> Dict[str, Any]:
        """Return the settings; beta(t) is a function of the env step, no other state."""
        return {'config': dataclasses.asdict(self.config)}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Nothing to restore: the schedule is recomputed from the restored env step."""
