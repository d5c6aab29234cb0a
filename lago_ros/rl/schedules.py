# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Schedules for the guidance weight beta(t), t being the global environment step, and a controller.

Guidance helps most early, when the policy knows nothing; decaying beta to a floor lets PPO
improve on an imperfect prior later while keeping a little regularisation. The same shapes
schedule the KL target of GuidanceConfig.adaptation 'target_kl', where `DualAscentBeta` moves
beta so that the measured KL(pi || prior) tracks that target.
"""

from dataclasses import dataclass
import math
from typing import Any, Dict

SCHEDULE_KINDS = ('constant', 'linear', 'exponential')


@dataclass(frozen=True)
class BetaSchedule:
    """
    beta(t): 'constant' (initial), 'linear' or 'exponential' decay from initial to final.

    'linear' reaches `final` after `decay_steps` env steps and stays there; 'exponential' halves
    the distance to `final` every `decay_steps` env steps (a half-life). `name` is what the
    schedule weighs, for error messages (the KL target uses the same shapes).
    """

    kind: str = 'constant'
    initial: float = 0.0
    final: float = 0.0
    decay_steps: int = 1
    name: str = 'beta'

    def __post_init__(self) -> None:
        """Reject kinds, weights or horizons that would silently misbehave."""
        if self.kind not in SCHEDULE_KINDS:
            raise ValueError(f'unknown {self.name} schedule {self.kind!r}; expected one of '
                             f'{SCHEDULE_KINDS}')
        if self.initial < 0 or self.final < 0:
            raise ValueError(f'{self.name} must be >= 0, got initial={self.initial} '
                             f'final={self.final}')
        if self.decay_steps <= 0:
            raise ValueError(f'{self.name} decay_steps must be a positive number of env steps, '
                             f'got {self.decay_steps}')

    def __call__(self, step: int) -> float:
        """Return beta at global env step `step` (>= 0)."""
        if self.kind == 'constant':
            return float(self.initial)
        if self.kind == 'linear':
            frac = min(max(step, 0) / self.decay_steps, 1.0)
            return float(self.initial + frac * (self.final - self.initial))
        decay = math.pow(0.5, max(step, 0) / self.decay_steps)
        return float(self.final + (self.initial - self.final) * decay)


class DualAscentBeta:
    """
    beta adapted by dual ascent so that the measured KL(pi || prior) tracks a target.

    The guided objective is the Lagrangian of "maximise PPO's objective subject to
    KL(pi || prior) <= target(t)", beta its multiplier; the dual (sub)gradient is KL - target.
    After every update the step is taken on log beta (beta stays positive and moves by factors,
    as SAC's temperature does), with the violation measured relative to the target and clipped
    to [-1, 1], so that one update moves beta by at most a factor e^lr whatever the KL's scale:

        log beta <- clip(log beta + lr * clip(KL / target(t) - 1, -1, 1),
                         log beta_min, log beta_max)

    KL above the target raises beta (a harder pull), below it lowers beta. A KL that is not
    finite (the prior did not answer in that update) leaves beta as it is. log beta is the only
    state (`state_dict`): a resumed run continues from exactly the beta it saved.
    """

    def __init__(self, initial: float, minimum: float, maximum: float, lr: float,
                 target: BetaSchedule) -> None:
        """Start at `initial` in [minimum, maximum] (all > 0); `target` gives target(t)."""
        if not 0 < minimum <= initial <= maximum:
            raise ValueError(f'target-KL beta needs 0 < beta_min <= beta <= beta_max, got '
                             f'{minimum}, {initial}, {maximum}')
        if not lr > 0:
            raise ValueError(f'beta_lr must be > 0, got {lr}')
        if not (target.initial > 0 and (target.kind == 'constant' or target.final > 0)):
            raise ValueError(f'the KL target must stay > 0, got initial={target.initial} '
                             f'final={target.final}')
        self.minimum, self.maximum, self.lr, self.target = minimum, maximum, lr, target
        self.log_beta = math.log(initial)

    @property
    def beta(self) -> float:
        """The current beta, within [minimum, maximum] (a bound exactly, once reached)."""
        if self.log_beta <= math.log(self.minimum):
            return self.minimum
        if self.log_beta >= math.log(self.maximum):
            return self.maximum
        return math.exp(self.log_beta)

    def step(self, kl: float, env_step: int) -> float:
        """Move beta after an update whose measured KL was `kl`; return the new beta."""
        if math.isfinite(kl):
            violation = min(max(kl / self.target(env_step) - 1.0, -1.0), 1.0)
            self.log_beta = min(max(self.log_beta + self.lr * violation,
                                    math.log(self.minimum)), math.log(self.maximum))
        return self.beta

    def state_dict(self) -> Dict[str, Any]:
        """Return the state a checkpoint keeps: log beta."""
        return {'log_beta': self.log_beta}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        if 'log_beta' not in state:
            raise ValueError(f"target-KL guidance state has no 'log_beta'; expected the state "
                             f'of a target_kl run, got keys {sorted(state)}')
        self.log_beta = float(state['log_beta'])
