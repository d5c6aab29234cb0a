# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Demonstrations as Minari datasets (HDF5 backend): write episodes, read them back as demo arrays.

A dataset written here follows Minari's conventions, so `minari.load_dataset(id)`,
`dataset.recover_environment()` and the offline-RL libraries built on Minari read it:
- per episode, `observations` (T+1, obs_dim): the reset observation, then the one after each
  step (the next observations are `observations[1:]`, the final one included);
  `actions`, `rewards`, `terminations`, `truncations` (T,);
- `infos['instruction']` (T+1) UTF-8 strings and `infos['success']` (T+1) bools: the reset
  info first, then each step's (so step t's success is `infos['success'][t + 1]`);
- the env spec of the task's Gymnasium id (`LaGO/reach-v3`, ...) with the keyword arguments of
  the collection (seed, split, terminate_on_success), so `recover_environment` makes that env;
- `metadata['lago']`: the collection metadata a demo folder has (task, split, seed,
  source_policy, episodes, steps_after_success, ...).

Datasets live under `MINARI_DATASETS_PATH` (default `~/.minari/datasets`), as Minari keeps them;
an id has Minari's form `namespace/name-vN`, e.g. `lago/reach-v3/expert-v0`. Minari's own
`DataCollector` needs jax (`minari[create]`); this writer builds the episode buffers itself.
This module imports no other lago_ros.data module (demos.load_demos dispatches to it).
"""

import dataclasses
import importlib.metadata
import json
import os
from pathlib import Path
import shutil
from typing import Any, NamedTuple, Optional, Sequence, Union
import warnings

import numpy as np

from lago_ros.envs.tasks import get_task, list_tasks

LAGO_METADATA_KEY = 'lago'
"""Key of the Minari metadata entry that holds the lago collection metadata."""
EXAMPLE_ID = 'lago/reach-v3/expert-v0'
_QUIET = r'`(code_permalink|author_email)` is set to None'  # Minari's reminders we cannot meet

PathOrId = Union[str, os.PathLike]


class MinariFormatError(ValueError):
    """A Minari dataset that lago cannot read as demonstrations, or a malformed dataset id."""


class Episode(NamedTuple):
    """One episode in Minari's layout: T steps, T+1 observations and infos (reset first)."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    instructions: Sequence[str]
    successes: np.ndarray


def datasets_root() -> Path:
    """Return the folder Minari keeps local datasets in (MINARI_DATASETS_PATH or its default)."""
    root = os.environ.get('MINARI_DATASETS_PATH')
    return Path(root) if root else Path.home() / '.minari' / 'datasets'


