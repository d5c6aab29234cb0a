# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The LaGO action prior: a pretrained transformer reading an instruction and soft state tokens.

Input layout per example: ``[instruction tokens][k soft tokens]``. The instruction goes through
the backbone's own word embeddings; the normalised observation goes through an MLP into k vectors
of the same width ("soft tokens"). Position embeddings follow this layout, so the soft tokens sit
right after each instruction. With `attention='prefix'` (the default) the instruction does not
attend to the soft tokens, which lets `prefix_cache` encode each instruction once per rollout
instead of once per state; `attention='full'` lets every token see every other (priors saved
before the option existed load as 'full'). Where the backbone has
token-type (segment) embeddings, the soft tokens are segment `soft_token_type_id`. A head reads the
mean of the soft tokens' final hidden states (with `head_input='soft+state'` also the normalised
observation itself) and returns categorical logits (discrete actions) or a diagonal Gaussian
(continuous actions in [-1, 1]: mean through tanh, log-std squashed smoothly into
[log_std_min, log_std_max]).
"""

from collections.abc import Sequence
import dataclasses
import inspect
import json
import os
from pathlib import Path
import shutil
import tempfile
from typing import Any
import warnings

import numpy as np
import safetensors
import safetensors.torch
import torch
from torch import nn
import transformers

from lago_ros.prior.backbone import (
    backbone_from_config,
    BackboneLoadError,
    load_backbone,
    refuse_remote_code,
)
from lago_ros.prior.prefix_cache import cache_argument, LayerKV, PrefixEncoder
from lago_ros.utils import new_file_mode, sha256_file

PathLike = str | os.PathLike
ArrayOrTensor = np.ndarray | torch.Tensor

FORMAT_VERSION = 1
CONFIG_FILE = 'config.json'
WEIGHTS_FILE = 'model.safetensors'
TOKENIZER_DIR = 'tokenizer'
MODES = ('frozen', 'lora', 'full')
ACTION_TYPES = ('discrete', 'continuous')
ATTENTION = ('prefix', 'full')
HEAD_INPUTS = ('soft', 'soft+state')
BACKBONE_INITS = ('pretrained', 'random')
_TOKEN_CACHE_LIMIT = 4096


class PriorConfigError(ValueError):
    """A PriorConfig field has an invalid value."""


class PriorInputError(ValueError):
    """Observations or instructions given to the prior have the wrong shape or values."""


class PriorLoadError(ValueError):
    """A saved prior folder is missing, corrupt, or asks for remote code."""


@dataclasses.dataclass
class PriorConfig:
    """Everything that defines an action prior; saved in its folder's config.json."""

    obs_dim: int | None = None
    """Observation size; filled from the demonstrations by train_prior when None."""
    action_type: str | None = None
    """'discrete' (categorical) or 'continuous' (diagonal Gaussian)."""
    action_dim: int | None = None
    """Number of actions (discrete) or action vector size (continuous)."""
    task: str = ''
    """Task name the prior was fitted on (for provenance and error messages)."""
    backbone: str | None = None
    """Hugging Face name or local folder of the pretrained backbone; None = offline MiniLM."""
    mode: str = 'frozen'
    """Fine-tuning: 'frozen' (projector + head), 'lora' (adapters on attention) or 'full'."""
    num_soft_tokens: int = 4
    """k, the number of soft tokens the observation is projected into."""
    attention: str = 'prefix'
    """'prefix': the instruction does not see the state, so it is encoded once and cached (fast);
    'full': every token sees every other (each state re-encodes its instruction)."""
    projector_hidden: int = 256
    """Hidden width of the observation projector MLP (obs_dim -> this -> k * hidden_size)."""
    head_hidden: int = 256
    """Hidden width of the output head MLP; 0 makes the head a single linear layer."""
    head_input: str = 'soft'
    """What the head reads: 'soft', the pooled soft tokens; 'soft+state', those and the normalised
    observation side by side, so exact state values reach the head while the backbone supplies
    what the instruction asks for (6 frozen layers blur fine positions: reach-v3 MSE 0.0086 vs
    0.0012 for a plain MLP)."""
    backbone_init: str = 'pretrained'
    """'pretrained' weights, or 'random': the same architecture freshly initialised (the control
    that tells whether pretraining matters)."""
    max_instruction_tokens: int = 32
    """Instruction length limit in tokens, special tokens included (longer ones are cut)."""
    soft_token_type_id: int = 1
    """Segment id of the soft tokens when the backbone has token-type embeddings."""
    batch_size: int = 256
    """Largest batch `predict` runs through the backbone at once."""
    log_std_min: float = -3.0
    """Lower end of the head's log-std output (std >= 0.05 keeps the BC likelihood finite); the
    KL in PPO floors the std again, at GuidanceConfig.min_prior_std (lago_ros/rl/guidance.py)."""
    log_std_max: float = 0.5
    """Upper end of the Gaussian log-std."""
    obs_mean: list[float] | None = None
    """Per-feature observation mean from the demonstrations (None = 0)."""
    obs_std: list[float] | None = None
    """Per-feature observation std from the demonstrations, floored at min_obs_std (None = 1)."""
    min_obs_std: float = 1e-2
    """Floor on obs_std so features nearly constant in the demos do not blow up at run time."""
    obs_clip: float = 10.0
    """Normalised observations are clipped to [-obs_clip, obs_clip]."""
    lora_r: int = 8
    """LoRA rank (mode 'lora')."""
    lora_alpha: int = 16
    """LoRA scaling numerator (mode 'lora')."""
    lora_dropout: float = 0.0
    """Dropout on the LoRA path (mode 'lora')."""
    lora_target_modules: list[str] | None = None
    """Modules given adapters; None = peft's attention default for the architecture."""

    def __post_init__(self) -> None:
        """Reject values that cannot describe a working prior."""
        if self.mode not in MODES:
            raise PriorConfigError(f'mode is {self.mode!r}, expected one of {MODES}')
        if self.attention not in ATTENTION:
            raise PriorConfigError(
                f'attention is {self.attention!r}, expected one of {ATTENTION}')
        for name, allowed in (('head_input', HEAD_INPUTS), ('backbone_init', BACKBONE_INITS)):
            if getattr(self, name) not in allowed:
                raise PriorConfigError(
                    f'{name} is {getattr(self, name)!r}, expected one of {allowed}')
        if self.action_type is not None and self.action_type not in ACTION_TYPES:
            raise PriorConfigError(
                f'action_type is {self.action_type!r}, expected one of {ACTION_TYPES}')
        positive = ('num_soft_tokens', 'projector_hidden', 'max_instruction_tokens',
                    'batch_size', 'lora_r', 'lora_alpha')
        for name in positive + ('obs_dim', 'action_dim'):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise PriorConfigError(f'{name} is {value!r}, expected a positive integer')
        if self.head_hidden < 0:
            raise PriorConfigError(f'head_hidden is {self.head_hidden}, expected >= 0')
        if not self.log_std_min < self.log_std_max:
            raise PriorConfigError(
                f'log_std range [{self.log_std_min}, {self.log_std_max}] is empty; '
                'expected log_std_min < log_std_max')
        if self.min_obs_std <= 0 or self.obs_clip <= 0:
            raise PriorConfigError('min_obs_std and obs_clip must be positive')
        for name in ('obs_mean', 'obs_std'):
            stats = getattr(self, name)
            if stats is not None and self.obs_dim is not None and len(stats) != self.obs_dim:
                raise PriorConfigError(
                    f'{name} has {len(stats)} values, expected obs_dim={self.obs_dim}')

    def require_complete(self) -> None:
        """Raise unless the observation and action spaces are known."""
        missing = [name for name in ('obs_dim', 'action_type', 'action_dim')
                   if getattr(self, name) is None]
        if missing:
            raise PriorConfigError(
                f'PriorConfig needs {", ".join(missing)} to build a model '
                '(train_prior fills them from the demonstrations)')


