# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Training metrics: a CSV file, TensorBoard events and a learning-curve PNG in the run folder.

On resume the logger drops whatever was logged after the checkpoint's step (CSV rows and
TensorBoard events), so a run that crashed and resumed reads like one that never stopped.
A fresh run's TensorBoard events also hold its hyperparameters (the HParams tab): the run
folder's config.yaml, which the run service writes before training, flattened to dotted keys.
"""

import csv
import math
from pathlib import Path
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Union

import numpy as np

from lago_ros.utils import atomic_write, PathLike

CURVE_KEYS = ('charts/episodic_return', 'charts/success_rate', 'lago/kl_prior')
CONFIG_FILE = 'config.yaml'
"""The run folder's settings (rl/run.py writes it); a fresh logger logs them as hparams."""
HParam = Union[bool, int, float, str]


def flat_hparams(config: Mapping[str, Any], prefix: str = '') -> Dict[str, HParam]:
    """Flatten a nested config to TensorBoard hparams: dotted keys, other values as text."""
    flat: Dict[str, HParam] = {}
    for key, value in config.items():
        name = f'{prefix}{key}'
        if isinstance(value, Mapping):
            flat.update(flat_hparams(value, f'{name}.'))
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def step_successes(info: Dict[str, Any], dones: np.ndarray) -> np.ndarray:
    """
    Per-env `success` flags of the vector step just taken (False where an env gave none).

    With autoreset SAME_STEP an env that just ended reports its step's info under 'final_info'
    (the top level then holds the reset info of its next episode).
    """
    final = info.get('final_info', {})
    flags = np.zeros(len(dones), dtype=bool)
    for i, done in enumerate(dones):
        source = final if done else info
        if 'success' in source and source.get('_success', np.ones(len(dones), bool))[i]:
            flags[i] = bool(source['success'][i])
    return flags


class Episode(NamedTuple):
    """One finished episode of sub-env `env`: undiscounted return, length and success."""

    env: int
    episode_return: float
    length: int
    success: bool


class EpisodeTracker:
    """
    Accumulate return, length and success per sub-env and report episodes as they end.

    An episode counts as a success if `info['success']` was true at any of its steps (the
    Meta-World convention; for tasks that end on success it is the same as the last step).
    """

    def __init__(self, num_envs: int) -> None:
        """Track `num_envs` sub-envs."""
        self.returns = np.zeros(num_envs)
        self.lengths = np.zeros(num_envs, dtype=np.int64)
        self.successes = np.zeros(num_envs, dtype=bool)

    def reset(self) -> None:
        """Forget the episodes in flight (all sub-envs restart)."""
        self.returns[:], self.lengths[:], self.successes[:] = 0.0, 0, False

    def step(self, rewards: np.ndarray, dones: np.ndarray, info: Dict[str, Any]) -> List[Episode]:
        """Fold in one vector step; return the episodes that ended with it."""
        dones = np.asarray(dones, dtype=bool)
        self.returns += np.asarray(rewards, dtype=np.float64)
        self.lengths += 1
        self.successes |= step_successes(info, dones)
        ended = [Episode(int(i), float(self.returns[i]), int(self.lengths[i]),
                         bool(self.successes[i])) for i in np.flatnonzero(dones)]
        self.returns[dones], self.lengths[dones], self.successes[dones] = 0.0, 0, False
        return ended


class MetricsLogger:
    """Append one row of scalars per update to `metrics.csv` and to TensorBoard."""

    def __init__(self, run_dir: PathLike, resume_step: Optional[int] = None,
                 tensorboard: bool = True) -> None:
        """Open the run folder; `resume_step` keeps only what was logged up to that step."""
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.run_dir / 'metrics.csv'
        self.fieldnames: Optional[List[str]] = None
        if resume_step is None:
            self.csv_path.unlink(missing_ok=True)
        elif self.csv_path.exists():
            self._truncate_csv(resume_step)
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            purge = 0 if resume_step is None else resume_step + 1  # hide stale events
            self.writer = SummaryWriter(str(self.run_dir / 'tensorboard'), purge_step=purge)
            if resume_step is None:  # a resumed run keeps those its first session wrote
                self._log_hparams()

    def _log_hparams(self) -> None:
        """
        Write config.yaml as hparams into this run's events (not a sub-run, as add_hparams does).

        They go after the writer's purge marker, so TensorBoard does not drop them as stale.
        """
        import yaml
        from torch.utils.tensorboard.summary import hparams

        path = self.run_dir / CONFIG_FILE
        if not path.is_file():
            return
        config = yaml.safe_load(path.read_text()) or {}
        for proto in hparams(flat_hparams(config), dict.fromkeys(CURVE_KEYS, 0.0)):
            self.writer.file_writer.add_summary(proto)

    def _truncate_csv(self, resume_step: int) -> None:
        """Rewrite the CSV keeping rows logged at or before `resume_step`."""
        with open(self.csv_path, newline='') as handle:
            reader = csv.DictReader(handle)
            self.fieldnames = list(reader.fieldnames or [])
            rows = [row for row in reader if int(float(row['global_step'])) <= resume_step]
        with atomic_write(self.csv_path, 'w') as handle:
            writer = csv.DictWriter(handle, self.fieldnames)
            writer.writeheader()
            writer.writerows(rows)

    def log(self, global_step: int, scalars: Dict[str, float]) -> None:
        """Write one row (the column set is fixed by the first row of the file)."""
        row = {'global_step': global_step, **scalars}
        new_file = self.fieldnames is None
        if new_file:
            self.fieldnames = list(row)
        unknown = sorted(set(row) - set(self.fieldnames))
        if unknown:
            raise ValueError(f'metrics {unknown} are not columns of {self.csv_path}; expected '
                             f'a subset of {self.fieldnames}')
        with open(self.csv_path, 'a', newline='') as handle:
            writer = csv.DictWriter(handle, self.fieldnames)
            if new_file:
                writer.writeheader()
            writer.writerow(row)
        if self.writer is not None:
            for key, value in scalars.items():
                self.writer.add_scalar(key, value, global_step)

    def flush(self) -> None:
        """Push pending TensorBoard events to disk (the CSV is written row by row)."""
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        """Flush and close the TensorBoard writer."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def read_metrics(csv_path: PathLike) -> Dict[str, List[float]]:
    """Read a metrics CSV into columns of floats (empty cells become NaN)."""
    with open(csv_path, newline='') as handle:
        rows = list(csv.DictReader(handle))
    keys = rows[0].keys() if rows else []
    return {key: [float(row[key]) if row[key] not in ('', None) else math.nan for row in rows]
            for key in keys}


def plot_learning_curve(csv_path: PathLike, png_path: PathLike,
                        keys: Sequence[str] = CURVE_KEYS) -> Path:
    """Plot the given metric columns against env steps into a PNG (headless Agg backend)."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    columns = read_metrics(csv_path)
    keys = [key for key in keys if key in columns]
    fig, axes = plt.subplots(len(keys) or 1, 1, figsize=(7, 2.6 * max(len(keys), 1)),
                             sharex=True, squeeze=False)
    for ax, key in zip(axes[:len(keys), 0], keys, strict=True):
        ax.plot(columns['global_step'], columns[key])
        ax.set_ylabel(key.split('/')[-1])
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel('environment steps')
    fig.tight_layout()
    png_path = Path(png_path)
    with atomic_write(png_path, 'wb') as handle:
        fig.savefig(handle, format='png', dpi=100)
    plt.close(fig)
    return png_path
