# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of prefix attention: each instruction encoded once, and the same function as without."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaModel

from lago_ros.prior.backbone import load_backbone, tiny_random_backbone
from lago_ros.prior.model import ActionPrior, PriorConfig, PriorConfigError

TEXTS = ('move the red ball to the left of the blue ball', 'push it')


@pytest.fixture(scope='module')
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Folder of a tiny random BERT backbone with tokenizer."""
    return str(tiny_random_backbone(tmp_path_factory.mktemp('tiny')))


def prior_pair(backbone, tokenizer, action_type: str = 'continuous') -> tuple:
    """Make the same weights into a prefix-attention and a full-attention prior."""
    configs = [PriorConfig(obs_dim=6, action_type=action_type, action_dim=3, attention=attention,
                           obs_mean=[0.3] * 6, obs_std=[1.5] * 6)
               for attention in ('prefix', 'full')]
    torch.manual_seed(0)
    prefix = ActionPrior(configs[0], backbone, tokenizer)
    full = ActionPrior(configs[1], backbone, tokenizer)
    full.load_state_dict(prefix.state_dict())
    return prefix.eval(), full.eval()


def masked_reference(prior: ActionPrior, obs: np.ndarray, text: str) -> np.ndarray:
    """Prior mean from one full-length backbone pass whose mask hides the state from the text."""
    ids = torch.tensor([prior.tokenizer(text)['input_ids']])
    length, k, batch = ids.shape[1], prior.config.num_soft_tokens, len(obs)
    with torch.no_grad():
        raw = torch.as_tensor(obs, dtype=torch.float32)
        soft = prior.projector((raw - prior.obs_mean) / prior.obs_std).view(batch, k, -1)
        text_embeddings = prior.backbone.get_input_embeddings()(ids).expand(batch, -1, -1)
        inputs = torch.cat([text_embeddings, soft], dim=1)
        allowed = torch.ones(length + k, length + k, dtype=torch.bool)
        allowed[:length, length:] = False  # text rows never see the soft columns
        mask = torch.zeros(batch, 1, length + k, length + k).masked_fill(
            ~allowed, torch.finfo(torch.float32).min)
        types = torch.cat([torch.zeros(batch, length), torch.ones(batch, k)], dim=1).long()
        hidden = prior.backbone(inputs_embeds=inputs, attention_mask=mask,
                                token_type_ids=types).last_hidden_state
        raw_out = prior.head(hidden[:, length:].mean(dim=1))
    return torch.tanh(raw_out.chunk(2, dim=-1)[0]).numpy()


def test_encoder_prefix_matches_a_masked_full_pass(tiny: str) -> None:
    prefix, full = prior_pair(*load_backbone(tiny))
    obs = np.random.default_rng(0).normal(size=(5, 6))
    cached = prefix.predict(obs, [TEXTS[0]]).mean
    np.testing.assert_allclose(cached, masked_reference(prefix, obs, TEXTS[0]), atol=1e-5)
    # Bidirectional attention lets the text see the state: a different function (small at
    # random init, where attention is near uniform, but far above float32 rounding).
    soft = torch.randn(5, prefix.config.num_soft_tokens, prefix.hidden_size)
    with torch.no_grad():
        gap = prefix._encode_prefix(soft, [TEXTS[0]]) - full._encode_full(soft, [TEXTS[0]])
    assert gap.abs().max() > 1e-5


def test_decoder_prefix_equals_full_attention(tiny: str) -> None:
    _, tokenizer = load_backbone(tiny)
    torch.manual_seed(0)
    decoder = LlamaModel(LlamaConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, vocab_size=len(tokenizer), pad_token_id=0))
    prefix, full = prior_pair(decoder, tokenizer, 'discrete')
    obs = np.random.default_rng(1).normal(size=(6, 6))
    texts = [TEXTS[i % 2] for i in range(6)]
    np.testing.assert_allclose(prefix.predict(obs, texts).logits,
                               full.predict(obs, texts).logits, atol=1e-5)


def test_each_instruction_is_encoded_once_until_weights_change(tiny: str) -> None:
    prefix, _ = prior_pair(*load_backbone(tiny))
    calls = []  # ('text', length) for instruction passes, ('soft', batch) for state passes

    def record(module, args, kwargs) -> None:
        if kwargs.get('input_ids') is not None:
            calls.append(('text', kwargs['input_ids'].shape[1]))
        else:
            calls.append(('soft', kwargs['inputs_embeds'].shape[0]))

    hook = prefix.backbone.register_forward_pre_hook(record, with_kwargs=True)
    obs = np.random.default_rng(2).normal(size=(7, 6))
    texts = [TEXTS[i % 2] for i in range(7)]
    first = prefix.predict(obs, texts).mean
    k = prefix.config.num_soft_tokens
    text_lengths = sorted(prefix.token_count(t) - k for t in TEXTS)
    assert sorted(n for kind, n in calls if kind == 'text') == text_lengths
    assert sorted(n for kind, n in calls if kind == 'soft') == [3, 4]
    calls.clear()
    np.testing.assert_array_equal(prefix.predict(obs, texts).mean, first)
    assert sorted(calls) == [('soft', 3), ('soft', 4)]  # the instructions were remembered
    with torch.no_grad():  # an in-place weight change must invalidate the remembered prefixes
        next(prefix.backbone.parameters()).mul_(1.5)
    calls.clear()
    changed = prefix.predict(obs, texts).mean
    hook.remove()
    assert sorted(n for kind, n in calls if kind == 'text') == text_lengths
    assert not np.allclose(changed, first, atol=1e-5)
    np.testing.assert_allclose(changed[0], masked_reference(prefix, obs[:1], TEXTS[0])[0],
                               atol=1e-5)


def test_training_gradients_reach_the_backbone_through_the_prefix(tiny: str) -> None:
    config = PriorConfig(obs_dim=6, action_type='continuous', action_dim=3, backbone=tiny,
                         mode='full')
    prior = ActionPrior(config).train()
    out = prior(torch.randn(4, 6), [TEXTS[0]])
    out.mean.sum().backward()
    embeddings = prior.backbone.get_input_embeddings().weight.grad
    text_ids = prior.tokenizer(TEXTS[0])['input_ids']
    # Word embeddings only enter through the instruction prefix: they must get a gradient.
    assert embeddings is not None and embeddings[text_ids].abs().sum() > 0


def test_priors_saved_before_the_option_load_with_full_attention(tiny: str,
                                                                 tmp_path: Path) -> None:
    _, full = prior_pair(*load_backbone(tiny))
    obs = np.random.default_rng(3).normal(size=(4, 6))
    before = full.predict(obs, [TEXTS[1]]).mean
    folder = full.save_pretrained(tmp_path / 'old')
    document = json.loads((folder / 'config.json').read_text())
    del document['prior']['attention']
    (folder / 'config.json').write_text(json.dumps(document))
    loaded = ActionPrior.from_pretrained(folder)
    assert loaded.config.attention == 'full'
    np.testing.assert_array_equal(loaded.predict(obs, [TEXTS[1]]).mean, before)


def test_bad_attention_values_and_cacheless_backbones_are_refused(tiny: str) -> None:
    with pytest.raises(PriorConfigError, match='attention'):
        PriorConfig(obs_dim=6, action_type='discrete', action_dim=3, attention='causal')

    class NoCache(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner, self.config = inner, inner.config

        def get_input_embeddings(self) -> torch.nn.Module:
            return self.inner.get_input_embeddings()

        def forward(self, inputs_embeds=None, attention_mask=None):
            return self.inner(inputs_embeds=inputs_embeds, attention_mask=attention_mask)

    backbone, tokenizer = load_backbone(tiny)
    config = PriorConfig(obs_dim=6, action_type='discrete', action_dim=3)
    with pytest.raises(PriorConfigError, match="attention='full'"):
        ActionPrior(config, NoCache(backbone), tokenizer)
    config = PriorConfig(obs_dim=6, action_type='discrete', action_dim=3, attention='full')
    logits = ActionPrior(config, NoCache(backbone), tokenizer).predict(np.zeros((2, 6)), ['a'])
    assert logits.logits.shape == (2, 3)


@pytest.mark.parametrize('mode', ['frozen', 'lora'])
def test_int8_prior_stays_close_and_refuses_training_and_saving(
        tiny: str, tmp_path: Path, mode: str) -> None:
    torch.manual_seed(0)
    config = PriorConfig(obs_dim=6, action_type='continuous', action_dim=3, backbone=tiny,
                         mode=mode)
    prior = ActionPrior(config).eval()
    obs = np.random.default_rng(4).normal(size=(16, 6))
    exact = prior.predict(obs, [TEXTS[0]])
    quantized = prior.quantize_int8()
    kinds = [type(m) for m in quantized.backbone.modules()]
    # Every float Linear of the backbone became a dynamically quantised (int8) one.
    assert torch.nn.Linear not in kinds
    assert kinds.count(torch.ao.nn.quantized.dynamic.Linear) >= 6, kinds
    approx = quantized.predict(obs, [TEXTS[0]])
    np.testing.assert_allclose(approx.mean, exact.mean, atol=0.05)
    np.testing.assert_allclose(approx.std, exact.std, rtol=0.1)
    with pytest.raises(PriorConfigError, match='inference only'):
        quantized.train()
    with pytest.raises(PriorConfigError, match='cannot be saved'):
        quantized.save_pretrained(tmp_path / 'int8')
    assert not (tmp_path / 'int8').exists()
