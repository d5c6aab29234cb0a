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

from lago_ros.rl.ppo import episode_success


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
    `PPO.predict`, for a deterministic evaluation. A sub-env's success is the `success` info of
    the last step of its episode.
    """
    if episodes <= 0:
        raise ValueError(f'evaluate needs a positive number of episodes, got {episodes}')
    num_envs = int(envs.num_envs)
    quota = np.full(num_envs, episodes // num_envs)
    quota[:episodes % num_envs] += 1
    done_count = np.zeros(num_envs, dtype=np.int64)
    running_return = np.zeros(num_envs)
    running_length = np.zeros(num_envs, dtype=np.int64)
    result = EvalResult(0.0, 0.0, 0.0)
    obs, _ = envs.reset(seed=seed)
    while (done_count < quota).any():
        obs, reward, terminated, truncated, info = envs.step(act(np.asarray(obs)))
        running_return += np.asarray(reward, dtype=np.float64)
        running_length += 1
        for i in np.flatnonzero(np.logical_or(terminated, truncated)):
            if done_count[i] < quota[i]:
                result.returns.append(float(running_return[i]))
                result.lengths.append(int(running_length[i]))
                result.successes.append(episode_success(info, i))
                done_count[i] += 1
            running_return[i] = 0.0
            running_length[i] = 0
    result.success_rate = float(np.mean(result.successes))
    result.mean_return = float(np.mean(result.returns))
    result.mean_length = float(np.mean(result.lengths))
    return result
