# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Demo folders: collection round trip, determinism, dropped failures and corrupt-folder errors."""

import json
from pathlib import Path

import numpy as np
import pytest

from lago_ros.data.demos import (collect_demos, DemoCollectionError, DemoFormatError,
                                 FORMAT_VERSION, load_demos, METADATA_FILE, TRANSITIONS_FILE)
import lago_ros.envs
from lago_ros.envs.instructions import instructions_for
from lago_ros.envs.registry import make_env

pytestmark = pytest.mark.filterwarnings('ignore:Constant.*may be too high:UserWarning')
CLEVR_EXISTS = (Path(lago_ros.envs.__file__).parent / 'clevr_robot.py').exists()


@pytest.fixture(scope='module')
def reach_demos(tmp_path_factory):
    """Three successful reach-v3 episodes, collected once for the module."""
    return collect_demos('reach-v3', 3, seed=0, out_dir=tmp_path_factory.mktemp('d') / 'reach',
                         progress=False)


def copy_folder(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for name in (METADATA_FILE, TRANSITIONS_FILE):
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


def test_round_trip_shapes_dtypes_and_episode_structure(reach_demos):
    demos = load_demos(reach_demos)
    n = len(demos)
    assert demos.observations.shape == (n, 39) and demos.observations.dtype == np.float32
    assert demos.actions.shape == (n, 4) and demos.actions.dtype == np.float32
    assert np.all(np.abs(demos.actions) <= 1.0)
    for name in ('rewards', 'terminations', 'truncations', 'successes', 'episode_ids',
                 'instructions'):
        assert getattr(demos, name).shape == (n,)
    assert demos.num_episodes == 3 and demos.metadata['episodes'] == 3
    assert np.all(np.diff(demos.episode_ids) >= 0)
    train = set(instructions_for('reach-v3', 'train'))
    for episode in range(3):
        rows = demos.episode_ids == episode
        assert len(set(demos.instructions[rows])) == 1 and demos.instructions[rows][0] in train
        # stop_on_success: each episode ends at its first success, as a termination.
        assert demos.successes[rows][-1] and not demos.successes[rows][:-1].any()
        assert demos.terminations[rows][-1] and not demos.terminations[rows][:-1].any()
    meta = demos.metadata
    assert meta['format_version'] == FORMAT_VERSION and meta['task'] == 'reach-v3'
    assert meta['episodes_dropped'] == 0 and meta['transitions'] == n
    assert meta['source_policy'] == 'metaworld.policies.SawyerReachV3Policy'
    first_obs, _ = make_env('reach-v3', seed=0).reset(seed=0)
    np.testing.assert_array_equal(demos.observations[0], first_obs)


def test_collection_is_deterministic_and_overwrite_is_explicit(reach_demos, tmp_path):
    again = collect_demos('reach-v3', 3, seed=0, out_dir=tmp_path / 'again', progress=False)
    first, second = load_demos(reach_demos), load_demos(again)
    np.testing.assert_array_equal(first.observations, second.observations)
    np.testing.assert_array_equal(first.instructions, second.instructions)
    with pytest.raises(FileExistsError, match='overwrite=True'):
        collect_demos('reach-v3', 1, seed=1, out_dir=again, progress=False)
    collect_demos('reach-v3', 1, seed=1, out_dir=again, progress=False, overwrite=True)
    assert load_demos(again).num_episodes == 1
    assert [p.name for p in tmp_path.iterdir()] == ['again'], 'temp folders must not remain'


def test_failed_episodes_are_dropped_and_counted(tmp_path):
    # With seed 2 the reach expert needs 39, 40, 41 and 58 steps: a 45-step cap fails one.
    kw = {'progress': False, 'max_episode_steps': 45}
    everything = load_demos(collect_demos('reach-v3', 4, seed=2, out_dir=tmp_path / 'all',
                                          keep_failed=True, **kw))
    per_episode = [everything.successes[everything.episode_ids == e].any() for e in range(4)]
    assert per_episode == [True, True, True, False]
    assert everything.metadata['episodes'] == 4 and everything.metadata['success_rate'] == 0.75
    kept = load_demos(collect_demos('reach-v3', 4, seed=2, out_dir=tmp_path / 'ok', **kw))
    assert kept.metadata['episodes'] == kept.num_episodes == 3
    assert kept.metadata['episodes_dropped'] == 1 and kept.metadata['episodes_attempted'] == 4
    assert kept.successes.sum() == 3
    np.testing.assert_array_equal(kept.observations, everything.observations[:len(kept)])
    with pytest.raises(DemoCollectionError, match='keep_failed=True'):
        collect_demos('reach-v3', 1, seed=2, out_dir=tmp_path / 'none', progress=False,
                      max_episode_steps=2)
    assert not (tmp_path / 'none').exists()


def rewrite_npz(folder: Path, **changes) -> None:
    with np.load(folder / TRANSITIONS_FILE) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays.update(changes)
    np.savez(folder / TRANSITIONS_FILE, **{k: v for k, v in arrays.items() if v is not None})


def rewrite_metadata(folder: Path, drop: str = '', **changes) -> None:
    meta = json.loads((folder / METADATA_FILE).read_text())
    meta.update(changes)
    meta.pop(drop, None)
    (folder / METADATA_FILE).write_text(json.dumps(meta))


def truncate_file(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:200])


