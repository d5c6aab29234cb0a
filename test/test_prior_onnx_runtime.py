# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of the ONNX Runtime prior: the same distributions as torch, per instruction length."""

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaModel

from lago_ros.prior.backbone import load_backbone, tiny_random_backbone
from lago_ros.prior.model import ActionPrior, PriorConfig, PriorConfigError
from lago_ros.prior.onnx_runtime import OnnxPrior

TEXTS = ('move the red ball to the left of the blue ball', 'push it', 'reach the goal')


@pytest.fixture(scope='module')
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Folder of a tiny random BERT backbone with tokenizer."""
    return str(tiny_random_backbone(tmp_path_factory.mktemp('tiny')))


def make_prior(tiny: str, action_type: str, decoder: bool = False, **fields) -> ActionPrior:
    """A small random prior (BERT, or Llama when `decoder`) on 6-d observations."""
    backbone, tokenizer = load_backbone(tiny)
    torch.manual_seed(0)
    if decoder:
        backbone = LlamaModel(LlamaConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=1, vocab_size=len(tokenizer), pad_token_id=0))
    config = PriorConfig(obs_dim=6, action_type=action_type, action_dim=3,
                         obs_mean=[0.2] * 6, obs_std=[1.7] * 6, **fields)
    return ActionPrior(config, backbone, tokenizer).eval()


@pytest.mark.parametrize('action_type,decoder', [('continuous', False), ('discrete', False),
                                                 ('continuous', True)])
def test_onnx_prior_matches_torch_for_every_batch_and_instruction(
        tiny: str, action_type: str, decoder: bool) -> None:
    prior = make_prior(tiny, action_type, decoder)
    fast = OnnxPrior(prior)
    rng = np.random.default_rng(0)
    names = ('logits',) if action_type == 'discrete' else ('mean', 'std')
    for batch in (1, 7):
        obs = rng.normal(size=(batch, 6)).astype(np.float32) * 3
        texts = [TEXTS[i % 3] for i in range(batch)]
        expected, got = prior.predict(obs, texts), fast.predict(obs, texts)
        for name in names:
            np.testing.assert_allclose(getattr(got, name), getattr(expected, name), atol=1e-5)
    # One graph per distinct instruction length, shared by instructions of that length.
    lengths = {len(prior._token_ids(text)) for text in TEXTS}
    assert set(fast._sessions) == lengths


def test_int8_onnx_prior_stays_close(tiny: str) -> None:
    prior = make_prior(tiny, 'continuous')
    obs = np.random.default_rng(1).normal(size=(16, 6)).astype(np.float32)
    exact = prior.predict(obs, [TEXTS[0]])
    approx = OnnxPrior(prior, int8=True).predict(obs, [TEXTS[0]])
    np.testing.assert_allclose(approx.mean, exact.mean, atol=0.05)
    np.testing.assert_allclose(approx.std, exact.std, rtol=0.1)


def test_onnx_prior_checks_inputs_and_refuses_full_attention(tiny: str) -> None:
    fast = OnnxPrior(make_prior(tiny, 'continuous'))
    with pytest.raises(ValueError, match='NaN'):
        fast.predict(np.full((2, 6), np.nan, np.float32), [TEXTS[0]])
    with pytest.raises(ValueError, match='prior expects 6'):
        fast.predict(np.zeros((2, 5), np.float32), [TEXTS[0]])
    with pytest.raises(PriorConfigError, match='full attention'):
        OnnxPrior(make_prior(tiny, 'continuous', attention='full'))
