# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
How cost grows: PPO steps/s and peak memory vs env count and rollout length, prior cost vs batch.

Run: ``.venv/bin/python -m bench.bench_scaling [--quick]`` from the repository root.

1. Vanilla PPO on reach-v3 (minibatch 256, 10 epochs, torch on one thread) for 1, 4, 16 envs
   at 512 steps per env, and for 2k, 8k, 32k-transition rollouts at 4 envs. Each point runs in a
   fresh process, so its peak RSS (ru_maxrss) is its own; the RSS at start (torch imported, no
   env or agent yet) is reported too, so the growth over that fixed cost is visible.
2. ActionPrior.predict time per state for batch 1..256, for a tiny random BERT
   (tiny_random_backbone) and the default MiniLM, both freshly initialised, torch on one thread.

Quick mode measures fewer points and one timed rollout. Writes docs/images/scaling_ppo.png and
docs/images/scaling_prior.png.
"""

import argparse
import json
import os
from pathlib import Path
import resource
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Sequence

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / 'docs' / 'images'
TASK = 'reach-v3'
INSTRUCTION = 'reach the goal position'


def points(quick: bool) -> Dict[str, list]:
    """Env counts, rollout sizes (transitions at 4 envs) and prior batches to measure."""
    if quick:
        return {'envs': [1, 4], 'rollouts': [2048, 8192], 'batches': [1, 16, 256]}
    return {'envs': [1, 4, 16], 'rollouts': [2048, 8192, 32768],
            'batches': [1, 4, 16, 64, 256]}


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ppo_point(num_envs: int, num_steps: int, rollouts: int) -> Dict[str, float]:
    """Steps/s over `rollouts` rollouts after a warm-up one, and RSS figures, in this process."""
    import torch

    from lago_ros.envs.registry import make_vec_env
    from lago_ros.rl.ppo import PPO, PPOConfig

    torch.set_num_threads(1)
    base = peak_rss_mb()
    agent = PPO(PPOConfig(num_steps=num_steps, minibatch_size=256, update_epochs=10,
                          log_interval=10 ** 6), make_vec_env(TASK, num_envs, 0))
    agent.learn(agent.batch_size)
    start = time.perf_counter()
    agent.learn((rollouts + 1) * agent.batch_size)
    sps = rollouts * agent.batch_size / (time.perf_counter() - start)
    return {'num_envs': num_envs, 'num_steps': num_steps, 'rollout': agent.batch_size,
            'sps': sps, 'rss_start_mb': base, 'peak_rss_mb': peak_rss_mb()}


def run_ppo_point(num_envs: int, num_steps: int, rollouts: int) -> Dict[str, float]:
    """Run ppo_point in a fresh Python process and return its result."""
    code = ('import json, sys; from bench.bench_scaling import ppo_point; '
            f'print(json.dumps(ppo_point({num_envs}, {num_steps}, {rollouts})))')
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def prior_rows(batches: Sequence[int], seconds: float) -> List[Dict[str, float]]:
    """Return ms per state of predict at each batch size, for the tiny random BERT and MiniLM."""
    import numpy as np
    import torch

    from bench.bench_prior import seconds_per_call
    from lago_ros.envs.registry import get_task
    from lago_ros.prior.backbone import tiny_random_backbone
    from lago_ros.prior.model import ActionPrior, PriorConfig
    from lago_ros.prior.onnx_runtime import OnnxPrior

    torch.set_num_threads(1)
    spec = get_task(TASK)
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory(prefix='bench_scaling_') as tmp:
        backbones = {'tiny random BERT': str(tiny_random_backbone(Path(tmp) / 'tiny')),
                     'MiniLM-L6': None}
        for name, source in backbones.items():
            torch.manual_seed(0)
            prior = ActionPrior(PriorConfig(obs_dim=spec.obs_dim, action_type=spec.action_type,
                                            action_dim=spec.action_dim, task=TASK,
                                            backbone=source)).eval()
            params = sum(p.numel() for p in prior.parameters()) / 1e6
            runners = {'ms_per_state': prior, 'onnx_ms_per_state': OnnxPrior(prior),
                       'onnx_int8_ms_per_state': OnnxPrior(prior, int8=True)}
            for batch in batches:
                obs = rng.normal(size=(batch, spec.obs_dim)).astype(np.float32)
                row = {'backbone': name, 'params_m': params, 'batch': batch}
                for key, runner in runners.items():
                    call_s = seconds_per_call(
                        lambda obs=obs, runner=runner: runner.predict(obs, [INSTRUCTION]),
                        seconds)
                    row[key] = 1e3 * call_s / batch
                rows.append(row)
    return rows


def plot(result: dict, images: Path) -> List[Path]:
    """Write the PPO and prior scaling plots; return their paths."""
    import matplotlib

    matplotlib.use('Agg')
    from matplotlib import pyplot as plt

    images.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in ((axes[0], 'envs', 'envs (512 steps each)'),
                           (axes[1], 'rollouts', 'rollout size (transitions, 4 envs)')):
        rows = result['ppo'][key]
        xs = [row['num_envs'] if key == 'envs' else row['rollout'] for row in rows]
        sps, rss = [row['sps'] for row in rows], [row['peak_rss_mb'] for row in rows]
        ax.plot(xs, sps, 'o-', color='tab:blue')
        ax.set_xscale('log', base=2)
        ax.set_xlabel(label)
        ax.set_ylabel('PPO steps/s', color='tab:blue')
        twin = ax.twinx()
        twin.plot(xs, rss, 's--', color='tab:red')
        twin.set_ylabel('peak RSS (MiB)', color='tab:red')
        ax.set_ylim(0, 1.2 * max(sps))
        twin.set_ylim(0, 1.2 * max(rss))
    fig.suptitle(f'Vanilla PPO on {TASK}: throughput and memory')
    fig.tight_layout()
    ppo_png = images / 'scaling_ppo.png'
    fig.savefig(ppo_png, dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    for name in dict.fromkeys(row['backbone'] for row in result['prior']):
        rows = [row for row in result['prior'] if row['backbone'] == name]
        for key, style, runner in (('ms_per_state', 'o-', 'torch'),
                                   ('onnx_ms_per_state', 's--', 'ONNX Runtime'),
                                   ('onnx_int8_ms_per_state', '^:', 'ONNX Runtime int8')):
            ax.plot([row['batch'] for row in rows], [row[key] for row in rows], style,
                    label=f'{name} ({rows[0]["params_m"]:.1f}M), {runner}')
    ax.set_xscale('log', base=2)
    ax.set_yscale('log')
    ax.set_xlabel('batch size')
    ax.set_ylabel('ms per state')
    ax.set_title('prior query cost, one thread')
    ax.legend(fontsize=7)
    fig.tight_layout()
    prior_png = images / 'scaling_prior.png'
    fig.savefig(prior_png, dpi=100)
    plt.close(fig)
    return [ppo_png, prior_png]


def measure(quick: bool = False, images: Path = IMAGES) -> dict:
    """Measure every point (PPO points in fresh processes), plot, and return the numbers."""
    grid = points(quick)
    rollouts = 1 if quick else 2
    by_envs = [run_ppo_point(n, 512, rollouts) for n in grid['envs']]
    known = {row['rollout']: row for row in by_envs if row['num_envs'] == 4}
    by_size = [known.get(size) or run_ppo_point(4, size // 4, rollouts)
               for size in grid['rollouts']]
    result = {'ppo': {'envs': by_envs, 'rollouts': by_size},
              'prior': prior_rows(grid['batches'], 1.0 if quick else 3.0)}
    result['plots'] = [str(path.relative_to(ROOT)) for path in plot(result, images)]
    return result


def main() -> None:
    """Print the scaling tables and write the plots."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='fewer points, shorter timing')
    result = measure(parser.parse_args().quick)
    print(f'{"envs":>5} {"rollout":>8} {"steps/s":>9} {"RSS at start MiB":>17} '
          f'{"peak RSS MiB":>13}')
    for row in result['ppo']['envs'] + result['ppo']['rollouts']:
        print(f'{row["num_envs"]:>5} {row["rollout"]:>8} {row["sps"]:>9.0f} '
              f'{row["rss_start_mb"]:>17.0f} {row["peak_rss_mb"]:>13.0f}')
    print(f'{"backbone":<18} {"batch":>6} {"ms/state: torch":>9} {"onnx":>9} {"onnx int8":>9}')
    for row in result['prior']:
        print(f'{row["backbone"]:<18} {row["batch"]:>6} {row["ms_per_state"]:>9.3f} '
              f'{row["onnx_ms_per_state"]:>9.3f} {row["onnx_int8_ms_per_state"]:>9.3f}')
    print('plots:', ', '.join(result['plots']))


if __name__ == '__main__':
    main()
