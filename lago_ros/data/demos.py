# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Demonstrations: roll out a task's scripted expert, store the transitions, load them back.

Format (version 1): a folder with two files.
- `metadata.json`: format_version, task, family, obs_dim, action_type, action_dim, split,
  source_policy, seed, episodes (kept), episodes_attempted, episodes_dropped, keep_failed,
  stop_on_success, steps_after_success, transitions, success_rate (over attempted episodes);
  `bridge`, the bridge node, for demos recorded through a sim or robot bridge.
- `transitions.npz` (no pickled objects), one row per env step, N rows in all:
  `observations` (N, obs_dim) float32, the observation the action was taken in;
  `actions` (N, action_dim) float32 for continuous tasks or (N,) int64 for discrete ones;
  `rewards` (N,) float32; `terminations`, `truncations`, `successes` (N,) bool as the env
  returned them for that step; `episode_ids` (N,) int64, 0..episodes-1 in order;
  `instructions` (N,) unicode, the episode's instruction.
The folder is written under a temporary name beside `out_dir` and renamed into place, so a crash
never leaves a half-written dataset under the final name.

Minari datasets (HDF5, with next observations and the env spec) are the other format:
`minari_io` reads and writes them, `minari_collect` collects into them or converts a folder, and
`load_demos` loads either. The two plain files here load with numpy alone, also on the deploy side.
"""

from dataclasses import dataclass, fields
import json
import os
from pathlib import Path
import shutil
import tempfile
from typing import Any, Optional, Union
import zipfile

import numpy as np
from tqdm import tqdm

from lago_ros.envs.registry import get_task, make_env, make_expert
from lago_ros.utils import atomic_write, new_file_mode

FORMAT_VERSION = 1
METADATA_FILE = 'metadata.json'
TRANSITIONS_FILE = 'transitions.npz'


class DemoFormatError(ValueError):
    """A demo folder that is missing files, is corrupt, or whose arrays disagree."""


class DemoCollectionError(RuntimeError):
    """The expert produced no episode worth keeping."""


@dataclass
class DemoDataset:
    """Transitions of a demo folder (see the module docstring for shapes) and its metadata."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    successes: np.ndarray
    episode_ids: np.ndarray
    instructions: np.ndarray
    metadata: dict

    def __len__(self) -> int:
        """Return the number of transitions."""
        return len(self.observations)

    @property
    def num_episodes(self) -> int:
        """Return the number of distinct episodes."""
        return len(np.unique(self.episode_ids))


ARRAY_NAMES: tuple[str, ...] = tuple(f.name for f in fields(DemoDataset) if f.name != 'metadata')
_DTYPES = {'rewards': np.float32, 'terminations': bool, 'truncations': bool, 'successes': bool,
           'episode_ids': np.int64, 'observations': np.float32}


def _run_episode(env: Any, expert: Any, seed: Optional[int],
                 steps_after_success: Optional[int] = None) -> dict[str, list]:
    """
    Roll out one episode with `expert`; return per-step lists keyed like DemoDataset.

    With `steps_after_success` set, the episode is cut that many steps after the first success
    (its last row is then marked truncated), so near-goal states are covered too.
    """
    obs, info = env.reset(seed=seed)
    rows: dict[str, list] = {name: [] for name in ARRAY_NAMES if name != 'episode_ids'}
    done, left = False, None
    while not done:
        action = expert(obs)
        next_obs, reward, terminated, truncated, info = env.step(action)
        for name, value in (('observations', obs), ('actions', action), ('rewards', reward),
                            ('terminations', terminated), ('truncations', truncated),
                            ('successes', info['success']),
                            ('instructions', info['instruction'])):
            rows[name].append(value)
        obs, done = next_obs, terminated or truncated
        if steps_after_success is not None:
            if left is None and info['success']:
                left = steps_after_success
            elif left is not None:
                left -= 1
            if left == 0 and not done:
                rows['truncations'][-1], done = True, True
    return rows


