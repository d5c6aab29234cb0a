# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Stage 1 of LaGO: fit an ActionPrior to expert demonstrations by behaviour cloning."""

import dataclasses
import math
from pathlib import Path
import time
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from lago_ros.prior.load import AnyPriorConfig, build_prior
from lago_ros.prior.model import MODES, observation_stats, PriorOutput
from lago_ros.utils import seed_everything

History = list[dict[str, float]]


class DemoDataError(ValueError):
    """Demonstrations are inconsistent with each other or with the prior's configuration."""


@dataclasses.dataclass
class BCConfig:
    """Behaviour-cloning settings for train_prior."""

    epochs: int = 30
    """Maximum passes over the training split."""
    lr: float = 1e-3
    """Learning rate of the projector and head."""
    backbone_lr: float = 1e-4
    """Learning rate of trainable backbone weights (LoRA adapters or the full model)."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    batch_size: int = 64
    """States per gradient step."""
    val_fraction: float = 0.1
    """Share of episodes held out for validation (at least one when there are two or more)."""
    patience: int = 5
    """Stop after this many epochs without a better validation score."""
    select_by: str = 'loss'
    """Kept epoch chosen by 'loss' (BC loss; rewards a calibrated std) or 'metric' (acc./MSE)."""
    mode: str | None = None
    """Overrides PriorConfig.mode when set: 'frozen', 'lora' or 'full'."""
    seed: int = 0
    """Seeds weight init, the episode split and batch order."""
    device: str = 'cpu'
    """Torch device to train on."""
    grad_clip: float = 1.0
    """Global gradient-norm clip (0 disables)."""
    progress: bool = True
    """Show a tqdm bar per epoch."""
    group_by_instruction: bool = False
    """Each batch holds rows of one instruction (batches shuffled), so a prefix-attention prior
    encodes one instruction per step instead of one per distinct instruction in the batch."""

    def __post_init__(self) -> None:
        """Reject settings that cannot train."""
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise ValueError('epochs, batch_size and patience must be positive integers')
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f'val_fraction is {self.val_fraction}, expected 0 <= f < 1')
        if self.mode is not None and self.mode not in MODES:
            raise ValueError(f'mode is {self.mode!r}, expected one of {MODES} or None')
        if self.select_by not in ('loss', 'metric'):
            raise ValueError(f"select_by is {self.select_by!r}, expected 'loss' or 'metric'")


def bc_loss(output: PriorOutput, actions: torch.Tensor) -> torch.Tensor:
    """Cross-entropy (discrete) or diagonal-Gaussian negative log-likelihood (continuous)."""
    if output.logits is not None:
        return torch.nn.functional.cross_entropy(output.logits, actions)
    z = (actions - output.mean) / output.std
    nll = 0.5 * z.pow(2) + output.std.log() + 0.5 * math.log(2.0 * math.pi)
    return nll.sum(dim=-1).mean()


DemoArrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Any]


def _demo_arrays(demos: Any, config: AnyPriorConfig) -> DemoArrays:
    """
    Check a DemoDataset and return observations, actions, instructions, episode ids, config.

    The prior config's observation and action spaces are filled from the demo metadata.
    """
    meta = dict(demos.metadata)
    missing = [key for key in ('obs_dim', 'action_type', 'action_dim') if key not in meta]
    if missing:
        raise DemoDataError(f'demo metadata lacks {", ".join(missing)}')
    for key in ('obs_dim', 'action_type', 'action_dim'):
        ours = getattr(config, key)
        if ours is not None and ours != meta[key]:
            raise DemoDataError(f'PriorConfig.{key} is {ours!r} but the demos have {meta[key]!r}')
    obs = np.asarray(demos.observations, dtype=np.float32)
    count = len(obs)
    if count == 0 or obs.ndim != 2 or obs.shape[1] != meta['obs_dim']:
        raise DemoDataError(
            f'demo observations have shape {obs.shape}, expected (N > 0, {meta["obs_dim"]})')
    if not np.isfinite(obs).all():
        raise DemoDataError('demo observations contain NaN or Inf')
    instructions = np.asarray([str(text) for text in demos.instructions])
    episodes = np.asarray(demos.episode_ids).reshape(-1)
    if meta['action_type'] == 'discrete':
        actions = np.asarray(demos.actions).reshape(-1).astype(np.int64)
        if actions.shape != (count,) or actions.min() < 0 or actions.max() >= meta['action_dim']:
            raise DemoDataError(
                f'discrete demo actions must be {count} integers in [0, {meta["action_dim"]})')
    else:
        actions = np.asarray(demos.actions, dtype=np.float32)
        if actions.shape != (count, meta['action_dim']) or not np.isfinite(actions).all():
            raise DemoDataError(
                f'continuous demo actions have shape {actions.shape}, expected finite '
                f'({count}, {meta["action_dim"]})')
        actions = np.clip(actions, -1.0, 1.0)  # the envs clip too; the tanh mean cannot exceed
    if len(instructions) != count or len(episodes) != count:
        raise DemoDataError(
            f'{count} observations but {len(instructions)} instructions and '
            f'{len(episodes)} episode ids')
    config = dataclasses.replace(
        config, obs_dim=int(meta['obs_dim']), action_type=meta['action_type'],
        action_dim=int(meta['action_dim']), task=config.task or str(meta.get('task', '')))
    return obs, actions, instructions, episodes, config


def split_episodes(episode_ids: np.ndarray, val_fraction: float,
                   seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the train and validation splits, whole episodes on each side."""
    unique = np.unique(episode_ids)
    rng = np.random.default_rng(seed)
    held = 0
    if val_fraction > 0 and len(unique) >= 2:
        held = min(len(unique) - 1, max(1, round(val_fraction * len(unique))))
    val_episodes = rng.permutation(unique)[:held]
    is_val = np.isin(episode_ids, val_episodes)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def _evaluate(prior: Any, obs: torch.Tensor, actions: torch.Tensor,
              instructions: np.ndarray, batch_size: int) -> dict[str, float]:
    """Mean BC loss and accuracy (discrete) or mean-action MSE (continuous) over a split."""
    prior.eval()
    total, metric = 0.0, 0.0
    with torch.inference_mode():
        for start in range(0, len(obs), batch_size):
            rows = slice(start, start + batch_size)
            output = prior(obs[rows], list(instructions[rows]))
            size = len(obs[rows])
            total += bc_loss(output, actions[rows]).item() * size
            if output.logits is not None:
                metric += (output.logits.argmax(-1) == actions[rows]).float().sum().item()
            else:
                metric += (output.mean - actions[rows]).pow(2).mean(-1).sum().item()
    key = 'accuracy' if prior.config.action_type == 'discrete' else 'mse'
    return {'loss': total / len(obs), key: metric / len(obs)}


