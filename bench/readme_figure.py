# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The README's picture: a rollout still of a short reach-v3 run next to that run's learning curve.

    nice -n 19 python -m bench.readme_figure            # trains once (~12k steps), then draws

The run is small on purpose (a picture, not a result: docs/RESULTS.md has those) and vanilla
PPO (ppo.beta=0), so it needs no demonstrations or prior. An existing run folder is reused, so
a second call only redraws. The still is the captioned frame `lago evaluate --video` writes for
the first evaluation episode at step STILL_STEP.
"""

import argparse
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from lago_ros.utils import atomic_write

STILL_STEP = 60
"""Step of the first evaluation episode shown as the still (the arm is on its way)."""
TRAIN = ['task=reach-v3', 'seed=0', 'total_timesteps=12000', 'num_envs=4', 'vector_env=sync',
         'ppo.num_steps=250', 'ppo.beta=0', 'eval_episodes=4', 'checkpoint_every=0']


def train(run_dir: Path) -> Path:
    """Run the short training into `run_dir` unless its checkpoint exists; return it."""
    from lago_ros.rl.experiment import load_config, run_training

    checkpoint = run_dir / 'checkpoint.pt'
    if not checkpoint.exists():
        run_training(load_config(None, TRAIN + [f'run_dir={run_dir}']))
    return checkpoint


def still(checkpoint: Path, step: int) -> np.ndarray:
    """Return the captioned frame of the first evaluation episode at `step`."""
    from itertools import islice

    from lago_ros.envs import registry
    from lago_ros.rl.ppo import PPO
    from lago_ros.rl.run import EVAL_SEED_OFFSET
    from lago_ros.rl.video import rollout_frames

    seed = EVAL_SEED_OFFSET  # the run's seed 0, as `lago evaluate --seed 0` seeds it
    envs = registry.make_vec_env('reach-v3', 1, seed, render_mode='rgb_array')
    try:
        frames = rollout_frames(PPO.load(checkpoint, envs).predict, envs.envs[0], 1, seed)
        return next(islice(frames, step, None))
    finally:
        envs.close()


def draw(frame: np.ndarray, metrics_csv: Path, out: Path) -> Path:
    """Put the still and the learning curve side by side into the PNG `out`."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from lago_ros.rl.metrics import read_metrics

    columns = read_metrics(metrics_csv)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2),
                                      gridspec_kw={'width_ratios': [1, 1.35]})
    left.imshow(frame)
    left.set_axis_off()
    left.set_title('reach-v3 rollout (lago evaluate --video)', fontsize=10)
    right.plot(columns['global_step'], columns['charts/episodic_return'], marker='o')
    right.set_xlabel('environment steps')
    right.set_ylabel('episodic return (train)')
    right.set_title('learning curve of that run (PPO, 12k steps)', fontsize=10)
    right.grid(alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out, 'wb') as handle:
        fig.savefig(handle, format='png', dpi=90)
    plt.close(fig)
    return out


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Command line: where the run goes and where the PNG goes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--run-dir', default='runs/readme-reach-v3', type=Path)
    parser.add_argument('--out', default='docs/images/readme_rollout.png', type=Path)
    args = parser.parse_args(argv)
    os.environ.setdefault('MUJOCO_GL', 'egl')
    checkpoint = train(args.run_dir)
    print(draw(still(checkpoint, STILL_STEP), args.run_dir / 'metrics.csv', args.out))


if __name__ == '__main__':
    main()
