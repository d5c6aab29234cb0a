# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Render one CLEVR-Robot scene to a PNG, with its instruction beside it in a text file.

Run: ``PYTHONPATH=. .venv/bin/python examples/render_clevr_scene.py`` from the repository root
(MUJOCO_GL defaults to egl, so no display is needed). Writes docs/images/clevr_scene.png and
docs/images/clevr_scene.txt.
"""

import argparse
from pathlib import Path

import imageio.v3 as iio

from lago_ros.envs.clevr_robot import ClevrRobotEnv
from lago_ros.utils import atomic_write


def main() -> None:
    """Reset a seeded env and save its rendered first frame and its instruction."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--size', type=int, default=256, help='image width and height in pixels')
    parser.add_argument('--top-down', action='store_true', help='camera straight down')
    parser.add_argument('--out', type=Path, default=Path('docs/images/clevr_scene.png'))
    args = parser.parse_args()

    env = ClevrRobotEnv(seed=args.seed, render_mode='rgb_array', top_down=args.top_down,
                        render_size=args.size)
    _, info = env.reset()
    image = env.render()
    env.close()
    with atomic_write(args.out, 'wb') as handle:
        iio.imwrite(handle, image, extension='.png')
    with atomic_write(args.out.with_suffix('.txt'), 'w') as handle:
        handle.write(info['instruction'] + '\n')
    print(f'wrote {args.out} ({args.size}x{args.size}) for: {info["instruction"]}')


if __name__ == '__main__':
    main()
