# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Evaluate a policy over N episodes: success rate, mean return and mean episode length.

Episodes are allotted to the vector env's sub-envs in advance (as evenly as possible) and only
each sub-env's first allotted episodes count, so short episodes are not over-represented the way
they are when one simply keeps the first N episodes to finish.
"""

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List

import numpy as np

from lago_ros.rl.metrics import EpisodeTracker


@dataclass
class EvalResult:
    """Per-episode outcomes and their means."""

    success_rate: float
    mean_return: float
    mean_length: float
    returns: List[float] = field(default_factory=list)
    lengths: List[int] = field(default_factory=list)
    successes: List[bool] = field(default_factory=list)

    def to_dict(self) -> Dict[str, Any]:
        """Plain-dict form for JSON summaries."""
        return asdict(self)


def evaluate(act: Callable[[np.ndarray], np.ndarray], envs: Any, episodes: int,
             seed: int) -> EvalResult:
    """
    Run `act` (raw observations (B, obs_dim) -> env actions) for `episodes` episodes.

    `envs` is a vector env with autoreset mode SAME_STEP; pass a deterministic policy, e.g.
    `PPO.predict`, for a deterministic evaluation. An episode succeeds if `info['success']` was
    true at any of its steps.
    """
    if episodes <= 0:
        raise ValueError(f'evaluate needs a positive number of episodes, got {episodes}')
    num_envs = int(envs.num_envs)
    quota = np.full(num_envs, episodes // num_envs)
    quota[:episodes % num_envs] += 1
    done_count = np.zeros(num_envs, dtype=np.int64)
    tracker = EpisodeTracker(num_envs)
    result = EvalResult(0.0, 0.0, 0.0)
    obs, _ = envs.reset(seed=seed)
    while (done_count < quota).any():
        obs, reward, terminated, truncated, info = envs.step(act(np.asarray(obs)))
        for episode in tracker.step(reward, np.logical_or(terminated, truncated), info):
            if done_count[episode.env] < quota[episode.env]:
                result.returns.append(episode.episode_return)
                result.lengths.append(episode.length)
                result.successes.append(episode.success)
                done_count[episode.env] += 1
    result.success_rate = float(np.mean(result.successes))
    result.mean_return = float(np.mean(result.returns))
    result.mean_length = float(np.mean(result.lengths))
    return result
