# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Plain MLP action priors: the baselines a language prior has to beat.

`MLPPrior` clones the demonstrations with an MLP over the normalised observation, either with no
task information at all (`task_names=None`) or with a one-hot of the task the instruction belongs
to (`task_names=[...]`: an oracle that reads the task off a lookup table of every registered
phrasing, so it is the upper bound a language prior should approach). It has the interface
`train_prior`, PPO and the quality harness use (`forward`, `predict`, `save_pretrained`,
`from_pretrained`), but no language model and no ONNX Runtime path.
"""

from collections.abc import Sequence
import dataclasses
import json
import os
from pathlib import Path
import shutil
import tempfile
from typing import Any

import numpy as np
import safetensors.torch
import torch
from torch import nn

from lago_ros.prior.model import (
    ACTION_TYPES,
    distribution,
    PriorConfigError,
    PriorInputError,
    PriorLoadError,
    PriorOutput,
)
from lago_ros.utils import new_file_mode, sha256_file

KIND = 'mlp'
CONFIG_FILE = 'config.json'
WEIGHTS_FILE = 'model.safetensors'


@dataclasses.dataclass
class MLPPriorConfig:
    """Everything that defines an MLP prior; saved in its folder's config.json."""

    obs_dim: int | None = None
    """Observation size; filled from the demonstrations by train_prior when None."""
    action_type: str | None = None
    """'discrete' (categorical) or 'continuous' (diagonal Gaussian)."""
    action_dim: int | None = None
    """Number of actions (discrete) or action vector size (continuous)."""
    task: str = ''
    """Task name(s) the prior was fitted on (provenance only)."""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """Hidden widths of the MLP."""
    task_names: list[str] | None = None
    """None: no task input; else the tasks of the one-hot, in order (the instruction picks one)."""
    batch_size: int = 4096
    """Largest batch `predict` runs at once."""
    log_std_min: float = -3.0
    """Lower end of the Gaussian log-std output (the same range as ActionPrior's)."""
    log_std_max: float = 0.5
    """Upper end of the Gaussian log-std output."""
    obs_mean: list[float] | None = None
    """Per-feature observation mean from the demonstrations (None = 0)."""
    obs_std: list[float] | None = None
    """Per-feature observation std from the demonstrations (None = 1)."""
    min_obs_std: float = 1e-2
    """Floor on obs_std so nearly constant features do not blow up."""
    obs_clip: float = 10.0
    """Normalised observations are clipped to [-obs_clip, obs_clip]."""
    mode: str = 'full'
    """Always 'full': every weight trains (kept so BCConfig.mode handling stays uniform)."""

    def __post_init__(self) -> None:
        """Reject values that cannot describe a working prior."""
        self.hidden_sizes = tuple(int(size) for size in self.hidden_sizes)
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise PriorConfigError(f'hidden_sizes is {self.hidden_sizes}, expected widths >= 1')
        if self.action_type is not None and self.action_type not in ACTION_TYPES:
            raise PriorConfigError(
                f'action_type is {self.action_type!r}, expected one of {ACTION_TYPES}')
        if self.task_names is not None and len(set(self.task_names)) != len(self.task_names):
            raise PriorConfigError(f'task_names {self.task_names} has duplicates')
        if not self.log_std_min < self.log_std_max:
            raise PriorConfigError('log_std_min must be below log_std_max')
        if self.mode != 'full':
            raise PriorConfigError(f'an MLP prior trains all its weights; mode is {self.mode!r}, '
                                   "expected 'full'")

    def require_complete(self) -> None:
        """Raise unless the observation and action spaces are known."""
        missing = [name for name in ('obs_dim', 'action_type', 'action_dim')
                   if getattr(self, name) is None]
        if missing:
            raise PriorConfigError(f'MLPPriorConfig needs {", ".join(missing)}')


def instruction_tasks(task_names: Sequence[str]) -> dict[str, int]:
    """Map every registered phrasing (all splits) of each task to its index in `task_names`."""
    from lago_ros.envs.instructions import instructions_for

    table: dict[str, int] = {}
    for index, task in enumerate(task_names):
        for split in ('train', 'test'):
            for text in instructions_for(task, split):
                table[text] = index
    return table


