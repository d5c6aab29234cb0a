# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Rollout videos: a policy's episodes rendered headless, each frame captioned with the instruction.

Frames come from the env's `render()` with render_mode='rgb_array' (MUJOCO_GL=egl, no display);
small frames (CLEVR-Robot renders 64 pixels) are enlarged by whole pixels to at least
MIN_SIZE. A band under each frame shows the episode's instruction and the step, drawn with
Pillow (which matplotlib already needs). `.mp4` is written through imageio's ffmpeg plugin
(imageio-ffmpeg ships its own ffmpeg), `.gif` through Pillow; frames stream to the file, so long
episodes do not pile up in memory.
"""

from pathlib import Path
import textwrap
from typing import Any, Callable, Iterator, Optional

import numpy as np

from lago_ros.utils import PathLike

FORMATS = ('.mp4', '.gif')
MIN_SIZE = 256
"""Frames smaller than this many pixels (height) are enlarged by a whole factor."""
FONT_SIZE = 14
LINES = 3
"""Caption lines under each frame: two for the instruction, one for episode, step and success."""
BLOCK = 16
"""Frame sides are padded to a multiple of this (the H.264 macro block), so nothing is resized."""


def _font(size: int) -> Any:
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def _wrap(text: str, width: int, font: Any, lines: int) -> list[str]:
    """Wrap `text` into at most `lines` lines of `width` pixels; end a cut with an ellipsis."""
    chars = max(int(width / max(font.getlength('n'), 1.0)), 8)
    wrapped = textwrap.wrap(text, chars) or ['']
    if len(wrapped) > lines:
        wrapped = wrapped[:lines]
        wrapped[-1] = wrapped[-1][:max(chars - 3, 1)].rstrip() + '...'
    return wrapped


def caption(frame: np.ndarray, instruction: str, status: str) -> np.ndarray:
    """Return `frame` enlarged to MIN_SIZE, a caption band under it, padded to BLOCK pixels."""
    from PIL import Image, ImageDraw

    frame = np.asarray(frame, dtype=np.uint8)
    scale = max(1, -(-MIN_SIZE // frame.shape[0]))
    frame = frame.repeat(scale, axis=0).repeat(scale, axis=1)
    height, width = frame.shape[:2]
    line = FONT_SIZE + 4
    band = LINES * line + 8
    total_h = height + band + (-(height + band)) % BLOCK
    total_w = width + (-width) % BLOCK
    canvas = Image.new('RGB', (total_w, total_h), (20, 20, 20))
    canvas.paste(Image.fromarray(frame), (0, 0))
    draw, font = ImageDraw.Draw(canvas), _font(FONT_SIZE)
    texts = _wrap(instruction, width - 12, font, LINES - 1) + [status]
    for index, text in enumerate(texts):
        colour = (255, 255, 255) if index < len(texts) - 1 else (170, 200, 255)
        draw.text((6, height + 4 + index * line), text, fill=colour, font=font)
    return np.asarray(canvas)


def rollout_frames(act: Callable[[np.ndarray], np.ndarray], env: Any, episodes: int,
                   seed: Optional[int]) -> Iterator[np.ndarray]:
    """
    Yield captioned frames of `episodes` episodes of `act` in `env` (render_mode='rgb_array').

    `act` maps a batch of observations (1, obs_dim) to a batch of env actions, like
    `PPO.predict`. Each episode yields its reset frame and one frame per step; the first reset
    uses `seed`.
    """
    if episodes < 1:
        raise ValueError(f'episodes is {episodes}; expected at least 1')
    for episode in range(episodes):
        obs, info = env.reset(seed=seed if episode == 0 else None)
        instruction, step, success, done = str(info.get('instruction', '')), 0, False, False
        while True:
            status = (f'episode {episode + 1}/{episodes}  step {step}'
                      + ('  success' if success else ''))
            yield caption(env.render(), instruction, status)
            if done:
                break
            action = np.asarray(act(np.asarray(obs)[None]))[0]
            obs, _, terminated, truncated, info = env.step(action)
            step, done = step + 1, bool(terminated or truncated)
            success = success or bool(info.get('success', False))


def write_video(path: PathLike, frames: Iterator[np.ndarray], fps: int = 30) -> Path:
    """Write `frames` to `path` (.mp4 or .gif, FORMATS) as they come; return the path."""
    import imageio.v2 as imageio

    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f'video file {path} has suffix {path.suffix!r}; expected one of '
                         f'{FORMATS}')
    if fps < 1:
        raise ValueError(f'fps is {fps}; expected at least 1')
    path.parent.mkdir(parents=True, exist_ok=True)
    options = ({'fps': fps, 'macro_block_size': BLOCK, 'codec': 'libx264', 'quality': 7}
               if path.suffix.lower() == '.mp4' else {'duration': 1000.0 / fps, 'loop': 0})
    count = 0
    try:
        with imageio.get_writer(path, **options) as writer:
            for frame in frames:
                writer.append_data(frame)
                count += 1
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if count == 0:
        path.unlink(missing_ok=True)
        raise ValueError(f'no frames to write to {path}')
    return path


def record_checkpoint(checkpoint: PathLike, path: PathLike, episodes: int = 1,
                      seed: int = 0, split: str = 'train', fps: int = 30) -> Path:
    """
    Record `episodes` deterministic episodes of a checkpoint's policy into a video at `path`.

    The env is the checkpoint's task with the evaluation seeding of `evaluate_checkpoint`
    (seed + EVAL_SEED_OFFSET), so the video shows the first episode that evaluation counts.
    """
    from lago_ros.envs import registry
    from lago_ros.rl.checkpoint import load_checkpoint
    from lago_ros.rl.ppo import PPO
    from lago_ros.rl.run import EVAL_SEED_OFFSET

    task = load_checkpoint(checkpoint).get('task')
    if not task:
        raise ValueError(f'checkpoint {checkpoint} does not record its task; expected one '
                         'written by run_training')
    eval_seed = seed + EVAL_SEED_OFFSET
    envs = registry.make_vec_env(task, 1, eval_seed, split=split, render_mode='rgb_array')
    try:
        policy = PPO.load(checkpoint, envs)
        return write_video(path, rollout_frames(policy.predict, envs.envs[0], episodes,
                                                eval_seed), fps)
    finally:
        envs.close()