def collect_demos(task: str, episodes: int, seed: int, out_dir: Union[str, os.PathLike],
                  split: str = 'train', progress: bool = True, keep_failed: bool = False,
                  stop_on_success: bool = True, overwrite: bool = False,
                  steps_after_success: int = 0, env: Optional[Any] = None,
                  bridge: Optional[str] = None, **env_options: Any) -> Path:
    """
    Run `episodes` expert episodes of `task` and write them to the demo folder `out_dir`.

    Failed episodes are dropped unless `keep_failed` (the count is in the metadata). With
    `stop_on_success` demos end where the task is done: at the first success, or
    `steps_after_success` steps after it (the expert keeps acting near the goal). An existing
    `out_dir` is replaced only with `overwrite`.

    `env`: roll out in this env instead of a new in-process one (left open), e.g. a
    `lago_ros.nodes.bridge_env.BridgeEnv` over a sim or robot bridge, named by `bridge` in the
    metadata. Its episodes end where it says (its time limit, its termination); with
    `stop_on_success` the collector also cuts each one at its first success (plus
    `steps_after_success`), the cut row marked truncated. Only experts that need no env of their
    own can act in it (the Meta-World tasks' scripted policies, not CLEVR-Robot's oracle).
    """
    spec = get_task(task)
    if episodes < 1:
        raise ValueError(f'episodes is {episodes}; expected at least 1')
    if steps_after_success < 0:
        raise ValueError(f'steps_after_success is {steps_after_success}; expected >= 0')
    extra = steps_after_success if stop_on_success and steps_after_success > 0 else None
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f'{out_dir} exists; pass overwrite=True to replace it')
    own_env = env is None
    if own_env:
        env = make_env(task, seed=seed, split=split,
                       terminate_on_success=stop_on_success and extra is None, **env_options)
    else:
        if env_options:
            raise ValueError(f'env options {sorted(env_options)} apply to an in-process env; '
                             'the given env has its own settings')
        if spec.action_type == 'discrete':
            raise ValueError(f'the {task} expert simulates its own env; collect {task} demos '
                             'in-process (no env given)')
        extra = steps_after_success if stop_on_success else None
    expert = make_expert(task, env)
    kept: list[dict[str, list]] = []
    successes = 0
    bar = tqdm(range(episodes), desc=f'demos {task}', unit='ep', disable=not progress)
    for episode in bar:
        rows = _run_episode(env, expert, seed if episode == 0 else None, extra)
        succeeded = bool(np.any(rows['successes']))
        successes += succeeded
        if succeeded or keep_failed:
            kept.append(rows)
        bar.set_postfix(success=f'{successes}/{episode + 1}')
    if own_env:
        env.close()
    if not kept:
        raise DemoCollectionError(f'the {task} expert succeeded in none of {episodes} episodes; '
                                  'nothing to save (pass keep_failed=True to keep failures)')
    arrays = _stack(kept, spec.action_type)
    metadata = {
        'format_version': FORMAT_VERSION, 'task': task, 'family': spec.family,
        'obs_dim': spec.obs_dim, 'action_type': spec.action_type, 'action_dim': spec.action_dim,
        'split': split, 'seed': seed,
        'source_policy': getattr(expert, 'source', f'{type(expert).__module__}.'
                                                   f'{type(expert).__qualname__}'),
        'episodes': len(kept), 'episodes_attempted': episodes,
        'episodes_dropped': episodes - len(kept), 'keep_failed': keep_failed,
        'stop_on_success': stop_on_success, 'steps_after_success': steps_after_success,
        'transitions': len(arrays['observations']),
        'success_rate': successes / episodes,
    }
    if bridge is not None:
        metadata['bridge'] = bridge
    _write_folder(out_dir, arrays, metadata)
    return out_dir


def _stack(episodes: list[dict[str, list]], action_type: str) -> dict[str, np.ndarray]:
    """Concatenate per-episode lists into the arrays of the on-disk format."""
    arrays = {name: np.concatenate([np.asarray(ep[name]) for ep in episodes])
              for name in episodes[0]}
    arrays['episode_ids'] = np.concatenate(
        [np.full(len(ep['rewards']), i, dtype=np.int64) for i, ep in enumerate(episodes)])
    arrays['actions'] = arrays['actions'].astype(
        np.int64 if action_type == 'discrete' else np.float32)
    arrays['instructions'] = arrays['instructions'].astype(str)
    for name, dtype in _DTYPES.items():
        arrays[name] = arrays[name].astype(dtype)
    return arrays


