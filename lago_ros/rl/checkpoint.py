# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Atomic, weights-only PPO checkpoints and the RNG state they carry.

A checkpoint is a dict of tensors and plain Python values written with `torch.save` to a temp
file, fsynced and renamed over the target, so a crash never leaves a half-written checkpoint.
It is read back with `torch.load(weights_only=True)`, which refuses to unpickle arbitrary objects;
that is why RNG states are converted to tensors and lists here. Anything else (random bytes, an
ONNX model, a foreign pickle) is refused with one line that says what was expected.

Checkpoints written before the guidance had its own settings kept beta & co. in `config`;
`load_checkpoint` moves them to `guidance`, where current checkpoints keep them.
"""

import dataclasses
import random
from typing import Any, Dict

import numpy as np
import torch

from lago_ros.rl.guidance import GuidanceConfig
from lago_ros.utils import atomic_write, PathLike

CHECKPOINT_FORMAT = 'lago_ros.ppo/1'
REQUIRED_KEYS = ('format', 'config', 'policy', 'optimizer', 'obs_normalizer', 'reward_scaler',
                 'global_step', 'update', 'rng')


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, truncated or not a PPO checkpoint."""


def capture_rng_state(generator: torch.Generator) -> Dict[str, Any]:
    """Return Python, NumPy, torch-global and `generator` RNG states as tensors and lists."""
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    return {'python': [py_version, list(py_state), py_gauss],
            'numpy': [np_name, torch.from_numpy(np_keys.astype(np.int64)), int(np_pos),
                      int(np_has_gauss), float(np_gauss)],
            'torch': torch.get_rng_state(), 'generator': generator.get_state()}


def restore_rng_state(state: Dict[str, Any], generator: torch.Generator) -> None:
    """Restore the states returned by `capture_rng_state`."""
    py_version, py_state, py_gauss = state['python']
    random.setstate((py_version, tuple(py_state), py_gauss))
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = state['numpy']
    np.random.set_state((np_name, np_keys.numpy().astype(np.uint32), np_pos, np_has_gauss,
                         np_gauss))
    torch.set_rng_state(state['torch'])
    generator.set_state(state['generator'])


def save_checkpoint(path: PathLike, state: Dict[str, Any]) -> None:
    """Write `state` (tensors and plain values only) atomically to `path`."""
    with atomic_write(path, 'wb') as handle:
        torch.save({'format': CHECKPOINT_FORMAT, **state}, handle)


def load_checkpoint(path: PathLike) -> Dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint`; raise CheckpointError if it is damaged."""
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except FileNotFoundError as err:
        raise CheckpointError(f'checkpoint {path} does not exist') from err
    except Exception as err:  # torch raises several types, with pages of advice, for these
        raise CheckpointError(f'checkpoint {path} is corrupt or truncated, or not a checkpoint '
                              f'at all ({type(err).__name__}); expected a file written by '
                              'PPO.save') from err
    if not isinstance(state, dict) or state.get('format') != CHECKPOINT_FORMAT:
        found = state.get('format') if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f'{path} is not a PPO checkpoint: format {found!r}, expected '
                              f'{CHECKPOINT_FORMAT!r}')
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise CheckpointError(f'checkpoint {path} lacks {missing}; expected keys {REQUIRED_KEYS}')
    _move_legacy_guidance(state)
    return state


def _move_legacy_guidance(state: Dict[str, Any]) -> None:
    """Move guidance settings that older checkpoints kept in the PPO config to `guidance`."""
    names = [f.name for f in dataclasses.fields(GuidanceConfig)]
    legacy = {name: state['config'].pop(name) for name in names if name in state['config']}
    if legacy and 'guidance' not in state:
        state['guidance'] = {'config': legacy}