def _is_data_folder(path: Path) -> bool:
    """Whether `path` is the `data` folder of a Minari dataset (its metadata names a format)."""
    meta = path / 'metadata.json'
    if not meta.is_file() or (path / 'transitions.npz').exists():
        return False
    try:
        return 'data_format' in json.loads(meta.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


def find_dataset(source: PathOrId) -> Optional[Path]:
    """
    Return the data folder of the Minari dataset `source` names, or None if it names none.

    `source` is a dataset folder (with `data/` in it), its `data/` folder, or a dataset id
    under `datasets_root()`. A lago demo folder (metadata.json + transitions.npz) is not one.
    """
    path = Path(source)
    candidates = [path / 'data', path]
    if not path.exists() and not path.is_absolute():
        candidates.append(datasets_root() / path / 'data')
    return next((c for c in candidates if _is_data_folder(c)), None)


def env_spec(task: str, **kwargs: Any) -> Any:
    """Return the gymnasium EnvSpec of `task`'s LaGO id with `kwargs` added to its kwargs."""
    import gymnasium

    spec = gymnasium.spec(get_task(task).gym_id)
    return dataclasses.replace(spec, kwargs={**spec.kwargs, **kwargs})


def _requirements(task: str) -> list[str]:
    """Pin the installed packages that decide the env's numbers (recover_environment checks)."""
    names = ['gymnasium', 'mujoco'] + (['metaworld'] if get_task(task).family == 'metaworld'
                                       else [])
    pins = []
    for name in names:
        try:
            pins.append(f'{name}=={importlib.metadata.version(name)}')
        except importlib.metadata.PackageNotFoundError:
            continue
    return pins


def check_target(dataset_id: str, overwrite: bool = False) -> Path:
    """Return the folder of `dataset_id`; refuse a bad id, or an existing one without overwrite."""
    from minari.dataset.minari_dataset import parse_dataset_id

    try:
        parse_dataset_id(dataset_id)
    except (ValueError, TypeError) as err:
        raise MinariFormatError(f'{dataset_id!r} is not a Minari dataset id; expected '
                                f'namespace/name-vN, e.g. {EXAMPLE_ID!r}') from err
    target = datasets_root() / dataset_id
    if target.exists() and not overwrite:
        raise FileExistsError(f'Minari dataset {dataset_id} exists at {target}; pass '
                              'overwrite=True to replace it')
    return target


def write_dataset(dataset_id: str, task: str, episodes: Sequence[Episode], metadata: dict,
                  env_kwargs: dict, overwrite: bool = False) -> Path:
    """
    Write `episodes` of `task` as the Minari dataset `dataset_id`; return its folder.

    `metadata` (JSON-able) is stored under metadata['lago']; `env_kwargs` go into the env spec.
    Instructions are stored as UTF-8 strings (numpy unicode arrays are converted first: HDF5
    has no fixed-width unicode type). A write that fails leaves no dataset behind; an existing
    one is replaced only with `overwrite`.
    """
    import minari
    from minari.data_collector import EpisodeBuffer

    target = check_target(dataset_id, overwrite)
    if not episodes:
        raise MinariFormatError(f'no episodes to write to {dataset_id}')
    if target.exists():
        shutil.rmtree(target)
    buffers = []
    for index, ep in enumerate(episodes):
        steps = len(ep.rewards)
        for name in ('observations', 'instructions', 'successes'):
            if len(getattr(ep, name)) != steps + 1:
                raise MinariFormatError(f'episode {index} has {len(getattr(ep, name))} {name} '
                                        f'for {steps} steps; expected {steps + 1} (reset first)')
        buffers.append(EpisodeBuffer(
            id=index, seed=metadata.get('seed') if index == 0 else None,
            observations=np.asarray(ep.observations), actions=np.asarray(ep.actions),
            rewards=np.asarray(ep.rewards, np.float64), terminations=np.asarray(
                ep.terminations, bool), truncations=np.asarray(ep.truncations, bool),
            infos={'instruction': [str(text) for text in ep.instructions],
                   'success': np.asarray(ep.successes, bool)}))
    spec = env_spec(task, **env_kwargs)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', message=_QUIET, category=UserWarning)
            dataset = minari.create_dataset_from_buffers(
                dataset_id, buffers, env=spec, eval_env=spec, data_format='hdf5',
                algorithm_name=str(metadata.get('source_policy', 'unknown')),
                author='lago_ros', requirements=_requirements(task),
                description=f'{len(buffers)} expert demonstrations of {task} with their '
                            'instructions (infos["instruction"]) and success flags '
                            '(infos["success"]), written by lago_ros')
        dataset.storage.update_metadata({LAGO_METADATA_KEY: metadata})
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return target


def _task_of(spec: Any, where: Path) -> str:
    """Return the lago task whose gym id the dataset's env spec names."""
    gym_id = getattr(spec, 'id', None)
    for name in list_tasks():
        if get_task(name).gym_id == gym_id:
            return name
    raise MinariFormatError(f'{where}: env spec {gym_id!r} is not a LaGO task; expected one of '
                            'the LaGO/ gym ids (see `lago tasks`)')


def _strings(values: Any) -> np.ndarray:
    """Decode HDF5 strings (bytes) into a numpy unicode array."""
    return np.array([v.decode('utf-8') if isinstance(v, bytes) else str(v) for v in values])


def read_dataset(source: PathOrId) -> tuple[dict[str, np.ndarray], dict]:
    """
    Read a Minari dataset as demo arrays (named like DemoDataset's fields) and metadata.

    Each episode gives its first T observations (the final next observation has no action),
    its T actions, rewards, terminations and truncations, and the T step infos' instruction
    and success; `episode_ids` number the episodes in order.
    """
    import gymnasium
    import minari

    path = find_dataset(source)
    if path is None:
        raise MinariFormatError(f'{source} is not a Minari dataset (folder or id under '
                                f'{datasets_root()})')
    dataset = minari.MinariDataset(path)
    task = _task_of(dataset.env_spec, path)
    spec = get_task(task)
    if not isinstance(dataset.observation_space, gymnasium.spaces.Box):
        raise MinariFormatError(f'{path}: observations are {dataset.observation_space}; '
                                'expected the flat state vector (obs_mode="state")')
    stored = dict(dataset.storage.metadata.get(LAGO_METADATA_KEY) or {})
    metadata = {'task': task, 'family': spec.family, 'obs_dim': spec.obs_dim,
                'action_type': spec.action_type, 'action_dim': spec.action_dim}
    for key, value in metadata.items():
        if stored.get(key, value) != value:
            raise MinariFormatError(f'{path} says {key}={stored[key]!r}; task {task} has '
                                    f'{key}={value!r}')
    columns: dict[str, list] = {name: [] for name in (
        'observations', 'actions', 'rewards', 'terminations', 'truncations', 'successes',
        'instructions', 'episode_ids')}
    for index, ep in enumerate(dataset.iterate_episodes()):
        infos = ep.infos or {}
        missing = [key for key in ('instruction', 'success') if key not in infos]
        if missing:
            raise MinariFormatError(f'{path}: episode {ep.id} has no infos {missing}; expected '
                                    'an instruction and a success flag per step')
        steps = len(ep.rewards)
        for name, value in (('observations', np.asarray(ep.observations)[:steps]),
                            ('actions', np.asarray(ep.actions)), ('rewards', ep.rewards),
                            ('terminations', ep.terminations), ('truncations', ep.truncations),
                            ('successes', np.asarray(infos['success'])[1:]),
                            ('instructions', _strings(infos['instruction'])[1:]),
                            ('episode_ids', np.full(steps, index, dtype=np.int64))):
            columns[name].append(np.asarray(value))
    arrays = {name: np.concatenate(parts) if parts else np.zeros(0)
              for name, parts in columns.items()}
    metadata = {**stored, **metadata, 'source': 'minari', 'dataset_id': dataset.id,
                'episodes': stored.get('episodes', dataset.total_episodes)}
    return arrays, metadata