def _write_folder(out_dir: Path, arrays: dict[str, np.ndarray], metadata: dict) -> None:
    """Write both files into a temp folder beside `out_dir`, then rename it into place."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f'.{out_dir.name}.'))
    try:
        tmp.chmod(new_file_mode(directory=True))  # as mkdir would, not mkdtemp's 0700
        with atomic_write(tmp / TRANSITIONS_FILE, 'wb') as handle:
            np.savez_compressed(handle, **arrays)
        with atomic_write(tmp / METADATA_FILE, 'w') as handle:
            json.dump(metadata, handle, indent=2, sort_keys=True)
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f'.{out_dir.name}.old.'))
            os.replace(out_dir, old / out_dir.name)
            os.replace(tmp, out_dir)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _expected_shapes(metadata: dict, n: int) -> dict[str, tuple[int, ...]]:
    action_shape = (n,) if metadata['action_type'] == 'discrete' else (n, metadata['action_dim'])
    shapes = {name: (n,) for name in ARRAY_NAMES}
    shapes.update(observations=(n, metadata['obs_dim']), actions=action_shape)
    return shapes


def _read_metadata(folder: Path) -> dict:
    path = folder / METADATA_FILE
    if not path.is_file():
        raise DemoFormatError(f'{folder} has no {METADATA_FILE}; expected a demo folder written '
                              'by collect_demos')
    try:
        metadata = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DemoFormatError(f'{path} is not valid JSON: {err}') from err
    required = ('format_version', 'task', 'obs_dim', 'action_type', 'action_dim', 'episodes')
    if not isinstance(metadata, dict):
        raise DemoFormatError(f'{path} holds a {type(metadata).__name__}; expected an object')
    missing = [key for key in required if key not in metadata]
    if missing:
        raise DemoFormatError(f'{path} lacks {", ".join(missing)}; expected all of {required}')
    if metadata['format_version'] != FORMAT_VERSION:
        raise DemoFormatError(f'{path} has format_version {metadata["format_version"]}; this '
                              f'code reads version {FORMAT_VERSION}')
    spec = get_task(metadata['task'])
    for key in ('obs_dim', 'action_type', 'action_dim'):
        if metadata[key] != getattr(spec, key):
            raise DemoFormatError(f'{path} says {key}={metadata[key]!r}; task {spec.name} has '
                                  f'{key}={getattr(spec, key)!r}')
    return metadata


def _read_arrays(folder: Path) -> dict[str, np.ndarray]:
    path = folder / TRANSITIONS_FILE
    if not path.is_file():
        raise DemoFormatError(f'{folder} has no {TRANSITIONS_FILE}; expected it beside '
                              f'{METADATA_FILE}')
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in ARRAY_NAMES if name in npz.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise DemoFormatError(f'{path} is corrupt or not an npz archive: {err}') from err
    missing = [name for name in ARRAY_NAMES if name not in arrays]
    if missing:
        raise DemoFormatError(f'{path} lacks arrays {", ".join(missing)}; expected '
                              f'{", ".join(ARRAY_NAMES)}')
    return arrays


def load_demos(folder: Union[str, os.PathLike]) -> DemoDataset:
    """
    Load and validate demonstrations; raise DemoFormatError saying what is wrong.

    `folder` is a demo folder, or a Minari dataset: its folder or its id (minari_io).
    """
    from lago_ros.data import minari_io

    minari_path = minari_io.find_dataset(folder)
    if minari_path is not None:
        try:
            arrays, metadata = minari_io.read_dataset(minari_path)
        except minari_io.MinariFormatError as err:
            raise DemoFormatError(str(err)) from err
        folder = minari_path
    elif not Path(folder).is_dir():
        raise DemoFormatError(f'{folder} is not a folder; expected a demo folder or a Minari '
                              f'dataset (its folder, or an id under {minari_io.datasets_root()})')
    else:
        folder = Path(folder)
        metadata = _read_metadata(folder)
        arrays = _read_arrays(folder)
    n = len(arrays['observations'])
    discrete = metadata['action_type'] == 'discrete'
    for name, shape in _expected_shapes(metadata, n).items():
        if arrays[name].shape != shape:
            raise DemoFormatError(f'{folder}: {name} has shape {arrays[name].shape}; expected '
                                  f'{shape} for task {metadata["task"]}')
    expected_kinds = {'instructions': 'U', 'actions': 'iu' if discrete else 'f'}
    for name, kinds in expected_kinds.items():
        if arrays[name].dtype.kind not in kinds:
            raise DemoFormatError(f'{folder}: {name} have dtype {arrays[name].dtype}; expected '
                                  f'kind {kinds!r} for a {metadata["action_type"]} task')
    if not np.all(np.isfinite(arrays['observations'])):
        raise DemoFormatError(f'{folder}: observations contain NaN or infinity')
    episodes = len(np.unique(arrays['episode_ids']))
    if episodes != metadata['episodes']:
        raise DemoFormatError(f'{folder}: transitions hold {episodes} episodes; metadata says '
                              f'{metadata["episodes"]}')
    for name, dtype in _DTYPES.items():
        arrays[name] = arrays[name].astype(dtype, copy=False)
    arrays['actions'] = arrays['actions'].astype(np.int64 if discrete else np.float32, copy=False)
    return DemoDataset(**arrays, metadata=metadata)


def merge_demos(datasets: list[DemoDataset]) -> DemoDataset:
    """
    Join demo datasets of tasks with one observation and action space into a multi-task one.

    Episode ids are renumbered in order; the metadata lists the tasks (`tasks`) and joins their
    names with commas in `task`.
    """
    if not datasets:
        raise DemoFormatError('merge_demos needs at least one dataset')
    first = datasets[0].metadata
    for data in datasets[1:]:
        for key in ('obs_dim', 'action_type', 'action_dim'):
            if data.metadata[key] != first[key]:
                raise DemoFormatError(
                    f'cannot merge {data.metadata["task"]} ({key}={data.metadata[key]!r}) with '
                    f'{first["task"]} ({key}={first[key]!r})')
    arrays = {name: np.concatenate([getattr(d, name) for d in datasets])
              for name in ARRAY_NAMES if name != 'episode_ids'}
    offsets = np.cumsum([0] + [d.num_episodes for d in datasets[:-1]])
    arrays['episode_ids'] = np.concatenate([
        np.unique(d.episode_ids, return_inverse=True)[1] + offset
        for d, offset in zip(datasets, offsets, strict=True)]).astype(np.int64)
    tasks = [d.metadata['task'] for d in datasets]
    metadata = {key: first[key] for key in ('obs_dim', 'action_type', 'action_dim', 'family')
                if key in first}
    metadata.update(task=','.join(tasks), tasks=tasks,
                    episodes=sum(d.num_episodes for d in datasets),
                    seeds=[d.metadata.get('seed') for d in datasets],
                    transitions=len(arrays['observations']))
    return DemoDataset(**arrays, metadata=metadata)