def _batches(rows: np.ndarray, instructions: np.ndarray, bc_config: BCConfig,
             generator: torch.Generator) -> list[np.ndarray]:
    """One epoch of shuffled row batches, each from one instruction if the config says so."""
    size = bc_config.batch_size
    order = rows[torch.randperm(len(rows), generator=generator).numpy()]
    if not bc_config.group_by_instruction:
        return [order[i:i + size] for i in range(0, len(order), size)]
    batches = []
    for text in np.unique(instructions[order]):
        same = order[instructions[order] == text]
        batches += [same[i:i + size] for i in range(0, len(same), size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def _score(metrics: dict[str, float], select_by: str) -> float:
    """Return the validation score to minimise: BC loss, negated accuracy or mean-action MSE."""
    if select_by == 'loss':
        return metrics['loss']
    return -metrics['accuracy'] if 'accuracy' in metrics else metrics['mse']


def train_prior(demos: Any, prior_config: AnyPriorConfig, bc_config: BCConfig,
                out_dir: str | Path | None = None) -> tuple[Any, History]:
    """
    Behaviour-clone a prior (ActionPrior or MLPPrior, by config) on demos; return it and history.

    Observation statistics come from the training split. The weights with the best validation
    score (see BCConfig.select_by; on the training split if no episode is held out) are kept, and
    saved to `out_dir` when given.
    """
    obs, actions, instructions, episodes, config = _demo_arrays(demos, prior_config)
    if bc_config.mode is not None:
        config = dataclasses.replace(config, mode=bc_config.mode)
    train_rows, val_rows = split_episodes(episodes, bc_config.val_fraction, bc_config.seed)
    mean, std = observation_stats(obs[train_rows], config.min_obs_std)
    config = dataclasses.replace(config, obs_mean=mean, obs_std=std)

    seed_everything(bc_config.seed)
    device = torch.device(bc_config.device)
    prior = build_prior(config).to(device)
    head_params = [p for n, p in prior.named_parameters()
                   if p.requires_grad and not n.startswith('backbone.')]
    backbone_params = [p for n, p in prior.named_parameters()
                       if p.requires_grad and n.startswith('backbone.')]
    groups = [{'params': head_params, 'lr': bc_config.lr}]
    if backbone_params:
        groups.append({'params': backbone_params, 'lr': bc_config.backbone_lr})
    optimiser = torch.optim.AdamW(groups, weight_decay=bc_config.weight_decay)

    obs_t = torch.from_numpy(obs).to(device)
    act_t = torch.from_numpy(actions).to(device)
    generator = torch.Generator().manual_seed(bc_config.seed)
    trainable = {n: p for n, p in prior.named_parameters() if p.requires_grad}
    best: dict[str, torch.Tensor] = {}
    best_score, stale = math.inf, 0
    history: History = []
    for epoch in range(1, bc_config.epochs + 1):
        started = time.perf_counter()
        prior.train()
        batches = _batches(train_rows, instructions, bc_config, generator)
        bar = tqdm(batches, desc=f'BC epoch {epoch}', leave=False,
                   disable=not bc_config.progress)
        running = 0.0
        for rows in bar:
            loss = bc_loss(prior(obs_t[rows], list(instructions[rows])), act_t[rows])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            if bc_config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(trainable.values(), bc_config.grad_clip)
            optimiser.step()
            running += loss.item() * len(rows)
            bar.set_postfix(loss=f'{loss.item():.4f}')
        record = {'epoch': epoch, 'train_loss': running / len(train_rows)}
        scored = val_rows if len(val_rows) else train_rows
        prefix = 'val_' if len(val_rows) else 'train_eval_'
        metrics = _evaluate(prior, obs_t[scored], act_t[scored], instructions[scored],
                            config.batch_size)
        record.update({prefix + key: value for key, value in metrics.items()})
        record['seconds'] = time.perf_counter() - started
        history.append(record)
        score = _score(metrics, bc_config.select_by)
        if score < best_score:
            best_score, stale = score, 0
            best = {n: p.detach().clone() for n, p in trainable.items()}
        else:
            stale += 1
            if stale >= bc_config.patience:
                break
    with torch.no_grad():
        for name, value in best.items():
            trainable[name].copy_(value)
    prior.eval()
    if out_dir is not None:
        prior.save_pretrained(out_dir)
    return prior, history
