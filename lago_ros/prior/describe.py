# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
What a prior serves, for its clients: the task, the instructions to send and the action layout.

A client of the prior service should not have to guess the phrasing (the prior was trained on
its task's instructions) or what each action number means; `describe_prior` collects both from
the prior's config and the task registry, and `lago tasks TASK` prints the same. Imports no torch
(the CLI uses it).
"""

from dataclasses import dataclass, field
import itertools
import json
from typing import Any, Callable

from lago_ros.envs.families import family_of
from lago_ros.envs.tasks import get_task, list_tasks


def _metaworld_instructions(task: str, split: str) -> tuple[str, ...]:
    from lago_ros.envs.instructions import instructions_for

    return instructions_for(task, split)


def _clevr_instructions(task: str, split: str) -> tuple[str, ...]:
    from lago_ros.envs.clevr_language import instruction_for, split_contents

    goals, phrasings = split_contents(split)
    return tuple(instruction_for(goal, phrasing)
                 for phrasing, goal in itertools.product(phrasings, goals))


# Where each family keeps its phrasings; belongs on TaskFamily (envs/families.py) once it has it.
_INSTRUCTIONS: dict[str, Callable[[str, str], tuple[str, ...]]] = {
    'metaworld': _metaworld_instructions, 'clevr': _clevr_instructions}


def task_instructions(task: str, split: str = 'train') -> tuple[str, ...]:
    """Return the instructions the env of `task` draws from in `split`, in the env's order."""
    return _INSTRUCTIONS[get_task(task).family](task, split)


@dataclass
class PriorDescription:
    """Everything a client needs to query a prior; the fields of lago_interfaces/DescribePrior."""

    task: str
    """Task the prior was fitted on ('' if its config records none)."""
    obs_dim: int
    """Values per state in a query."""
    action_type: str
    """'continuous' (mean/std per dimension) or 'discrete' (logits per action)."""
    action_dim: int
    """Action dimensions (continuous) or number of actions (discrete)."""
    max_instruction_tokens: int
    """Longest instruction accepted, in tokens (special tokens included)."""
    instructions: list[str] = field(default_factory=list)
    """The task's training instructions, in the env's order ([] for an unregistered task)."""
    action_names: list[str] = field(default_factory=list)
    """Name of each action dimension, where the task's layout lists them."""
    action_low: list[float] = field(default_factory=list)
    """Lower end of each action dimension, where the layout lists them."""
    action_high: list[float] = field(default_factory=list)
    """Upper end of each action dimension, where the layout lists them."""
    action_layout: dict[str, Any] = field(default_factory=dict)
    """The task family's whole action description (as in `lago export`'s metadata)."""

    @property
    def action_layout_json(self) -> str:
        """Return `action_layout` as the JSON text the service message carries."""
        return json.dumps(self.action_layout, sort_keys=True)


def describe_prior(config: Any, max_instruction_tokens: int) -> PriorDescription:
    """Describe a prior from its PriorConfig, with its task's instructions and action layout."""
    description = PriorDescription(
        task=config.task, obs_dim=config.obs_dim, action_type=config.action_type,
        action_dim=config.action_dim, max_instruction_tokens=max_instruction_tokens)
    if config.task not in list_tasks():
        return description
    layout = family_of(config.task).action_layout(get_task(config.task))
    fields = layout.get('fields', [])
    description.instructions = list(task_instructions(config.task))
    description.action_names = [f['name'] for f in fields]
    description.action_low = [float(f['low']) for f in fields]
    description.action_high = [float(f['high']) for f in fields]
    description.action_layout = layout
    return description
