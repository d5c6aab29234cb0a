# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Rollout videos: one captioned frame per step plus the reset one, decodable MP4 and GIF files."""

import imageio.v2 as imageio
import numpy as np
import pytest

from lago_ros.cli import main as lago
from lago_ros.envs.registry import make_env, make_vec_env
from lago_ros.rl.evaluate import evaluate
from lago_ros.rl.ppo import PPO, PPOConfig
from lago_ros.rl.run import EVAL_SEED_OFFSET
from lago_ros.rl.video import caption, MIN_SIZE, rollout_frames, write_video


def decoded(path):
    with imageio.get_reader(path) as reader:
        return [np.asarray(frame) for frame in reader]


@pytest.fixture
def clevr():
    env = make_env('clevr-robot', seed=0, render_mode='rgb_array', max_episode_steps=4,
                   terminate_on_success=False)
    yield env
    env.close()


def test_mp4_holds_reset_and_step_frames_of_every_episode(clevr, tmp_path):
    path = write_video(tmp_path / 'out.mp4',
                       rollout_frames(lambda obs: np.zeros(len(obs), np.int64), clevr, 2, 0))
    frames = decoded(path)
    assert len(frames) == 2 * (4 + 1)
    height, width = frames[0].shape[:2]
    assert width == MIN_SIZE and height > MIN_SIZE and height % 16 == 0
    band = frames[0][MIN_SIZE:]
    assert band.max() > 150  # the caption's text is drawn in the band


def test_caption_keeps_the_frame_and_draws_the_text(clevr):
    clevr.reset(seed=0)
    frame = clevr.render()
    one = caption(frame, 'Push the red sphere to the left.', 'episode 1/1  step 0')
    two = caption(frame, 'Find the cyan sphere.', 'episode 1/1  step 0')
    scale = MIN_SIZE // frame.shape[0]
    np.testing.assert_array_equal(one[:MIN_SIZE, :MIN_SIZE],
                                  frame.repeat(scale, 0).repeat(scale, 1))
    assert not np.array_equal(one[MIN_SIZE:], two[MIN_SIZE:])
    long = caption(frame, 'word ' * 200, 'status')
    assert long.shape == one.shape  # long instructions are cut, the frame size stays


def test_gif_and_wrong_suffix(tmp_path):
    frames = [np.full((64, 64, 3), value, np.uint8) for value in (0, 120, 240)]
    path = write_video(tmp_path / 'out.gif', (caption(f, 'a', 'b') for f in frames), fps=10)
    assert len(decoded(path)) == 3
    with pytest.raises(ValueError, match="expected one of \\('.mp4', '.gif'\\)"):
        write_video(tmp_path / 'out.avi', iter(frames))
    with pytest.raises(ValueError, match='no frames'):
        write_video(tmp_path / 'empty.mp4', iter([]))
    assert not (tmp_path / 'empty.mp4').exists()


def test_lago_evaluate_video_shows_the_first_evaluated_episode(tmp_path):
    envs = make_vec_env('clevr-robot', 1, 0)
    checkpoint = PPO(PPOConfig(), envs, task='clevr-robot').save(tmp_path / 'checkpoint.pt')
    envs.close()
    video = tmp_path / 'eval.mp4'
    assert lago(['evaluate', '--checkpoint', str(checkpoint), '--episodes', '1', '--seed', '5',
                 '--video', str(video)]) == 0
    eval_envs = make_vec_env('clevr-robot', 1, 5 + EVAL_SEED_OFFSET)
    result = evaluate(PPO.load(checkpoint, eval_envs).predict, eval_envs, 1, 5 + EVAL_SEED_OFFSET)
    eval_envs.close()
    assert len(decoded(video)) == result.lengths[0] + 1