# name -> (damage(folder, number of transitions), expected error message pattern)
CORRUPTIONS = {
    'missing metadata': (lambda f, n: (f / METADATA_FILE).unlink(), 'has no metadata.json'),
    'missing transitions': (lambda f, n: (f / TRANSITIONS_FILE).unlink(),
                            'has no transitions.npz'),
    'garbage npz': (lambda f, n: (f / TRANSITIONS_FILE).write_bytes(b'not a zip'), 'corrupt'),
    'truncated npz': (lambda f, n: truncate_file(f / TRANSITIONS_FILE), 'corrupt'),
    'bad json': (lambda f, n: (f / METADATA_FILE).write_text('{"task": '), 'not valid JSON'),
    'old version': (lambda f, n: rewrite_metadata(f, format_version=0), 'format_version 0'),
    'missing key': (lambda f, n: rewrite_metadata(f, drop='obs_dim'), 'lacks obs_dim'),
    'obs_dim disagrees with task': (lambda f, n: rewrite_metadata(f, obs_dim=38),
                                    'obs_dim=38; task reach-v3 has obs_dim=39'),
    'obs width': (lambda f, n: rewrite_npz(f, observations=np.zeros((n, 38), np.float32)),
                  r'observations has shape \(\d+, 38\); expected \(\d+, 39\)'),
    'short rewards': (lambda f, n: rewrite_npz(f, rewards=np.zeros(3, np.float32)),
                      'rewards has shape'),
    'missing array': (lambda f, n: rewrite_npz(f, successes=None), 'lacks arrays successes'),
    'integer actions': (lambda f, n: rewrite_npz(f, actions=np.zeros((n, 4), np.int64)),
                        'actions have dtype int64'),
    'nan observation': (lambda f, n: rewrite_npz(
        f, observations=np.full((n, 39), np.nan, np.float32)), 'NaN'),
    'episode count': (lambda f, n: rewrite_metadata(f, episodes=7),
                      'hold 3 episodes; metadata says 7'),
}


@pytest.mark.parametrize('corruption', sorted(CORRUPTIONS))
def test_corrupt_folders_raise_clear_errors(reach_demos, tmp_path, corruption):
    damage, message = CORRUPTIONS[corruption]
    folder = copy_folder(reach_demos, tmp_path / 'copy')
    damage(folder, len(load_demos(folder)))
    with pytest.raises(DemoFormatError, match=message):
        load_demos(folder)


def test_not_a_folder(tmp_path):
    with pytest.raises(DemoFormatError, match='not a folder'):
        load_demos(tmp_path / 'missing')


@pytest.mark.skipif(not CLEVR_EXISTS, reason='clevr_robot.py not written yet')
def test_clevr_demos_store_integer_actions(tmp_path):
    demos = load_demos(collect_demos('clevr-robot', 3, seed=0, out_dir=tmp_path / 'clevr',
                                     progress=False))
    assert demos.actions.dtype == np.int64 and demos.actions.shape == (len(demos),)
    assert demos.observations.shape == (len(demos), 24)
    assert np.all((demos.actions >= 0) & (demos.actions < 40))
    assert demos.metadata['source_policy'].endswith('ClevrOracle')
