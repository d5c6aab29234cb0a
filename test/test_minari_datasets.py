# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Minari datasets: collected and converted demos load as the same arrays, by Minari and lago."""

import h5py
import minari
import numpy as np
import pytest

from lago_ros.cli import main as lago
from lago_ros.data.demos import collect_demos, DemoFormatError, load_demos
from lago_ros.data.minari_collect import collect_minari_demos, demos_to_minari
from lago_ros.data.minari_io import (Episode, find_dataset, MinariFormatError, read_dataset,
                                     write_dataset)

ARRAYS = ('observations', 'actions', 'rewards', 'terminations', 'truncations', 'successes',
          'episode_ids', 'instructions')
RUN = dict(split='train', progress=False, steps_after_success=2)


@pytest.fixture(scope='module')
def minari_root(tmp_path_factory):
    """Point MINARI_DATASETS_PATH at a private folder for the module."""
    with pytest.MonkeyPatch.context() as patch:
        root = tmp_path_factory.mktemp('minari')
        patch.setenv('MINARI_DATASETS_PATH', str(root))
        yield root


@pytest.fixture(scope='module')
def clevr(minari_root, tmp_path_factory):
    """Collect three CLEVR-Robot expert episodes as a demo folder and as a Minari dataset."""
    folder = collect_demos('clevr-robot', 3, seed=4, out_dir=tmp_path_factory.mktemp('d') / 'c',
                           **RUN)
    dataset_id = collect_minari_demos('clevr-robot', 3, seed=4, dataset_id='lago/clevr/x-v0',
                                      **RUN)
    return folder, dataset_id


def assert_same_arrays(a, b):
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)


def test_minari_collection_keeps_the_demo_folder_episodes(clevr):
    folder, dataset_id = clevr
    npz, mds = load_demos(folder), load_demos(dataset_id)
    assert_same_arrays(npz, mds)
    assert mds.metadata['steps_after_success'] == 2 and mds.metadata['episodes'] == 3
    assert mds.metadata['task'] == 'clevr-robot' and mds.metadata['source'] == 'minari'
    # steps_after_success: each episode runs 2 steps past its first success, then is cut.
    for episode in range(3):
        rows = mds.episode_ids == episode
        first = int(np.argmax(mds.successes[rows]))
        assert rows.sum() == first + 3 and mds.truncations[rows][-1]


def test_minari_load_dataset_has_next_observations_and_infos(clevr):
    folder, dataset_id = clevr
    npz = load_demos(folder)
    dataset = minari.load_dataset(dataset_id)
    assert dataset.total_episodes == 3 and dataset.total_steps == len(npz)
    assert dataset.env_spec.id == 'LaGO/ClevrRobot-v0'
    for index, episode in enumerate(dataset.iterate_episodes()):
        rows = npz.episode_ids == index
        assert len(episode.observations) == len(episode.actions) + 1
        np.testing.assert_array_equal(episode.observations[:-1], npz.observations[rows])
        assert len(episode.infos['instruction']) == len(episode.actions) + 1
        np.testing.assert_array_equal(episode.infos['success'][1:], npz.successes[rows])
        assert not episode.infos['success'][0]


def test_recover_environment_replays_episode_to_its_recorded_final_observation(clevr):
    _, dataset_id = clevr
    dataset = minari.load_dataset(dataset_id)
    env = dataset.recover_environment()
    episode = dataset[0]
    obs, info = env.reset(seed=4)
    np.testing.assert_array_equal(obs, episode.observations[0])
    assert info['instruction'] == episode.infos['instruction'][0].decode()
    for action in episode.actions:
        obs, *_ = env.step(int(action))
    np.testing.assert_allclose(obs, episode.observations[-1], atol=1e-5)
    env.close()


def test_demo_folder_converts_to_minari_and_loads_back_equal(clevr, minari_root):
    folder, _ = clevr
    assert lago(['demos-to-minari', str(folder), 'lago/clevr/converted-v0']) == 0
    npz, converted = load_demos(folder), load_demos('lago/clevr/converted-v0')
    assert_same_arrays(npz, converted)
    assert converted.metadata['final_observations'] == 'repeated'
    # A dataset folder loads like its id; a second conversion needs --overwrite.
    assert_same_arrays(npz, load_demos(minari_root / 'lago/clevr/converted-v0'))
    assert lago(['demos-to-minari', str(folder), 'lago/clevr/converted-v0']) == 2
    demos_to_minari(folder, 'lago/clevr/converted-v0', overwrite=True)
    assert minari.load_dataset('lago/clevr/converted-v0').total_episodes == npz.num_episodes


def test_numpy_unicode_instructions_are_stored_as_hdf5_strings(minari_root):
    text = np.array(['Pousse la sphère rouge devant la bleue.'] * 3)  # numpy '<U' strings
    episode = Episode(observations=np.zeros((3, 24), np.float32), actions=np.array([1, 2]),
                      rewards=np.zeros(2, np.float32), terminations=np.array([False, True]),
                      truncations=np.zeros(2, bool), instructions=text,
                      successes=np.array([False, False, True]))
    meta = {'task': 'clevr-robot', 'seed': 0, 'episodes': 1}
    path = write_dataset('lago/clevr/unicode-v0', 'clevr-robot', [episode], meta, {'seed': 0})
    with h5py.File(path / 'data' / 'main_data.hdf5') as handle:
        stored = handle['episode_0/infos/instruction']
        assert h5py.check_string_dtype(stored.dtype).encoding == 'utf-8'
    arrays, metadata = read_dataset('lago/clevr/unicode-v0')
    assert arrays['instructions'].dtype.kind == 'U'
    np.testing.assert_array_equal(arrays['instructions'], text[1:])
    np.testing.assert_array_equal(arrays['successes'], [False, True])
    assert metadata['episodes'] == 1 and metadata['obs_dim'] == 24


def test_ids_and_paths_that_are_not_datasets_give_one_line_errors(clevr, tmp_path):
    folder, _ = clevr
    assert find_dataset(folder) is None  # a demo folder is not a Minari dataset
    with pytest.raises(DemoFormatError, match='Minari dataset'):
        load_demos('lago/clevr/missing-v0')
    episode = Episode(np.zeros((2, 24), np.float32), np.array([0]), np.zeros(1), [False],
                      [False], ['a', 'a'], [False, False])
    with pytest.raises(MinariFormatError, match='namespace/name-vN'):
        write_dataset('no version', 'clevr-robot', [episode], {}, {})
    with pytest.raises(MinariFormatError, match='expected 2'):
        write_dataset('lago/clevr/short-v0', 'clevr-robot',
                      [episode._replace(instructions=['a'])], {}, {})
    assert find_dataset('lago/clevr/short-v0') is None  # a failed write leaves nothing
    with pytest.raises(FileExistsError, match='overwrite=True'):
        collect_minari_demos('clevr-robot', 1, seed=0, dataset_id='lago/clevr/x-v0', **RUN)
