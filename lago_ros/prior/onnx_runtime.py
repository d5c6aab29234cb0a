# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Run a prefix-attention prior's per-state pass in ONNX Runtime: same outputs, less overhead.

Torch runs the instruction prefix once per instruction (see `prefix_cache`); what remains per
state is the soft-token pass: projector, k tokens through every layer against the cached keys and
values, head. That pass is exported once per instruction length with torch's TorchScript-based
exporter (the prefix keys/values are graph inputs, so one graph serves every instruction of that
length) and run by ONNX Runtime, which drops the ~3 ms of per-module Python a torch query pays.
Float32 graphs match torch to rounding (tested); `int8=True` also quantises the graph's weights
(ONNX Runtime dynamic quantisation), faster again but with a measured drift from the float prior.
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
    PriorOutput,
    rows_by_instruction,
)

_OPSET = 17


class _SoftPass(nn.Module):
    """observations (B, obs_dim) + per-layer prefix keys/values -> distribution parameters."""

    def __init__(self, prior: ActionPrior, prefix_length: int) -> None:
        super().__init__()
        self.prior, self.prefix_length = prior, prefix_length

    def forward(self, observations: torch.Tensor, *kv: torch.Tensor) -> tuple:
        prior = self.prior
        layers = [(kv[2 * i], kv[2 * i + 1]) for i in range(len(kv) // 2)]
        out = prior.head_output(
            prior.soft_pass(prior.soft_tokens(observations), layers, self.prefix_length))
        return (out.logits,) if out.logits is not None else (out.mean, out.std)


class OnnxPrior:
    """`predict` like ActionPrior's, with the per-state pass in ONNX Runtime."""

    def __init__(self, prior: ActionPrior, int8: bool = False, threads: int = 1) -> None:
        """
        Wrap a float, prefix-attention `prior`; graphs are exported lazily, one per length.

        The graphs hold a copy of the weights: changing `prior` afterwards needs a new OnnxPrior.
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
        self.int8 = int8
        self.options = ort.SessionOptions()
        self.options.intra_op_num_threads = max(int(threads), 1)
        self.options.inter_op_num_threads = 1
        self._sessions: dict[int, ort.InferenceSession] = {}
        self._inputs: dict[str, tuple] = {}
        self._outputs = ['logits'] if self.config.action_type == 'discrete' else ['mean', 'std']

    def _session(self, prefix_length: int, feeds: dict[str, np.ndarray]) -> ort.InferenceSession:
        """Return the graph for instructions of `prefix_length` tokens, exported on first use."""
        session = self._sessions.get(prefix_length)
        if session is None:
            session = ort.InferenceSession(self._export(prefix_length, feeds), self.options,
                                           providers=['CPUExecutionProvider'])
            self._sessions[prefix_length] = session
        return session

    def _export(self, prefix_length: int, feeds: dict[str, np.ndarray]) -> bytes:
        """Serialise the soft-token pass to an ONNX model (int8 weights if asked)."""
        names = list(feeds)
        example = [torch.zeros(2, self.config.obs_dim)]
        example += [torch.from_numpy(feeds[name]) for name in names]
        buffer = io.BytesIO()
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter('ignore')  # tracer notes about Python values made constant
            torch.onnx.export(
                _SoftPass(self.prior, prefix_length), tuple(example), buffer, dynamo=False,
                opset_version=_OPSET, input_names=['observations'] + names,
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

    def _prefix_feeds(self, text: str) -> tuple[dict[str, np.ndarray], int]:
        """Return the cached keys/values of `text` as ONNX inputs, and the instruction length."""
        with torch.inference_mode():
            layers, length = self.prior.instruction_prefix(text)
        source, feeds = self._inputs.get(text, (None, None))
        if source is not layers[0][0]:  # new instruction, or the torch cache was recomputed
            feeds = {f'kv{2 * i + j}': tensor.numpy()
                     for i, pair in enumerate(layers) for j, tensor in enumerate(pair)}
            self._inputs[text] = (layers[0][0], feeds)
        return feeds, length

    def predict(self, observations: np.ndarray, instructions: Sequence[str]) -> PriorOutput:
        """Prior distribution (numpy) for raw observations (B, obs_dim)."""
        observations, instructions = self.prior.check_inputs(observations, instructions)
        groups = rows_by_instruction(instructions, len(observations))
        results = {name: np.empty((len(observations), self.config.action_dim), np.float32)
                   for name in self._outputs}
        for text, rows in groups.items():
            feeds, length = self._prefix_feeds(text)
            chunk = observations if len(groups) == 1 else observations[rows]
            outputs = self._session(length, feeds).run(self._outputs,
                                                       {'observations': chunk, **feeds})
            for name, value in zip(self._outputs, outputs, strict=True):
                results[name][rows] = value
        return PriorOutput(**results)
