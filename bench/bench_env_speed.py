# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Env steps per second of CLEVR-Robot next to Meta-World reach-v3, measured in the same run.

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_env_speed.py`` from the repository root. Both
envs come from ``gymnasium.make`` and take uniformly random actions; an episode end triggers a
reset, which is counted in the time. One CLEVR-Robot step is one push of 40 physics steps, one
reach-v3 step is 5. The two envs alternate over the repeats so machine load hits both alike, and
the best repeat of each is reported.
"""

import argparse
import time

import gymnasium
import metaworld  # noqa: F401  (registers the Meta-World gymnasium ids)

from lago_ros.envs.clevr_robot import ENV_ID, PUSH_SUBSTEPS

REACH_FRAME_SKIP = 5


def steps_per_second(env: gymnasium.Env, steps: int, seed: int) -> float:
    """Time `steps` random-action steps of `env` (after a short warm-up) and return steps/s."""
    env.action_space.seed(seed)
    env.reset(seed=seed)
    for _ in range(10):
        env.step(env.action_space.sample())
    started = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - started)


def main() -> None:
    """Print steps/s of both envs, physics steps/s, and the CLEVR / reach ratio."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--steps', type=int, default=2000, help='timed steps per repeat')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()

    envs = {
        'clevr-robot': (gymnasium.make(ENV_ID, seed=args.seed), PUSH_SUBSTEPS),
        'reach-v3': (gymnasium.make('Meta-World/MT1', env_name='reach-v3', seed=args.seed),
                     REACH_FRAME_SKIP),
    }
    best = dict.fromkeys(envs, 0.0)
    for _ in range(args.repeats):
        for name, (env, _) in envs.items():
            best[name] = max(best[name], steps_per_second(env, args.steps, args.seed))
    print(f'{"env":<12} {"steps/s":>9} {"physics steps/s":>16}   ({args.steps} steps, best of '
          f'{args.repeats})')
    for name, (env, substeps) in envs.items():
        print(f'{name:<12} {best[name]:>9.0f} {best[name] * substeps:>16.0f}')
        env.close()
    print(f'ratio clevr-robot / reach-v3 steps/s: {best["clevr-robot"] / best["reach-v3"]:.2f}')


if __name__ == '__main__':
    main()
