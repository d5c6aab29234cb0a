# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Over-long instructions are refused with a one-line reason, huge ones without tokenising."""

import pytest

from lago_ros.prior.backbone import load_backbone, tiny_random_backbone
from lago_ros.prior.instruction_limit import (
    InstructionLimit,
    InstructionTooLong,
    MAX_CHARS_PER_TOKEN,
)
from lago_ros.prior.model import ActionPrior, PriorConfig, PriorConfigError, PriorInputError


class CountingTokenizer:
    """Wraps a tokenizer and counts its calls."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer, self.calls = tokenizer, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.tokenizer(*args, **kwargs)


@pytest.fixture(scope='module')
def tokenizer(tmp_path_factory):
    return load_backbone(str(tiny_random_backbone(tmp_path_factory.mktemp('tiny'))))[1]


def words(count: int) -> str:
    """`count` + 2 tokens with the tiny tokenizer ([CLS] push ... [SEP])."""
    return ' '.join(['push'] * count)


def test_limit_accepts_up_to_max_tokens_and_refuses_more(tokenizer):
    limit = InstructionLimit(CountingTokenizer(tokenizer), 12)
    limit.check([words(10), 'reach the goal'])  # 12 tokens: the most accepted
    with pytest.raises(InstructionTooLong, match='more than 12 tokens') as refused:
        limit.check(['reach the goal', words(11)])
    assert isinstance(refused.value, PriorInputError)
    assert limit.accepts(words(10)) and not limit.accepts(words(11))
    assert '\n' not in str(refused.value) and 'shorten it' in str(refused.value)


def test_accepted_instructions_are_not_tokenised_again(tokenizer):
    counting = CountingTokenizer(tokenizer)
    limit = InstructionLimit(counting, 12)
    for _ in range(5):
        limit.check(['reach the goal'] * 64)
    assert counting.calls == 1


def test_huge_instruction_is_refused_without_tokenising(tokenizer):
    counting = CountingTokenizer(tokenizer)
    limit = InstructionLimit(counting, 32)
    huge = 'x' * 2**20
    with pytest.raises(InstructionTooLong, match=f'has {2**20} characters; at most '
                                                 f'{32 * MAX_CHARS_PER_TOKEN}'):
        limit.check([huge])
    assert counting.calls == 0


def test_limit_for_a_prior_defaults_to_and_may_not_exceed_its_own(tokenizer, tmp_path):
    backbone, tok = load_backbone(str(tiny_random_backbone(tmp_path / 'b')))
    prior = ActionPrior(PriorConfig(obs_dim=3, action_type='discrete', action_dim=2,
                                    max_instruction_tokens=20), backbone, tok)
    assert InstructionLimit.for_prior(prior).max_tokens == 20
    assert InstructionLimit.for_prior(prior, 8).max_tokens == 8
    with pytest.raises(PriorConfigError, match='the prior cuts instructions at 20 tokens'):
        InstructionLimit.for_prior(prior, 21)