def observation_stats(observations: np.ndarray,
                      min_std: float = 1e-2) -> tuple[list[float], list[float]]:
    """Per-feature mean and floored std of demonstration observations, as JSON-ready lists."""
    observations = np.asarray(observations, dtype=np.float64)
    mean = observations.mean(axis=0)
    std = np.maximum(observations.std(axis=0), min_std)
    return mean.tolist(), std.tolist()


@dataclasses.dataclass
class PriorOutput:
    """
    Prior distribution parameters: `logits` (B, n) when discrete, `mean`/`std` (B, a) else.

    `predict` fills it with numpy arrays, `forward` with torch tensors.
    """

    logits: ArrayOrTensor | None = None
    mean: ArrayOrTensor | None = None
    std: ArrayOrTensor | None = None


def distribution(raw: torch.Tensor, config: Any) -> PriorOutput:
    """
    Turn a head's raw outputs into distribution parameters.

    Discrete: the raw outputs are the logits. Continuous: the first half is the mean through
    tanh (actions in [-1, 1]), the second the log-std squashed smoothly into
    [config.log_std_min, config.log_std_max].
    """
    if config.action_type == 'discrete':
        return PriorOutput(logits=raw)
    mean_raw, std_raw = raw.chunk(2, dim=-1)
    low, high = config.log_std_min, config.log_std_max
    log_std = low + 0.5 * (high - low) * (torch.tanh(std_raw) + 1.0)
    return PriorOutput(mean=torch.tanh(mean_raw), std=log_std.exp())


