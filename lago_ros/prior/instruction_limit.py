# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Refuse over-long instructions before they reach the prior, cheaply.

The prior cuts instructions at its `max_instruction_tokens`, so it would answer a longer one for
text the client did not send; a service refuses it instead, with a one-line reason. Characters
are counted first: tokenising a 1 MB string takes seconds, so text with more than
`MAX_CHARS_PER_TOKEN` characters per allowed token is refused without tokenising.
"""

from collections.abc import Iterable
from typing import Any

from lago_ros.prior.model import PriorConfigError, PriorInputError
from lago_ros.utils import LRUCache

MAX_CHARS_PER_TOKEN = 32
"""No tokenizer we use has tokens this long; beyond this the text is refused unread."""
_ACCEPTED_MEMO = 1024
"""Instructions already found short enough (a client repeats a few)."""


class InstructionTooLong(PriorInputError):
    """An instruction longer than the service accepts."""


class InstructionLimit:
    """Accepts instructions of at most `max_tokens` tokens (special tokens included)."""

    def __init__(self, tokenizer: Any, max_tokens: int) -> None:
        """Count with `tokenizer` (the prior's) and accept up to `max_tokens` tokens."""
        if max_tokens < 1:
            raise PriorConfigError(f'max_tokens is {max_tokens}; expected at least 1')
        self.tokenizer, self.max_tokens = tokenizer, max_tokens
        self.max_chars = max_tokens * MAX_CHARS_PER_TOKEN
        self._accepted: LRUCache[str, bool] = LRUCache(_ACCEPTED_MEMO)

    @classmethod
    def for_prior(cls, prior: Any, max_tokens: int = 0) -> 'InstructionLimit':
        """Limit for `prior`: `max_tokens`, or 0 for the prior's own max_instruction_tokens."""
        own = prior.config.max_instruction_tokens
        if max_tokens > own:
            raise PriorConfigError(
                f'max_instruction_tokens is {max_tokens} but the prior cuts instructions at '
                f'{own} tokens; expected 0 (the prior\'s limit) or 1..{own}')
        return cls(prior.tokenizer, max_tokens or own)

    def accepts(self, text: str) -> bool:
        """Return whether `check` lets instruction `text` through."""
        try:
            self.check([text])
        except InstructionTooLong:
            return False
        return True

    def check(self, instructions: Iterable[str]) -> None:
        """Raise InstructionTooLong for the first instruction over the limit."""
        for text in dict.fromkeys(instructions):
            if self._accepted.get(text):
                continue
            where = f'instruction {text[:40]!r}{"..." if len(text) > 40 else ""}'
            if len(text) > self.max_chars:
                raise InstructionTooLong(
                    f'{where} has {len(text)} characters; at most {self.max_chars} '
                    f'({self.max_tokens} tokens) are accepted: shorten it')
            ids = self.tokenizer(text, add_special_tokens=True, truncation=True,
                                 max_length=self.max_tokens + 1)['input_ids']
            if len(ids) > self.max_tokens:
                raise InstructionTooLong(
                    f'{where} has more than {self.max_tokens} tokens (special tokens included), '
                    f'the most accepted (max_instruction_tokens): shorten it')
            self._accepted.put(text, True)
