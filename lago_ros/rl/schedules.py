# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Schedules for the guidance weight beta(t), t being the global environment step.

Guidance helps most early, when the policy knows nothing; decaying beta to a floor lets PPO
improve on an imperfect prior later while keeping a little regularisation.
"""

import math
from dataclasses import dataclass

SCHEDULE_KINDS = ('constant', 'linear', 'exponential')


@dataclass(frozen=True)
class BetaSchedule:
    """
    beta(t): 'constant' (initial), 'linear' or 'exponential' decay from initial to final.

    'linear' reaches `final` after `decay_steps` env steps and stays there; 'exponential' halves
    the distance to `final` every `decay_steps` env steps (a half-life).
    """

    kind: str = 'constant'
    initial: float = 0.0
    final: float = 0.0
    decay_steps: int = 1

    def __post_init__(self) -> None:
        """Reject kinds, weights or horizons that would silently misbehave."""
        if self.kind not in SCHEDULE_KINDS:
            raise ValueError(f'unknown beta schedule {self.kind!r}; expected one of '
                             f'{SCHEDULE_KINDS}')
        if self.initial < 0 or self.final < 0:
            raise ValueError(f'beta must be >= 0, got initial={self.initial} final={self.final}')
        if self.decay_steps <= 0:
            raise ValueError(f'beta decay_steps must be a positive number of env steps, got '
                             f'{self.decay_steps}')

    def __call__(self, step: int) -> float:
        """Return beta at global env step `step` (>= 0)."""
        if self.kind == 'constant':
            return float(self.initial)
        if self.kind == 'linear':
            frac = min(max(step, 0) / self.decay_steps, 1.0)
            return float(self.initial + frac * (self.final - self.initial))
        decay = math.pow(0.5, max(step, 0) / self.decay_steps)
        return float(self.final + (self.initial - self.final) * decay)