def _mlp(inputs: int, hidden: int, outputs: int) -> nn.Module:
    """Two-layer GELU MLP, or a linear map when `hidden` is 0."""
    if hidden == 0:
        return nn.Linear(inputs, outputs)
    return nn.Sequential(nn.Linear(inputs, hidden), nn.GELU(), nn.Linear(hidden, outputs))


def _read_json(path: Path) -> dict[str, Any]:
    """Read a JSON object, turning a missing or malformed file into PriorLoadError."""
    if not path.is_file():
        raise PriorLoadError(f'{path} is missing; expected a prior saved by save_pretrained')
    try:
        data = json.loads(path.read_text(encoding='utf-8'))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise PriorLoadError(f'{path} is not valid JSON ({err}); the folder is corrupt') from err
    if not isinstance(data, dict):
        raise PriorLoadError(f'{path} holds {type(data).__name__}, expected a JSON object')
    return data


def rows_by_instruction(instructions: Sequence[str], batch: int) -> dict[str, list[int]]:
    """Map each distinct instruction to its rows; a single instruction is shared by all rows."""
    if len(instructions) == 1:
        return {instructions[0]: list(range(batch))}
    groups: dict[str, list[int]] = {}
    for row, text in enumerate(instructions):
        groups.setdefault(text, []).append(row)
    return groups


def _check_instruction_count(instructions: int, observations: int) -> None:
    """Raise unless there is one instruction per observation or a single shared one."""
    if instructions not in (1, observations):
        raise PriorInputError(
            f'got {instructions} instructions for {observations} observations; '
            'expected one per observation or a single shared one')


