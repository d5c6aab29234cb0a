# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Run a prefix-attention prior's per-state pass in ONNX Runtime: same outputs, less overhead.

Torch runs the instruction prefix once per instruction (see `prefix_cache`); what remains per
state is the soft-token pass: projector, k tokens through every layer against the cached keys and
values, head. That pass is exported with torch's TorchScript-based exporter and run by ONNX
Runtime, which drops the ~3 ms of per-module Python a torch query pays. The prefix keys/values
are graph inputs, padded to one of a few bucket lengths with the real length as an input that
masks the padding, so a handful of graphs (one per bucket, built once) serve every instruction:
memory stays bounded however many lengths clients send. Float32 graphs match torch to rounding
(tested); `int8=True` also quantises the graph's weights (ONNX Runtime dynamic quantisation),
faster again but with a measured drift from the float prior.
"""

from collections.abc import Sequence
import io
import logging
from pathlib import Path
import tempfile
import warnings

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from lago_ros.prior.model import (
    ActionPrior,
    PriorConfigError,
    PriorInputError,
    PriorOutput,
    rows_by_instruction,
)
from lago_ros.utils import LRUCache

_OPSET = 17
SMALLEST_BUCKET = 16
"""Shortest padded prefix; instructions of most tasks fit it (Meta-World's: 8-14 tokens)."""
FEED_CACHE_BYTES = 16 * 2**20
"""Padded keys/values kept for recent instructions; older ones are recomputed (one prefix pass)."""

Feeds = dict[str, np.ndarray]


def prefix_buckets(max_tokens: int, smallest: int = SMALLEST_BUCKET) -> tuple[int, ...]:
    """Return padded prefix lengths up to `max_tokens`: doublings of `smallest`, then the limit."""
    buckets, size = [], smallest
    while size < max_tokens:
        buckets.append(size)
        size *= 2
    return (*buckets, max_tokens)


def bucket_for(length: int, buckets: Sequence[int]) -> int:
    """Return the smallest bucket that holds a prefix of `length` tokens."""
    for bucket in buckets:
        if length <= bucket:
            return bucket
    raise PriorInputError(f'instruction has {length} tokens; this ONNX Runtime prior takes at '
                          f'most {buckets[-1]} (its largest prefix bucket)')


def _feeds_nbytes(entry: tuple[Feeds, int]) -> int:
    return sum(array.nbytes for array in entry[0].values())


class _StatePass(nn.Module):
    """observations (B, obs_dim), prefix length, padded per-layer keys/values -> distribution."""

    def __init__(self, prior: ActionPrior) -> None:
        super().__init__()
        self.prior = prior

    def forward(self, observations: torch.Tensor, prefix_length: torch.Tensor,
                *kv: torch.Tensor) -> tuple:
        layers = [(kv[2 * i], kv[2 * i + 1]) for i in range(len(kv) // 2)]
        out = self.prior.state_pass(observations, layers, prefix_length)
        return (out.logits,) if out.logits is not None else (out.mean, out.std)


class OnnxPrior:
    """`predict` like ActionPrior's, with the per-state pass in ONNX Runtime."""

    def __init__(self, prior: ActionPrior, int8: bool = False, threads: int = 1,
                 buckets: Sequence[int] | None = None,
                 cache_bytes: int = FEED_CACHE_BYTES) -> None:
        """
        Wrap a float, prefix-attention `prior`; one graph per bucket, exported on first use.

        `buckets` are the padded prefix lengths (default `prefix_buckets` of the prior's
        max_instruction_tokens, which fits every instruction; fewer refuse longer ones);
        `warm()` exports them all up front. The graphs hold a copy of the weights: changing
        `prior` afterwards needs a new OnnxPrior.
        """
        if prior.config.attention != 'prefix':
            raise PriorConfigError("the ONNX Runtime prior needs attention='prefix' (it reuses "
                                   'the cached instruction); this prior uses full attention')
        if prior.quantized:
            raise PriorConfigError('wrap the float prior; OnnxPrior(int8=True) quantises itself')
        if prior.device.type != 'cpu':
            raise PriorConfigError(f'the ONNX Runtime prior runs on cpu; this prior is on '
                                   f'{prior.device}')
        self.prior = prior.eval()
        self.config = prior.config
        self.buckets = (tuple(sorted(set(buckets))) if buckets
                        else prefix_buckets(self.config.max_instruction_tokens))
        if self.buckets[0] < 1:
            raise PriorConfigError(f'prefix buckets {self.buckets} must be positive')
        self.int8 = int8
        self.options = ort.SessionOptions()
        self.options.intra_op_num_threads = max(int(threads), 1)
        self.options.inter_op_num_threads = 1
        self._sessions: dict[int, ort.InferenceSession] = {}
        self._feeds: LRUCache[str, tuple[Feeds, int]] = LRUCache(cache_bytes, _feeds_nbytes)
        self._outputs = ['logits'] if self.config.action_type == 'discrete' else ['mean', 'std']

    @property
    def graphs(self) -> int:
        """Number of ONNX Runtime sessions built so far (at most one per bucket)."""
        return len(self._sessions)

    def warm(self) -> None:
        """Export every bucket's graph now, so no query pays for one (about 1 s each)."""
        for bucket in self.buckets:
            self._session(bucket)

    def _session(self, bucket: int) -> ort.InferenceSession:
        """Return the graph for prefixes padded to `bucket` tokens, exported on first use."""
        session = self._sessions.get(bucket)
        if session is None:
            session = ort.InferenceSession(self._export(bucket), self.options,
                                           providers=['CPUExecutionProvider'])
            self._sessions[bucket] = session
        return session

    def _export(self, bucket: int) -> bytes:
        """Serialise the state pass for prefixes padded to `bucket` (int8 weights if asked)."""
        # Key/value shapes from a real prefix; a length below the bucket, so that any branch
        # transformers takes on the mask's values is traced with padding present.
        probe, _ = self._prefix_feeds('a')
        names = [name for name in probe if name != 'prefix_length']
        example = [torch.zeros(2, self.config.obs_dim), torch.tensor(max(bucket // 2, 1))]
        example += [torch.zeros(*probe[name].shape[:2], bucket, probe[name].shape[3])
                    for name in names]
        buffer = io.BytesIO()
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter('ignore')  # tracer notes about Python values made constant
            torch.onnx.export(
                _StatePass(self.prior), tuple(example), buffer, dynamo=False,
                opset_version=_OPSET, input_names=['observations', 'prefix_length', *names],
                output_names=self._outputs,
                dynamic_axes={name: {0: 'batch'} for name in ['observations'] + self._outputs})
        if not self.int8:
            return buffer.getvalue()
        from onnxruntime.quantization import quantize_dynamic, QuantType

        with tempfile.TemporaryDirectory(prefix='lago_prior_onnx_') as tmp:
            source, target = Path(tmp) / 'float.onnx', Path(tmp) / 'int8.onnx'
            source.write_bytes(buffer.getvalue())
            logging.disable(logging.WARNING)  # its advice to pre-process applies to CNNs
            try:
                quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
            finally:
                logging.disable(logging.NOTSET)
            return target.read_bytes()

    def _prefix_feeds(self, text: str) -> tuple[Feeds, int]:
        """Return the keys/values of `text` padded to its bucket as ONNX inputs, and the bucket."""
        # no_grad, not inference mode: the torch prior's own memo stays out of it, this one is
        # bounded in bytes and holds the padded copies the graphs read.
        with torch.no_grad():
            layers, length = self.prior.instruction_prefix(text)
        bucket = bucket_for(length, self.buckets)
        feeds = {'prefix_length': np.asarray(length, np.int64)}
        for i, pair in enumerate(layers):
            for j, tensor in enumerate(pair):
                padded = np.zeros((*tensor.shape[:2], bucket, tensor.shape[3]), np.float32)
                padded[:, :, :length] = tensor.numpy()
                feeds[f'kv{2 * i + j}'] = padded
        return feeds, bucket

    def _cached_feeds(self, text: str) -> tuple[Feeds, int]:
        entry = self._feeds.get(text)
        if entry is None:
            entry = self._prefix_feeds(text)
            self._feeds.put(text, entry)
        return entry

    def predict(self, observations: np.ndarray, instructions: Sequence[str]) -> PriorOutput:
        """Prior distribution (numpy) for raw observations (B, obs_dim)."""
        observations, instructions = self.prior.check_inputs(observations, instructions)
        groups = rows_by_instruction(instructions, len(observations))
        results = {name: np.empty((len(observations), self.config.action_dim), np.float32)
                   for name in self._outputs}
        for text, rows in groups.items():
            feeds, bucket = self._cached_feeds(text)
            chunk = observations if len(groups) == 1 else observations[rows]
            outputs = self._session(bucket).run(self._outputs, {'observations': chunk, **feeds})
            for name, value in zip(self._outputs, outputs, strict=True):
                results[name][rows] = value
        return PriorOutput(**results)
