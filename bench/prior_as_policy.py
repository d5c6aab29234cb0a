# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
How good is a fitted prior as a controller on its own? Run its most likely action, count successes.

    python -m bench.prior_as_policy runs/evidence/reach-v3/prior_minilm --episodes 4 --steps 200

A prior that cannot act well itself pulls PPO toward poor behaviour; this is the first thing to
check when LaGO trails vanilla PPO.
"""

import argparse

import numpy as np
import torch

from lago_ros.envs.registry import make_env
from lago_ros.prior.model import ActionPrior


def main() -> None:
    """Roll out the prior's most likely action and print its success rate and mean std."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('prior', help='prior folder (ActionPrior.save_pretrained)')
    parser.add_argument('--episodes', type=int, default=4)
    parser.add_argument('--steps', type=int, default=200, help='step limit per episode')
    parser.add_argument('--seed', type=int, default=500)
    args = parser.parse_args()
    torch.set_num_threads(1)
    prior = ActionPrior.from_pretrained(args.prior)
    successes, stds = [], []
    for episode in range(args.episodes):
        env = make_env(prior.config.task, seed=args.seed + episode)
        obs, info = env.reset(seed=args.seed + episode)
        success = False
        for _ in range(args.steps):
            out = prior.predict(obs[None], [info['instruction']])
            if out.logits is not None:
                action = int(out.logits[0].argmax())
            else:
                stds.append(float(out.std.mean()))
                action = np.clip(out.mean[0], -1, 1)
            obs, _, terminated, truncated, info = env.step(action)
            if info['success']:
                success = True
                break
            if terminated or truncated:
                break
        successes.append(success)
        env.close()
    std = f', mean std {np.mean(stds):.3f}' if stds else ''
    print(f'{args.prior}: prior-as-policy success {sum(successes)}/{len(successes)} '
          f'within {args.steps} steps{std}')


if __name__ == '__main__':
    main()
