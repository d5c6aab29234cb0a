# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of the ONNX Runtime prior: the same distributions as torch, a bounded set of graphs."""

import numpy as np
import onnx
import pytest
import torch
from transformers import LlamaConfig, LlamaModel

from lago_ros.prior.backbone import load_backbone, tiny_random_backbone
from lago_ros.prior.model import ActionPrior, PriorConfig, PriorConfigError, PriorInputError
from lago_ros.prior.onnx_runtime import bucket_for, OnnxPrior, prefix_buckets

TEXTS = ('move the red ball to the left of the blue ball', 'push it', 'reach the goal')


@pytest.fixture(scope='module')
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Folder of a tiny random BERT backbone with tokenizer."""
    return str(tiny_random_backbone(tmp_path_factory.mktemp('tiny')))


def make_prior(tiny: str, action_type: str, decoder: bool = False, **fields) -> ActionPrior:
    """Make a small random prior (BERT, or Llama when `decoder`) on 6-d observations."""
    backbone, tokenizer = load_backbone(tiny)
    torch.manual_seed(0)
    if decoder:
        backbone = LlamaModel(LlamaConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            num_key_value_heads=1, vocab_size=len(tokenizer), pad_token_id=0))
    config = PriorConfig(obs_dim=6, action_type=action_type, action_dim=3,
                         obs_mean=[0.2] * 6, obs_std=[1.7] * 6, **fields)
    return ActionPrior(config, backbone, tokenizer).eval()


def text_of(tokens: int) -> str:
    """Return an instruction of `tokens` tokens for the tiny tokenizer ([CLS] push ... [SEP])."""
    return ' '.join(['push'] * (tokens - 2))


def prefix_length(prior: ActionPrior, text: str) -> int:
    return prior.token_count(text) - prior.config.num_soft_tokens


@pytest.mark.parametrize('action_type,decoder', [('continuous', False), ('discrete', False),
                                                 ('continuous', True)])
def test_padded_onnx_prior_matches_torch_for_every_batch_and_length(
        tiny: str, action_type: str, decoder: bool) -> None:
    prior = make_prior(tiny, action_type, decoder)
    fast = OnnxPrior(prior)
    assert fast.buckets == (16, 32)
    rng = np.random.default_rng(0)
    names = ('logits',) if action_type == 'discrete' else ('mean', 'std')
    # Both ends of each bucket, the exact fit included, and mixed lengths in one batch.
    texts = (*TEXTS, text_of(3), text_of(15), text_of(16), text_of(17), text_of(32))
    assert {prefix_length(prior, t) for t in texts} >= {3, 15, 16, 17, 32}
    for batch in (1, 7):
        obs = rng.normal(size=(batch, 6)).astype(np.float32) * 3
        batches = [[texts[(i + j) % len(texts)] for i in range(batch)]
                   for j in range(len(texts))]
        for instructions in batches:
            expected, got = prior.predict(obs, instructions), fast.predict(obs, instructions)
            for name in names:
                np.testing.assert_allclose(getattr(got, name), getattr(expected, name),
                                           atol=1e-5)
    assert fast.graphs == 2


def test_graphs_and_cached_prefixes_stay_bounded_across_many_lengths(tiny: str) -> None:
    prior = make_prior(tiny, 'continuous')
    one = OnnxPrior(prior)._prefix_feeds(text_of(20))  # one instruction's padded feeds
    budget = 3 * sum(array.nbytes for array in one[0].values())
    fast = OnnxPrior(prior, buckets=(8, 16, 32), cache_bytes=budget)
    fast.warm()
    assert fast.graphs == 3
    obs = np.random.default_rng(2).normal(size=(2, 6)).astype(np.float32)
    for tokens in range(3, 60):  # beyond 32 the prior cuts the instruction to 32 tokens
        text = text_of(tokens)
        got, expected = fast.predict(obs, [text]), prior.predict(obs, [text])
        np.testing.assert_allclose(got.mean, expected.mean, atol=1e-5)
        assert fast.graphs == 3 and fast._feeds.total <= budget
    assert len(fast._feeds) <= 3


def test_prefix_buckets_cover_the_instruction_limit() -> None:
    assert prefix_buckets(32) == (16, 32)
    assert prefix_buckets(64) == (16, 32, 64)
    assert prefix_buckets(40) == (16, 32, 40)
    assert prefix_buckets(10) == (10,)
    assert bucket_for(16, (16, 32)) == 16 and bucket_for(17, (16, 32)) == 32
    with pytest.raises(PriorInputError, match='at most 32'):
        bucket_for(33, (16, 32))


def test_int8_onnx_prior_stays_close(tiny: str) -> None:
    prior = make_prior(tiny, 'continuous')
    obs = np.random.default_rng(1).normal(size=(16, 6)).astype(np.float32)
    exact = prior.predict(obs, [TEXTS[0]])
    quantised = OnnxPrior(prior, int8=True, buckets=(16,))
    approx = quantised.predict(obs, [TEXTS[0]])
    np.testing.assert_allclose(approx.mean, exact.mean, atol=0.05)
    np.testing.assert_allclose(approx.std, exact.std, rtol=0.1)
    # What runs is quantised: integer matrix products, which the float graph does not have.
    ops = {node.op_type for node in onnx.load_from_string(quantised._export(16)).graph.node}
    assert {'DynamicQuantizeLinear', 'MatMulInteger'} <= ops, ops
    float_ops = {node.op_type for node in
                 onnx.load_from_string(OnnxPrior(prior, buckets=(16,))._export(16)).graph.node}
    assert not {'DynamicQuantizeLinear', 'MatMulInteger'} & float_ops


def test_onnx_prior_checks_inputs_and_refuses_full_attention(tiny: str) -> None:
    fast = OnnxPrior(make_prior(tiny, 'continuous'))
    with pytest.raises(ValueError, match='NaN'):
        fast.predict(np.full((2, 6), np.nan, np.float32), [TEXTS[0]])
    with pytest.raises(ValueError, match='prior expects 6'):
        fast.predict(np.zeros((2, 5), np.float32), [TEXTS[0]])
    with pytest.raises(PriorConfigError, match='full attention'):
        OnnxPrior(make_prior(tiny, 'continuous', attention='full'))


def test_instruction_longer_than_the_largest_bucket_is_refused_as_input(tiny: str) -> None:
    fast = OnnxPrior(make_prior(tiny, 'continuous'), buckets=(8, 12))
    obs = np.zeros((1, 6), np.float32)
    with pytest.raises(PriorInputError, match='has 13 tokens; .* at most 12'):
        fast.predict(obs, [text_of(13)])
    assert fast.graphs == 0
    assert fast.predict(obs, [text_of(12)]).mean.shape == (1, 3) and fast.graphs == 1
