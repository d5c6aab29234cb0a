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

`GuidanceConfig.adaptation` chooses how much the prior is trusted (docs/adaptive_guidance.md):
- 'none' (default): beta(t) from the schedule, the same weight on every state; the numbers
  of the fixed schedule and of beta = 0 are pinned by test/test_ppo_reference.py;
- 'target_kl': beta adapted by dual ascent so that the update's mean KL(pi || prior) tracks
  `prior_kl_target` (itself on a schedule), `schedules.DualAscentBeta`; its log beta is kept
  in the checkpoint, so a resumed run continues exactly; logs lago/kl_target;
- 'statewise': the KL of each state the prior saw weighted by the trust the prior earns there
  (its confidence, its agreement with the critic's advantages; `trust.py`), bounded, with mean
  beta(t); logs the weights' mean, min, max and a histogram (lago/weight_*).

`PriorGuidance.set_beta` changes beta between updates (the trainer node's `ros2 param set
ppo.beta`); not called, nothing differs.

The interface PPO calls (`Guidance`) is small on purpose: a variant implements the same calls
and keeps its own state in `state_dict`, so it resumes from checkpoints like the rest of the
run.
"""

import math

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Protocol, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from lago_ros.config import choices
from lago_ros.rl.distributions import DistParams, KL_DIRECTIONS, policy_prior_kl
from lago_ros.rl.schedules import BetaSchedule, DualAscentBeta, SCHEDULE_KINDS
from lago_ros.rl.trust import bounded_mean_weights, prior_agreement, trust_scores

PriorFn = Callable[[np.ndarray, Sequence[str]], Any]
"""(raw observations (B, obs_dim), instructions) -> PriorOutput, or None (no guidance now)."""

ADAPTATIONS = ('none', 'target_kl', 'statewise')
"""How the guidance adapts its trust in the prior (GuidanceConfig.adaptation)."""
WEIGHT_BINS = (0.25, 0.5, 0.8, 1.25, 2.0, 4.0)
"""Edges, in units of beta, of the histogram of state-wise weights (lago/weight_hist/*)."""
WEIGHT_HIST_KEYS = tuple(f'lago/weight_hist/{lo:g}_{hi:g}' for lo, hi in zip(
    (0.0,) + WEIGHT_BINS, WEIGHT_BINS + (math.inf,), strict=True))
"""One metric a bin: the share of the prior's states whose weight / beta falls in [lo, hi)."""
WEIGHT_KEYS = ('lago/weight_mean', 'lago/weight_min', 'lago/weight_max',
               'lago/prior_disagreement') + WEIGHT_HIST_KEYS
"""What 'statewise' logs per update (NaN where the prior did not answer)."""


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
    adaptation: str = field(default='none', metadata=choices(*ADAPTATIONS))
    """
    how the trust in the prior adapts: 'none' (beta(t) from the schedule on every state),
    'target_kl' (beta by dual ascent so that the KL tracks prior_kl_target; beta_schedule must
    be constant) or 'statewise' (per-state weights from the prior's confidence and its agreement
    with the critic, mean beta(t)); docs/adaptive_guidance.md"""
    prior_kl_target: float = 4.0
    """
    target_kl: the mean KL(pi || prior) in nats that beta is adapted to hold (not
    ppo.target_kl, which stops PPO's epochs on KL(old || new)); ~1 nat per Meta-World action
    dimension"""
    prior_kl_target_schedule: str = field(default='constant', metadata=choices(*SCHEDULE_KINDS))
    """target_kl: the target's shape over env steps: constant, linear or exponential"""
    prior_kl_target_final: float = 1.0
    """target_kl: the value a linear or exponential target moves to (> 0)"""
    prior_kl_target_decay_steps: int = 100_000
    """target_kl: env steps to the final target (linear) or half-life of the gap (exponential)"""
    beta_lr: float = 0.2
    """target_kl: step of the dual ascent on log beta (one update moves beta by <= e^beta_lr)"""
    beta_min: float = 1e-3
    """target_kl: lower bound of the adapted beta (> 0)"""
    beta_max: float = 10.0
    """target_kl: upper bound of the adapted beta"""
    trust_confidence: float = 1.0
    """
    statewise: weight on the prior's confidence (minus its entropy per action dim); 1 halves a
    state's weight where the prior's std doubles; 0 ignores it"""
    trust_agreement: float = 1.0
    """
    statewise: weight on the prior's agreement with the critic (tanh(log-ratio / 2) x the taken
    action's standardised advantage, an estimate of the prior's advantage); 0 ignores it"""
    trust_weight_min: float = 0.25
    """statewise: smallest weight of a state, in units of beta (0 <= min <= 1)"""
    trust_weight_max: float = 4.0
    """statewise: largest weight of a state, in units of beta (>= 1)"""

    def __post_init__(self) -> None:
        """Reject values that would fail later or silently misbehave."""
        if self.kl_direction not in KL_DIRECTIONS:
            raise ValueError(f'unknown kl_direction {self.kl_direction!r}; expected one of '
                             f'{KL_DIRECTIONS}')
        if self.adaptation not in ADAPTATIONS:
            raise ValueError(f'unknown adaptation {self.adaptation!r}; expected one of '
                             f'{ADAPTATIONS}')
        if not self.min_prior_std > 0:
            raise ValueError(f'min_prior_std must be > 0, got {self.min_prior_std}')
        if self.prior_states < 0:
            raise ValueError(f'prior_states must be >= 0 (0: all states), got '
                             f'{self.prior_states}')
        if self.trust_confidence < 0 or self.trust_agreement < 0:
            raise ValueError(f'trust_confidence and trust_agreement must be >= 0, got '
                             f'{self.trust_confidence} and {self.trust_agreement}')
        if not 0 <= self.trust_weight_min <= 1 <= self.trust_weight_max:
            raise ValueError(f'state weights need 0 <= trust_weight_min <= 1 <= '
                             f'trust_weight_max, got {self.trust_weight_min} and '
                             f'{self.trust_weight_max}')
        self.schedule()
        if self.adaptation == 'target_kl':
            if self.beta_schedule != 'constant':
                raise ValueError(f"adaptation 'target_kl' sets beta itself; beta_schedule must "
                                 f"be 'constant', got {self.beta_schedule!r} (schedule the "
                                 'target with prior_kl_target_schedule)')
            self.controller()

    def schedule(self) -> BetaSchedule:
        """Return the beta(t) schedule these fields describe (validating them)."""
        return BetaSchedule(self.beta_schedule, self.beta, self.beta_final,
                            self.beta_decay_steps)

    def controller(self) -> DualAscentBeta:
        """Return the target-KL controller these fields describe (validating them)."""
        target = BetaSchedule(self.prior_kl_target_schedule, self.prior_kl_target,
                              self.prior_kl_target_final, self.prior_kl_target_decay_steps,
                              name='prior_kl_target')
        return DualAscentBeta(self.beta, self.beta_min, self.beta_max, self.beta_lr, target)


def with_beta(config: GuidanceConfig, beta: float) -> GuidanceConfig:
    """Return `config` with another beta (ValueError: not finite, < 0, or target_kl adapts it)."""
    if not math.isfinite(beta) or beta < 0:
        raise ValueError(f'beta must be a finite number >= 0, got {beta}')
    if config.adaptation == 'target_kl':
        raise ValueError("adaptation 'target_kl' adapts beta itself; set prior_kl_target "
                         'at start-up instead')
    return dataclasses.replace(config, beta=float(beta))


class Guidance(Protocol):
    """What PPO calls on its optional guidance, in loop order."""

    def bind(self, num_steps: int, num_envs: int, policy: Any) -> None:
        """Size storage for rollouts of (num_steps, num_envs) of this policy."""

    def observe(self, t: int, raw_obs: np.ndarray, info: Dict[str, Any]) -> None:
        """Record rollout step t's raw observations and the info that came with them."""

    def prepare(self, step: int, generator: torch.Generator,
                rollout: Dict[str, Tensor]) -> Dict[str, float]:
        """
        Get ready for the update of the rollout that began at env step `step`; logs.

        `rollout`: the flat rollout tensors PPO trains on (RolloutBuffer.flat(): obs, actions,
        log_probs, values, advantages, returns), to read, never to change.
        """

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
        self.controller = config.controller() if config.adaptation == 'target_kl' else None
        self.beta = 0.0
        self.step = 0
        self.prior_params: Optional[DistParams] = None
        # The prior's own parameters (std unfloored) on the rows it saw, and those rows.
        self.raw_prior_params: Optional[DistParams] = None
        self.prior_rows: Optional[Tensor] = None
        # Row of each flat rollout state in prior_params, -1 where the prior did not see it.
        self.prior_row: Optional[Tensor] = None
        # adaptation 'statewise': the KL weight of each row of prior_params (mean beta).
        self.weights: Optional[Tensor] = None
        self.raw_obs: Optional[np.ndarray] = None
        self.instructions: Optional[np.ndarray] = None
        self.discrete, self.action_dim = False, 0

    def set_beta(self, beta: float) -> None:
        """Use `beta` (a schedule's initial value) from the next update's `prepare` on."""
        self.config = with_beta(self.config, beta)
        self.schedule = self.config.schedule()

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

    def prepare(self, step: int, generator: torch.Generator,
                rollout: Dict[str, Tensor]) -> Dict[str, float]:
        """Set beta (schedule or controller), query the prior on this rollout's subset; logs."""
        self.step = step
        self.beta = self.controller.beta if self.controller is not None else self.schedule(step)
        self.weights = None
        start = time.perf_counter()
        active = self._query(generator)
        logs = {'lago/guidance_active': float(active),
                'lago/prior_seconds': time.perf_counter() - start}
        if self.config.adaptation == 'statewise':
            logs.update(self._weigh(rollout) if active else dict.fromkeys(
                WEIGHT_KEYS, float('nan')))
        return logs

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
        self.raw_prior_params = self._validated(output, len(rows))
        self.prior_params = self._floored(self.raw_prior_params)
        self.prior_rows = rows
        self.prior_row = torch.full((n,), -1, dtype=torch.long)
        self.prior_row[rows] = torch.arange(len(rows))
        return True

    def to_params(self, output: Any, n: int) -> DistParams:
        """Validate a PriorOutput and turn it into (logits,) or (mean, floored std) tensors."""
        return self._floored(self._validated(output, n))

    def _validated(self, output: Any, n: int) -> DistParams:
        """Return a PriorOutput's (logits,) or (mean, std) as tensors, checked, std as sent."""
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
        return tuple(params)

    def _floored(self, params: DistParams) -> DistParams:
        """Return the prior as the KL sees it: a Gaussian's std floored at min_prior_std."""
        if self.discrete:
            return params
        return params[0], params[1].clamp_min(self.config.min_prior_std)

    @torch.no_grad()
    def _weigh(self, rollout: Dict[str, Tensor]) -> Dict[str, float]:
        """Set the state-wise weights of the prior's rows (lago_ros/rl/trust.py); their logs."""
        cfg, rows = self.config, self.prior_rows
        advantages = rollout['advantages']
        advantages = (advantages - advantages.mean()) / (advantages.std(correction=0) + 1e-8)
        agreement = prior_agreement(self.prior_params, rollout['actions'][rows],
                                    rollout['log_probs'][rows], advantages[rows])
        scores = trust_scores(self.raw_prior_params, agreement, cfg.trust_confidence,
                              cfg.trust_agreement)
        self.weights = bounded_mean_weights(scores, self.beta, cfg.trust_weight_min,
                                            cfg.trust_weight_max)
        relative = (self.weights / self.beta).numpy()
        counts = np.histogram(relative, bins=(0.0,) + WEIGHT_BINS + (math.inf,))[0]
        return {'lago/weight_mean': self.weights.mean().item(),
                'lago/weight_min': self.weights.min().item(),
                'lago/weight_max': self.weights.max().item(),
                'lago/prior_disagreement': (agreement < 0).float().mean().item(),
                **{key: count / len(relative) for key, count in zip(
                    WEIGHT_HIST_KEYS, counts.tolist(), strict=True)}}

    def loss(self, params: DistParams, rows: Tensor) -> Tuple[Optional[Tensor], Dict[str, float]]:
        """Return beta * mean KL(policy, prior) (or its state-weighted mean) and the KL's log."""
        if self.prior_params is None or self.beta == 0:
            return None, {}
        prior_rows = self.prior_row[rows]
        has = prior_rows >= 0
        if not has.any():
            return None, {}
        kl = policy_prior_kl(tuple(p[has] for p in params),
                             tuple(p[prior_rows[has]] for p in self.prior_params),
                             self.config.kl_direction)
        if self.weights is None:
            kl = kl.mean()
            return self.beta * kl, {'lago/kl_prior': kl.item()}
        return (self.weights[prior_rows[has]] * kl).mean(), {'lago/kl_prior': kl.mean().item()}

    def finish_update(self, stats: Dict[str, float]) -> Dict[str, float]:
        """Return the update's mean KL (NaN where no minibatch had one) and its beta; adapt."""
        logs = {'lago/kl_prior': stats.get('lago/kl_prior', float('nan')),
                'lago/beta': float(self.beta)}
        if self.controller is not None:
            logs['lago/kl_target'] = self.controller.target(self.step)
            self.controller.step(logs['lago/kl_prior'], self.step)
        return logs

    def progress(self, stats: Dict[str, float]) -> str:
        """Beta, the update's KL and whether the prior answered, for the progress line."""
        text = (f" | beta {stats['lago/beta']:.3g} | kl_prior {stats['lago/kl_prior']:.3g} | "
                f"guidance {stats['lago/guidance_active']:.0f}")
        if 'lago/kl_target' in stats:
            text += f" | kl_target {stats['lago/kl_target']:.3g}"
        if 'lago/weight_min' in stats:
            text += f" | weights {stats['lago/weight_min']:.3g}..{stats['lago/weight_max']:.3g}"
        return text

    def state_dict(self) -> Dict[str, Any]:
        """
        Return the settings, and target_kl's log beta.

        A scheduled beta(t) is a function of the env step, and state-wise weights are
        recomputed from each rollout: neither has other state.
        """
        state: Dict[str, Any] = {'config': dataclasses.asdict(self.config)}
        if self.controller is not None:
            state['beta_control'] = self.controller.state_dict()
        return state

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore target_kl's log beta; a schedule is recomputed from the restored env step."""
        if self.controller is not None:
            self.controller.load_state_dict(state.get('beta_control', {}))