class ActionPrior(nn.Module):
    """p(a | s, g): a pretrained transformer fine-tuned into an action-distribution prior."""

    def __init__(self, config: PriorConfig, backbone: nn.Module | None = None,
                 tokenizer: Any | None = None) -> None:
        """Build the prior around `backbone` (loaded from `config.backbone` when not given)."""
        super().__init__()
        self.quantized = False
        config.require_complete()
        if backbone is None or tokenizer is None:
            backbone, tokenizer = load_backbone(config.backbone)
            if config.backbone_init == 'random':  # seeded by the caller (train_prior)
                backbone = backbone_from_config(backbone.config.to_dict())
        self.config = config
        self.tokenizer = tokenizer
        hidden = backbone.get_input_embeddings().embedding_dim
        self.hidden_size = hidden
        longest = config.max_instruction_tokens + config.num_soft_tokens
        positions = getattr(backbone.config, 'max_position_embeddings', None)
        if positions is not None and longest > positions:
            raise PriorConfigError(
                f"max_instruction_tokens + num_soft_tokens = {longest} exceeds the backbone's "
                f'{positions} positions')
        self._use_token_types = (
            'token_type_ids' in inspect.signature(backbone.forward).parameters
            and getattr(backbone.config, 'type_vocab_size', 0) > config.soft_token_type_id)
        self.backbone = self._prepare_backbone(backbone)
        self._prefix: PrefixEncoder | None = None
        if config.attention == 'prefix':
            if cache_argument(self.base_backbone()) is None:
                raise PriorConfigError(
                    f'{type(self.base_backbone()).__name__} takes no key/value cache, so '
                    "attention='prefix' cannot reuse the instruction; use attention='full'")
            self._prefix = PrefixEncoder(self.backbone, self.base_backbone())
        self.projector = _mlp(config.obs_dim, config.projector_hidden,
                              config.num_soft_tokens * hidden)
        outputs = config.action_dim * (1 if config.action_type == 'discrete' else 2)
        head_inputs = hidden + (config.obs_dim if config.head_input == 'soft+state' else 0)
        self.head = _mlp(head_inputs, config.head_hidden, outputs)
        mean = config.obs_mean if config.obs_mean is not None else [0.0] * config.obs_dim
        std = config.obs_std if config.obs_std is not None else [1.0] * config.obs_dim
        self.register_buffer('obs_mean', torch.tensor(mean, dtype=torch.float32), False)
        self.register_buffer(
            'obs_std', torch.tensor(std, dtype=torch.float32).clamp_min(config.min_obs_std),
            False)
        self._token_cache: dict[str, list[int]] = {}

    def _prepare_backbone(self, backbone: nn.Module) -> nn.Module:
        """Set which backbone weights train: none, LoRA adapters only, or all."""
        mode = self.config.mode
        if mode == 'lora':
            from peft import LoraConfig, get_peft_model

            lora = LoraConfig(
                r=self.config.lora_r, lora_alpha=self.config.lora_alpha,
                lora_dropout=self.config.lora_dropout,
                target_modules=self.config.lora_target_modules)
            return get_peft_model(backbone, lora)
        backbone.requires_grad_(mode == 'full')
        return backbone

    def quantize_int8(self) -> 'ActionPrior':
        """
        Run the backbone's linear layers in int8 (dynamic quantisation) for CPU inference.

        About 2.5x less time per state for MiniLM, but the outputs move by a measured amount
        (bench/bench_prior.py --int8 prints the KL to the float prior), so it is opt-in. LoRA
        adapters are merged first. A quantised prior can only predict: not train, not save.
        """
        if self.config.mode == 'lora':
            self.backbone = self.backbone.merge_and_unload()
        with warnings.catch_warnings():
            # torch.ao's eager dynamic quantisation is deprecated in favour of torchao, which
            # would be one more dependency; it still ships and works in torch 2.13.
            warnings.simplefilter('ignore')
            self.backbone = torch.ao.quantization.quantize_dynamic(
                self.backbone.eval(), {nn.Linear}, dtype=torch.qint8)
        self.quantized = True
        if self._prefix is not None:
            self._prefix = PrefixEncoder(self.backbone, self.base_backbone())
        return self.eval()

    def train(self, mode: bool = True) -> 'ActionPrior':
        """Switch train/eval mode; a frozen backbone always stays in eval (no dropout)."""
        if mode and self.quantized:
            raise PriorConfigError('an int8-quantised prior is for inference only; train the '
                                   'float prior and quantise it afterwards')
        super().train(mode)
        if self.config.mode == 'frozen':
            self.backbone.eval()
        if mode and self._prefix is not None:
            self._prefix.clear()
        return self

    @property
    def device(self) -> torch.device:
        """Device of the prior's weights."""
        return self.obs_mean.device

    def _token_ids(self, instruction: str) -> list[int]:
        """Token ids of one instruction (special tokens included), cached per string."""
        ids = self._token_cache.get(instruction)
        if ids is None:
            ids = self.tokenizer(
                instruction, truncation=True, max_length=self.config.max_instruction_tokens,
                add_special_tokens=True)['input_ids']
            if len(self._token_cache) >= _TOKEN_CACHE_LIMIT:
                self._token_cache.clear()
            self._token_cache[instruction] = ids
        return ids

    def token_count(self, instruction: str) -> int:
        """Sequence length one input occupies: instruction tokens plus soft tokens."""
        return len(self._token_ids(instruction)) + self.config.num_soft_tokens

    def _embed_text(self, instructions: Sequence[str],
                    batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Word embeddings (B, L, H) of the right-padded instructions and their lengths (B,)."""
        if len(instructions) == 1:
            instructions = list(instructions) * batch
        unique: dict[str, int] = {}
        rows = [unique.setdefault(text, len(unique)) for text in instructions]
        ids = [self._token_ids(text) for text in unique]
        longest = max(len(seq) for seq in ids)
        pad = self.tokenizer.pad_token_id or 0
        table = torch.full((len(ids), longest), pad, dtype=torch.long)
        for row, seq in enumerate(ids):
            table[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
        index = torch.tensor(rows, dtype=torch.long, device=self.device)
        lengths = torch.tensor([len(seq) for seq in ids], device=self.device)[index]
        embeddings = self.backbone.get_input_embeddings()(table.to(self.device))
        return embeddings[index], lengths

    def forward(self, observations: torch.Tensor, instructions: Sequence[str]) -> PriorOutput:
        """
        Return distribution parameters as tensors for raw observations (B, obs_dim).

        `instructions` has one string per row, or a single string shared by all rows.
        """
        normalised = self.normalise(observations)
        soft = self.soft_tokens(normalised)
        _check_instruction_count(len(instructions), observations.shape[0])
        if self._prefix is not None:
            pooled = self._encode_prefix(soft, instructions)
        else:
            pooled = self._encode_full(soft, instructions)
        return self.head_output(pooled, normalised)

    def normalise(self, observations: torch.Tensor) -> torch.Tensor:
        """Return raw observations (B, obs_dim) standardised by the demo statistics, clipped."""
        return ((observations - self.obs_mean) / self.obs_std).clamp(
            -self.config.obs_clip, self.config.obs_clip)

    def soft_tokens(self, normalised: torch.Tensor) -> torch.Tensor:
        """Return the k soft tokens (B, k, H) of normalised observations (B, obs_dim)."""
        return self.projector(normalised).view(normalised.shape[0], self.config.num_soft_tokens,
                                               self.hidden_size)

    def state_pass(self, observations: torch.Tensor, layers: LayerKV,
                   prefix_length: int | torch.Tensor) -> PriorOutput:
        """Return the distribution for raw observations (B, obs_dim) after a cached prefix."""
        normalised = self.normalise(observations)
        return self.head_output(
            self.soft_pass(self.soft_tokens(normalised), layers, prefix_length), normalised)

    def head_output(self, pooled: torch.Tensor, normalised: torch.Tensor) -> PriorOutput:
        """Return distribution parameters from the pooled soft tokens (B, H) and the state."""
        if self.config.head_input == 'soft+state':
            pooled = torch.cat([pooled, normalised], dim=-1)
        return distribution(self.head(pooled), self.config)

    def _soft_token_type(self) -> int | None:
        """Segment id given to soft tokens, or None when the backbone has no segments."""
        return self.config.soft_token_type_id if self._use_token_types else None

    def _encode_prefix(self, soft: torch.Tensor, instructions: Sequence[str]) -> torch.Tensor:
        """Mean final hidden state (B, H) of the soft tokens, each instruction encoded once."""
        groups = rows_by_instruction(instructions, soft.shape[0])
        if len(groups) == 1:  # the usual case: one task, one instruction
            return self.soft_pass(soft, *self.instruction_prefix(next(iter(groups))))
        pooled = soft.new_empty(soft.shape[0], self.hidden_size)
        for text, rows in groups.items():
            index = torch.tensor(rows, device=self.device)
            pooled = pooled.index_copy(
                0, index, self.soft_pass(soft[index], *self.instruction_prefix(text)))
        return pooled

    def instruction_prefix(self, text: str) -> tuple[LayerKV, int]:
        """Return the per-layer keys/values (batch 1) of instruction `text` and its length."""
        ids = self._token_ids(text)
        return self._prefix.prefix(text, ids, self.device), len(ids)

    def soft_pass(self, soft: torch.Tensor, layers: LayerKV,
                  prefix_length: int | torch.Tensor) -> torch.Tensor:
        """Return the mean final hidden state (B, H) of soft tokens (B, k, H) after a prefix."""
        return self._prefix.run_soft(soft, layers, prefix_length,
                                     self._soft_token_type()).mean(dim=1)

    def _encode_full(self, soft: torch.Tensor, instructions: Sequence[str]) -> torch.Tensor:
        """Mean final hidden state (B, H) of the soft tokens, attending over the whole input."""
        batch, k = soft.shape[:2]
        text, lengths = self._embed_text(instructions, batch)
        longest = text.shape[1]
        # Pack [text][soft][pad] per row: gather from cat(text, soft), pads read text padding.
        position = torch.arange(longest + k, device=self.device).expand(batch, -1)
        ends = lengths[:, None]
        is_soft = (position >= ends) & (position < ends + k)
        source = torch.where(position < ends, position,
                             torch.where(is_soft, longest + position - ends, position - k))
        packed = torch.cat([text, soft], dim=1)
        inputs = packed.gather(1, source[..., None].expand(-1, -1, self.hidden_size))
        kwargs = {'inputs_embeds': inputs, 'attention_mask': (position < ends + k).long()}
        if self._use_token_types:
            kwargs['token_type_ids'] = is_soft.long() * self._soft_token_type()
        hidden = self.backbone(**kwargs).last_hidden_state
        soft_positions = ends + torch.arange(k, device=self.device)
        return hidden.gather(
            1, soft_positions[..., None].expand(-1, -1, self.hidden_size)).mean(dim=1)

    def check_inputs(self, observations: Any,
                     instructions: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        """Validate predict's inputs and return them as float32 array and list of strings."""
        obs_dim = self.config.obs_dim
        where = f' (task {self.config.task})' if self.config.task else ''
        try:
            observations = np.asarray(observations, dtype=np.float32)
        except (TypeError, ValueError) as err:
            raise PriorInputError(f'observations must be numeric, got: {err}') from err
        if observations.ndim != 2:
            raise PriorInputError(
                f'observations must be a 2-D array (batch, {obs_dim}), '
                f'got shape {observations.shape}')
        if observations.shape[1] != obs_dim:
            raise PriorInputError(
                f'observation has {observations.shape[1]} values, prior expects {obs_dim}{where}')
        bad = ~np.isfinite(observations).all(axis=1)
        if bad.any():
            raise PriorInputError(
                f'observations contain NaN or Inf in rows {np.flatnonzero(bad)[:10].tolist()}')
        if isinstance(instructions, np.ndarray) and instructions.ndim == 1:
            instructions = instructions.tolist()
        if isinstance(instructions, (str, bytes)) or not isinstance(instructions, Sequence):
            raise PriorInputError(
                f'instructions must be a sequence of strings, got {type(instructions).__name__}')
        instructions = list(instructions)
        if not all(isinstance(text, str) for text in instructions):
            raise PriorInputError('every instruction must be a str')
        _check_instruction_count(len(instructions), len(observations))
        return observations, instructions

    def predict(self, observations: np.ndarray, instructions: Sequence[str]) -> PriorOutput:
        """Prior distribution (numpy) for raw observations (B, obs_dim), in batches."""
        observations, instructions = self.check_inputs(observations, instructions)
        chunks = []
        was_training = self.training
        if was_training:  # switching walks every submodule (ms per query): only when needed
            self.eval()
        try:
            with torch.inference_mode():
                for start in range(0, len(observations), self.config.batch_size):
                    stop = start + self.config.batch_size
                    rows = torch.from_numpy(observations[start:stop]).to(self.device)
                    texts = instructions if len(instructions) == 1 else instructions[start:stop]
                    chunks.append(self(rows, texts))
        finally:
            if was_training:
                self.train()
        return self._concat(chunks)

    def _concat(self, chunks: list[PriorOutput]) -> PriorOutput:
        """Join per-batch tensor outputs into one numpy PriorOutput (empty batch allowed)."""
        discrete = self.config.action_type == 'discrete'
        names = ('logits',) if discrete else ('mean', 'std')
        empty = np.zeros((0, self.config.action_dim), dtype=np.float32)
        return PriorOutput(**{
            name: (np.concatenate([getattr(c, name).float().cpu().numpy() for c in chunks])
                   if chunks else empty)
            for name in names})

    def save_pretrained(self, folder: PathLike) -> Path:
        """
        Save config, weights (backbone included) and tokenizer; the folder appears atomically.

        Everything goes into a temp folder beside `folder`, which then replaces it, so readers
        never see a half-written prior. An existing folder is only replaced if it holds a prior.
        """
        folder = Path(folder)
        if self.quantized:
            raise PriorConfigError('an int8-quantised prior cannot be saved; save the float '
                                   'prior and quantise it after loading')
        if folder.exists() and any(folder.iterdir()) and not (folder / CONFIG_FILE).is_file():
            raise PriorLoadError(
                f'{folder} exists and is not a saved prior; refusing to replace it')
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f'.{folder.name}.'))
        staging.chmod(new_file_mode(directory=True))  # mkdtemp's 0700 would hide the prior
        try:
            weights = staging / WEIGHTS_FILE
            state = {name: value.detach().contiguous().cpu()
                     for name, value in self.state_dict().items()}
            safetensors.torch.save_file(state, str(weights), metadata={'format': 'pt'})
            self.tokenizer.save_pretrained(staging / TOKENIZER_DIR)
            backbone_config = self.base_backbone().config.to_dict()
            document = {
                'format_version': FORMAT_VERSION,
                'prior': dataclasses.asdict(self.config),
                'backbone_config': backbone_config,
                'weights_sha256': sha256_file(weights),
                'versions': {'torch': torch.__version__,
                             'transformers': transformers.__version__,
                             'safetensors': safetensors.__version__},
            }
            with open(staging / CONFIG_FILE, 'w', encoding='utf-8') as handle:
                json.dump(document, handle, indent=2, default=str)
                handle.flush()
                os.fsync(handle.fileno())
            self._swap_in(staging, folder)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return folder

    @staticmethod
    def _swap_in(staging: Path, folder: Path) -> None:
        """Rename `staging` to `folder`, moving an existing folder aside first."""
        old = None
        if folder.exists():
            old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f'.{folder.name}.old.'))
            os.replace(folder, old / folder.name)
        os.replace(staging, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def base_backbone(self) -> nn.Module:
        """Return the transformers model under any peft wrapper."""
        get_base = getattr(self.backbone, 'get_base_model', None)
        return get_base() if get_base is not None else self.backbone

    @classmethod
    def from_pretrained(cls, folder: PathLike,
                        device: str | torch.device = 'cpu') -> 'ActionPrior':
        """Load a prior saved by save_pretrained: safetensors only, no remote code."""
        folder = Path(folder)
        if not folder.is_dir():
            raise PriorLoadError(f'prior folder {folder} does not exist')
        config_path = folder / CONFIG_FILE
        document = _read_json(config_path)
        if document.get('kind') == 'mlp':
            raise PriorLoadError(f'{folder} holds an MLP baseline prior, not a language prior; '
                                 'load it with lago_ros.prior.load.load_prior')
        if document.get('format_version') != FORMAT_VERSION:
            raise PriorLoadError(
                f'{config_path} has format_version {document.get("format_version")!r}, '
                f'expected {FORMAT_VERSION}')
        try:
            refuse_remote_code(document, str(config_path))
            backbone_config = document.get('backbone_config')
            if not isinstance(backbone_config, dict):
                raise PriorLoadError(f'{config_path} has no backbone_config object')
            refuse_remote_code(backbone_config, f'{config_path} backbone_config')
            tokenizer_dir = folder / TOKENIZER_DIR
            tokenizer_config = tokenizer_dir / 'tokenizer_config.json'
            refuse_remote_code(_read_json(tokenizer_config), str(tokenizer_config))
            fields = dict(document.get('prior', {}))
            # Priors saved before the attention option were trained with full attention.
            fields.setdefault('attention', 'full')
            fields.setdefault('head_input', 'soft')
            config = PriorConfig(**fields)
        except (BackboneLoadError, PriorConfigError, TypeError) as err:
            raise PriorLoadError(f'cannot load prior from {config_path}: {err}') from err
        weights = folder / WEIGHTS_FILE
        if not weights.is_file():
            raise PriorLoadError(f'{weights} is missing; expected the prior weights')
        if sha256_file(weights) != document.get('weights_sha256'):
            raise PriorLoadError(
                f'{weights} is corrupt or truncated: its SHA-256 does not match {config_path}')
        try:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, trust_remote_code=False)
            prior = cls(config, backbone_from_config(backbone_config), tokenizer)
            state = safetensors.torch.load_file(str(weights))
            prior.load_state_dict(state, strict=True)
        except (OSError, ValueError, RuntimeError, safetensors.SafetensorError) as err:
            raise PriorLoadError(f'cannot load prior weights from {weights}: {err}') from err
        return prior.to(device).eval()
