# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Build or load whichever kind of prior a config or folder describes."""

import json
import os
from pathlib import Path

import torch
from torch import nn

from lago_ros.prior.mlp import CONFIG_FILE, KIND, MLPPrior, MLPPriorConfig
from lago_ros.prior.model import ActionPrior, PriorConfig

AnyPriorConfig = PriorConfig | MLPPriorConfig


def build_prior(config: AnyPriorConfig) -> nn.Module:
    """Return a fresh prior for `config`: an MLPPrior or an ActionPrior."""
    if isinstance(config, MLPPriorConfig):
        return MLPPrior(config)
    return ActionPrior(config)


def load_prior(folder: str | os.PathLike, device: str | torch.device = 'cpu') -> nn.Module:
    """Load any saved prior folder: an MLP prior or an ActionPrior (language model)."""
    try:
        kind = json.loads((Path(folder) / CONFIG_FILE).read_text(encoding='utf-8')).get('kind')
    except (OSError, ValueError, AttributeError):
        kind = None  # ActionPrior.from_pretrained says what is wrong with the folder
    if kind == KIND:
        return MLPPrior.from_pretrained(folder, device)
    return ActionPrior.from_pretrained(folder, device)