class MLPPrior(nn.Module):
    """p(a | s) or p(a | s, task one-hot): a Gaussian or categorical MLP cloned from demos."""

    kind = KIND

    def __init__(self, config: MLPPriorConfig) -> None:
        """Build the MLP for `config` (spaces must be known)."""
        super().__init__()
        config.require_complete()
        self.config = config
        self.quantized = False
        tasks = len(config.task_names or ())
        self._task_of = instruction_tasks(config.task_names) if tasks else {}
        layers: list[nn.Module] = []
        width = config.obs_dim + tasks
        for size in config.hidden_sizes:
            layers += [nn.Linear(width, size), nn.Tanh()]
            width = size
        outputs = config.action_dim * (1 if config.action_type == 'discrete' else 2)
        layers.append(nn.Linear(width, outputs))
        self.net = nn.Sequential(*layers)
        mean = config.obs_mean if config.obs_mean is not None else [0.0] * config.obs_dim
        std = config.obs_std if config.obs_std is not None else [1.0] * config.obs_dim
        self.register_buffer('obs_mean', torch.tensor(mean, dtype=torch.float32), False)
        self.register_buffer(
            'obs_std', torch.tensor(std, dtype=torch.float32).clamp_min(config.min_obs_std),
            False)

    @property
    def device(self) -> torch.device:
        """Device of the prior's weights."""
        return self.obs_mean.device

    def _one_hot(self, instructions: Sequence[str], batch: int) -> torch.Tensor:
        """Task one-hot (B, tasks) of each row's instruction; unknown phrasings are refused."""
        if len(instructions) not in (1, batch):
            raise PriorInputError(f'got {len(instructions)} instructions for {batch} '
                                  'observations; expected one per observation or one shared')
        try:
            index = [self._task_of[text] for text in instructions]
        except KeyError as err:
            raise PriorInputError(
                f'instruction {err.args[0]!r} is not a registered phrasing of '
                f'{self.config.task_names}; a one-hot MLP prior only knows those') from None
        hot = torch.zeros(len(index), len(self.config.task_names), device=self.device)
        hot[torch.arange(len(index)), torch.tensor(index)] = 1.0
        return hot.expand(batch, -1) if len(index) == 1 else hot

    def forward(self, observations: torch.Tensor, instructions: Sequence[str]) -> PriorOutput:
        """Return distribution parameters as tensors for raw observations (B, obs_dim)."""
        x = ((observations - self.obs_mean) / self.obs_std).clamp(
            -self.config.obs_clip, self.config.obs_clip)
        if self.config.task_names:
            x = torch.cat([x, self._one_hot(instructions, len(x))], dim=-1)
        return distribution(self.net(x), self.config)

    def predict(self, observations: Any, instructions: Sequence[str]) -> PriorOutput:
        """Prior distribution (numpy) for raw observations (B, obs_dim)."""
        obs = np.asarray(observations, dtype=np.float32)
        if obs.ndim != 2 or obs.shape[1] != self.config.obs_dim:
            raise PriorInputError(f'observations have shape {obs.shape}, prior expects '
                                  f'(batch, {self.config.obs_dim})')
        if not np.isfinite(obs).all():
            raise PriorInputError('observations contain NaN or Inf')
        instructions = list(instructions)
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                out = self(torch.from_numpy(obs).to(self.device), instructions)
        finally:
            self.train(was_training)
        return PriorOutput(**{name: value.cpu().numpy() for name, value in
                              dataclasses.asdict(out).items() if value is not None})

    def save_pretrained(self, folder: str | os.PathLike) -> Path:
        """Save config and safetensors weights; the folder appears atomically."""
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f'.{folder.name}.'))
        staging.chmod(new_file_mode(directory=True))  # mkdtemp's 0700 would hide the prior
        try:
            weights = staging / WEIGHTS_FILE
            state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
            safetensors.torch.save_file(state, str(weights), metadata={'format': 'pt'})
            document = {'kind': KIND, 'prior': dataclasses.asdict(self.config),
                        'weights_sha256': sha256_file(weights)}
            (staging / CONFIG_FILE).write_text(json.dumps(document, indent=2), encoding='utf-8')
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(staging, folder)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike,
                        device: str | torch.device = 'cpu') -> 'MLPPrior':
        """Load an MLP prior saved by save_pretrained (safetensors, checksum verified)."""
        folder = Path(folder)
        try:
            document = json.loads((folder / CONFIG_FILE).read_text(encoding='utf-8'))
        except (OSError, ValueError) as err:
            raise PriorLoadError(f'cannot read {folder / CONFIG_FILE}: {err}') from err
        if not isinstance(document, dict) or document.get('kind') != KIND:
            raise PriorLoadError(f'{folder} does not hold an MLP prior')
        weights = folder / WEIGHTS_FILE
        if not weights.is_file() or sha256_file(weights) != document.get('weights_sha256'):
            raise PriorLoadError(f'{weights} is missing or does not match its checksum')
        try:
            prior = cls(MLPPriorConfig(**document['prior']))
            prior.load_state_dict(safetensors.torch.load_file(str(weights)), strict=True)
        except (TypeError, ValueError, RuntimeError, PriorConfigError) as err:
            raise PriorLoadError(f'cannot load MLP prior from {folder}: {err}') from err
        return prior.to(device).eval()
