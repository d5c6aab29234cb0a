# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Lockstep with a sim bridge: act exactly once per VecStep of the current sequence (ROS-free).

A bridge answers a reset twice, in the service reply and on its ~/step topic, and then every
action with one VecStep of the same id. Acting on both copies of the reset step sends a second
action with an old id, which the bridge refuses (with an error in its log). So: the reset's step
is taken from the reply only, and afterwards only the VecStep answering our last action is
accepted; copies, old sequences and unrequested starts are ignored.
"""

from typing import Optional


class Lockstep:
    """Which VecStep may be acted on next, and the step id of the action answering it."""

    def __init__(self) -> None:
        """Start with no sequence: nothing is accepted before a reset reply."""
        self.expected: Optional[int] = None
        """Step id of the VecStep that answers our last action; None before a sequence."""
        self.resetting = False
        """A reset was requested and its reply has not been accepted yet."""
        self.ignored = 0
        """VecSteps ignored (copies, other sequences, replies to old resets)."""

    def start_reset(self) -> None:
        """Note a reset request: drop the sequence until its reply arrives."""
        self.expected, self.resetting = None, True

    def accept(self, step_id: int, from_reset: bool) -> bool:
        """Return whether to act on this VecStep (and if so, expect its successor next)."""
        wanted = self.resetting if from_reset else (
            not self.resetting and self.expected is not None and step_id == self.expected)
        if not wanted:
            self.ignored += 1
            return False
        self.resetting, self.expected = False, int(step_id) + 1
        return True

    def action_id(self) -> int:
        """Step id for the action answering the accepted VecStep (0 = 'next' without one)."""
        return 0 if self.expected is None else self.expected
