# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Tests of the LLM action prior: fitting, saving, loading and input checks."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lago_ros.data.demos import DemoDataset
from lago_ros.prior.backbone import BackboneLoadError, load_backbone, tiny_random_backbone
from lago_ros.prior.model import (
    ActionPrior,
    PriorConfig,
    PriorConfigError,
    PriorInputError,
    PriorLoadError,
)
from lago_ros.prior.train import BCConfig, DemoDataError, split_episodes, train_prior

INSTRUCTIONS = ('move the red ball to the left of the blue ball', 'push it')


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """Run single-threaded: tiny models gain nothing from threads on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Folder of a tiny random BERT backbone with tokenizer."""
    return str(tiny_random_backbone(tmp_path_factory.mktemp('tiny')))


def make_demos(action_type: str, states: int = 64, obs_dim: int = 6, action_dim: int = 5,
               seed: int = 0) -> DemoDataset:
    """Toy demonstrations: 8 episodes, two instructions, learnable actions."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(states, obs_dim)).astype(np.float32) * 3.0 + 1.0
    weights = rng.normal(size=(obs_dim, action_dim))
    if action_type == 'discrete':
        actions = rng.integers(0, action_dim, size=states)
    else:
        actions = np.tanh(obs @ weights / 4.0).astype(np.float32)
    episodes = np.repeat(np.arange(8), states // 8)
    flags = np.zeros(states, dtype=bool)
    return DemoDataset(
        observations=obs, actions=actions, rewards=np.zeros(states, np.float32),
        terminations=flags, truncations=flags, successes=flags, episode_ids=episodes,
        instructions=np.array([INSTRUCTIONS[e % 2] for e in episodes]),
        metadata={'task': 'toy', 'obs_dim': obs_dim, 'action_type': action_type,
                  'action_dim': action_dim})


def fit(tiny: str, action_type: str, epochs: int, mode: str = 'frozen', **bc):
    """Train a prior on the toy demos with the tiny backbone."""
    demos = make_demos(action_type)
    config = BCConfig(epochs=epochs, batch_size=16, val_fraction=0.0, patience=epochs,
                      lr=3e-3, mode=mode, progress=False, **bc)
    prior, history = train_prior(demos, PriorConfig(backbone=tiny), config)
    return demos, prior, history


def test_overfits_random_discrete_labels(tiny: str) -> None:
    demos, prior, history = fit(tiny, 'discrete', epochs=60)
    logits = prior.predict(demos.observations, list(demos.instructions)).logits
    assert logits.shape == (64, 5)
    assert (logits.argmax(axis=1) == demos.actions).mean() >= 0.95
    assert history[-1]['train_loss'] < history[0]['train_loss']


def test_overfits_continuous_actions(tiny: str) -> None:
    demos, prior, _ = fit(tiny, 'continuous', epochs=40)
    out = prior.predict(demos.observations, list(demos.instructions))
    assert out.mean.shape == out.std.shape == (64, 5)
    assert np.mean((out.mean - demos.actions) ** 2) < 0.02
    assert np.all(out.std >= np.exp(prior.config.log_std_min) - 1e-6)
    assert np.all(out.std <= np.exp(prior.config.log_std_max) + 1e-6)


def test_training_is_deterministic_for_a_seed(tiny: str) -> None:
    runs = [fit(tiny, 'continuous', epochs=2, seed=3) for _ in range(2)]
    assert runs[0][2][-1]['train_loss'] == runs[1][2][-1]['train_loss']
    obs, texts = runs[0][0].observations, list(runs[0][0].instructions)
    np.testing.assert_array_equal(runs[0][1].predict(obs, texts).mean,
                                  runs[1][1].predict(obs, texts).mean)


def test_validation_keeps_best_epoch_and_saves(tiny: str, tmp_path: Path) -> None:
    demos = make_demos('discrete')
    config = BCConfig(epochs=4, batch_size=32, val_fraction=0.25, patience=2, progress=False)
    prior, history = train_prior(demos, PriorConfig(backbone=tiny), config, tmp_path / 'p')
    assert all('val_loss' in record and 'val_accuracy' in record for record in history)
    loaded = ActionPrior.from_pretrained(tmp_path / 'p')
    assert loaded.config.task == 'toy'
    train_rows, val_rows = split_episodes(demos.episode_ids, 0.25, seed=0)
    assert len(val_rows) == 16
    np.testing.assert_allclose(loaded.config.obs_mean,
                               demos.observations[train_rows].mean(axis=0), rtol=1e-5)
    best = min(history, key=lambda record: record['val_loss'])
    rows = val_rows
    logits = loaded.predict(demos.observations[rows], list(demos.instructions[rows])).logits
    loss = torch.nn.functional.cross_entropy(torch.from_numpy(logits),
                                             torch.from_numpy(demos.actions[rows]))
    assert loss.item() == pytest.approx(best['val_loss'], rel=1e-4)


def test_metric_selection_keeps_lowest_mse_epoch(tiny: str) -> None:
    demos = make_demos('continuous')
    config = BCConfig(epochs=6, batch_size=16, val_fraction=0.25, patience=6, lr=3e-3,
                      select_by='metric', progress=False)
    prior, history = train_prior(demos, PriorConfig(backbone=tiny), config)
    _, val_rows = split_episodes(demos.episode_ids, 0.25, seed=0)
    mean = prior.predict(demos.observations[val_rows], list(demos.instructions[val_rows])).mean
    mse = np.mean((mean - demos.actions[val_rows]) ** 2)
    assert mse == pytest.approx(min(record['val_mse'] for record in history), rel=1e-4)
    with pytest.raises(ValueError, match='select_by'):
        BCConfig(select_by='accuracy')


def test_split_keeps_episodes_whole() -> None:
    episodes = np.repeat(np.arange(10), 5)
    train, val = split_episodes(episodes, 0.2, seed=1)
    assert len(set(episodes[train]) & set(episodes[val])) == 0
    assert len(set(episodes[val])) == 2 and len(train) + len(val) == 50


@pytest.mark.parametrize('action_type,mode', [('discrete', 'lora'), ('continuous', 'frozen'),
                                              ('continuous', 'full')])
def test_save_load_round_trip_is_identical(tiny: str, tmp_path: Path, action_type: str,
                                           mode: str) -> None:
    torch.manual_seed(0)
    config = PriorConfig(obs_dim=6, action_type=action_type, action_dim=5, backbone=tiny,
                         mode=mode, obs_mean=[0.5] * 6, obs_std=[2.0] * 6)
    prior = ActionPrior(config)
    with torch.no_grad():  # make LoRA adapters non-zero so the round trip covers them
        for name, param in prior.named_parameters():
            if 'lora_B' in name:
                param.normal_()
    obs = np.random.default_rng(1).normal(size=(5, 6))
    before = prior.predict(obs, INSTRUCTIONS[:1])
    prior.save_pretrained(tmp_path / 'prior')
    prior.save_pretrained(tmp_path / 'prior')  # replacing an existing prior works
    after = ActionPrior.from_pretrained(tmp_path / 'prior').predict(obs, INSTRUCTIONS[:1])
    for name in ('logits', 'mean', 'std'):
        if getattr(before, name) is not None:
            np.testing.assert_array_equal(getattr(before, name), getattr(after, name))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['prior']


def test_outputs_do_not_depend_on_batch_composition(tiny: str) -> None:
    config = PriorConfig(obs_dim=6, action_type='discrete', action_dim=5, backbone=tiny,
                         batch_size=2)
    prior = ActionPrior(config)
    obs = np.random.default_rng(2).normal(size=(5, 6))
    texts = [INSTRUCTIONS[i % 2] for i in range(5)]
    mixed = prior.predict(obs, texts).logits
    for row in range(5):
        alone = prior.predict(obs[row:row + 1], [texts[row]]).logits
        np.testing.assert_allclose(alone[0], mixed[row], atol=1e-5)
    assert not np.allclose(mixed[0], prior.predict(obs[:1], [INSTRUCTIONS[1]]).logits[0])


def test_minilm_default_loads_offline_and_predicts() -> None:
    prior = ActionPrior(PriorConfig(obs_dim=24, action_type='discrete', action_dim=40))
    out = prior.predict(np.zeros((3, 24), np.float32), [INSTRUCTIONS[0]])
    assert out.logits.shape == (3, 40) and np.isfinite(out.logits).all()
    assert prior.hidden_size == 384
    assert prior.token_count(INSTRUCTIONS[0]) == len(prior.tokenizer(INSTRUCTIONS[0])[
        'input_ids']) + 4
    long_text = ' '.join(['ball'] * 100)
    assert prior.token_count(long_text) == 32 + 4


def test_bad_inputs_are_rejected_clearly(tiny: str) -> None:
    prior = ActionPrior(PriorConfig(obs_dim=39, action_type='continuous', action_dim=4,
                                    backbone=tiny, task='reach-v3'))
    with pytest.raises(PriorInputError, match='observation has 12 values, prior expects 39'):
        prior.predict(np.zeros((2, 12)), ['x'])
    with pytest.raises(PriorInputError, match='2-D'):
        prior.predict(np.zeros(39), ['x'])
    bad = np.zeros((3, 39))
    bad[1, 4] = np.nan
    bad[2, 0] = np.inf
    with pytest.raises(PriorInputError, match=r'NaN or Inf in rows \[1, 2\]'):
        prior.predict(bad, ['x'])
    with pytest.raises(PriorInputError, match='2 instructions for 3 observations'):
        prior.predict(np.zeros((3, 39)), ['a', 'b'])
    with pytest.raises(PriorInputError, match='sequence of strings'):
        prior.predict(np.zeros((3, 39)), 'reach')
    assert prior.predict(np.zeros((0, 39)), ['x']).mean.shape == (0, 4)
    texts = np.array(['reach', 'reach the goal'])
    np.testing.assert_array_equal(prior.predict(np.ones((2, 39)), texts).mean,
                                  prior.predict(np.ones((2, 39)), list(texts)).mean)


def test_invalid_configs_and_demos_are_rejected(tiny: str) -> None:
    with pytest.raises(PriorConfigError, match='mode'):
        PriorConfig(mode='half')
    with pytest.raises(PriorConfigError, match='obs_dim'):
        ActionPrior(PriorConfig(backbone=tiny))
    with pytest.raises(PriorConfigError, match='exceeds the backbone.s 128 positions'):
        ActionPrior(PriorConfig(obs_dim=3, action_type='discrete', action_dim=2, backbone=tiny,
                                max_instruction_tokens=126))
    with pytest.raises(DemoDataError, match='action_dim is 7'):
        train_prior(make_demos('discrete'), PriorConfig(action_dim=7, backbone=tiny),
                    BCConfig(progress=False))


@pytest.fixture
def saved(tiny: str, tmp_path: Path) -> Path:
    """Save a tiny prior folder to corrupt."""
    config = PriorConfig(obs_dim=6, action_type='discrete', action_dim=5, backbone=tiny)
    return ActionPrior(config).save_pretrained(tmp_path / 'prior')


def edit_json(path: Path, **changes) -> None:
    """Rewrite a JSON file with some keys changed."""
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_corrupt_folders_name_the_bad_file(saved: Path) -> None:
    with pytest.raises(PriorLoadError, match='does not exist'):
        ActionPrior.from_pretrained(saved.parent / 'nowhere')
    weights = saved / 'model.safetensors'
    data = weights.read_bytes()
    weights.write_bytes(data[:len(data) // 2])
    with pytest.raises(PriorLoadError, match='model.safetensors is corrupt or truncated'):
        ActionPrior.from_pretrained(saved)
    weights.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(PriorLoadError, match='model.safetensors is corrupt'):
        ActionPrior.from_pretrained(saved)
    weights.unlink()
    with pytest.raises(PriorLoadError, match='model.safetensors is missing'):
        ActionPrior.from_pretrained(saved)
    (saved / 'config.json').write_text('{"format_version": 1, "prior": ')
    with pytest.raises(PriorLoadError, match='config.json is not valid JSON'):
        ActionPrior.from_pretrained(saved)
    (saved / 'config.json').unlink()
    with pytest.raises(PriorLoadError, match='config.json is missing'):
        ActionPrior.from_pretrained(saved)


def test_weights_not_matching_the_config_are_refused(saved: Path) -> None:
    config = json.loads((saved / 'config.json').read_text())
    config['prior']['action_dim'] = 7
    (saved / 'config.json').write_text(json.dumps(config))
    with pytest.raises(PriorLoadError, match='cannot load prior weights from .*model.safetensors'):
        ActionPrior.from_pretrained(saved)


def test_remote_code_is_refused(saved: Path, tiny: str, tmp_path: Path) -> None:
    config = json.loads((saved / 'config.json').read_text())
    config['backbone_config']['auto_map'] = {'AutoModel': 'evil.Model'}
    (saved / 'config.json').write_text(json.dumps(config))
    with pytest.raises(PriorLoadError, match='auto_map'):
        ActionPrior.from_pretrained(saved)
    folder = Path(tiny_random_backbone(tmp_path / 'remote'))
    edit_json(folder / 'config.json', auto_map={'AutoModel': 'evil.Model'})
    with pytest.raises(BackboneLoadError, match='trust_remote_code=False'):
        load_backbone(folder)


def test_save_refuses_to_replace_a_foreign_folder(saved: Path, tiny: str) -> None:
    foreign = saved.parent / 'project'
    foreign.mkdir()
    (foreign / 'notes.txt').write_text('keep me')
    prior = ActionPrior.from_pretrained(saved)
    with pytest.raises(PriorLoadError, match='not a saved prior'):
        prior.save_pretrained(foreign)
    assert (foreign / 'notes.txt').read_text() == 'keep me'


def test_frozen_mode_trains_only_projector_and_head(tiny: str) -> None:
    reference, _ = load_backbone(tiny)
    _, prior, _ = fit(tiny, 'discrete', epochs=1)
    for name, value in reference.state_dict().items():
        assert torch.equal(prior.backbone.state_dict()[name], value), name
    assert not any(p.requires_grad for p in prior.backbone.parameters())
    assert prior.projector[0].weight.requires_grad


def test_lora_mode_trains_adapters_only(tiny: str) -> None:
    reference, _ = load_backbone(tiny)
    _, prior, _ = fit(tiny, 'discrete', epochs=2, mode='lora')
    trainable = [n for n, p in prior.backbone.named_parameters() if p.requires_grad]
    assert trainable and all('lora_' in name for name in trainable)
    base = prior.backbone.get_base_model().state_dict()
    for name, value in reference.state_dict().items():
        key = next(k for k in base if k.replace('.base_layer', '') == name)
        assert torch.equal(base[key], value), name
    assert any(torch.count_nonzero(p) > 0 for n, p in prior.backbone.named_parameters()
               if 'lora_B' in n)


def test_decoder_backbone_works_and_round_trips(tiny: str, tmp_path: Path) -> None:
    from transformers import LlamaConfig, LlamaModel

    _, tokenizer = load_backbone(tiny)
    torch.manual_seed(0)
    decoder = LlamaModel(LlamaConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, vocab_size=len(tokenizer), pad_token_id=0))
    config = PriorConfig(obs_dim=6, action_type='continuous', action_dim=2, mode='lora')
    prior = ActionPrior(config, decoder, tokenizer)
    obs = np.random.default_rng(3).normal(size=(3, 6))
    texts = [INSTRUCTIONS[0], INSTRUCTIONS[1], 'a']
    mixed = prior.predict(obs, texts).mean
    alone = np.stack([prior.predict(obs[i:i + 1], texts[i:i + 1]).mean[0] for i in range(3)])
    np.testing.assert_allclose(mixed, alone, atol=1e-5)
    prior.save_pretrained(tmp_path / 'llama')
    loaded = ActionPrior.from_pretrained(tmp_path / 'llama')
    assert type(loaded.base_backbone()).__name__ == 'LlamaModel'
    np.testing.assert_array_equal(loaded.predict(obs, texts).mean, mixed)
