# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The deploy node's ResetEnvs requests to the sim bridge, which (re)start its lockstep.

At most one request is in flight; one without a reply after the loop's observation timeout is
dropped for a new one (`DeployLoop.reset_due`). A request goes out only when the bridge's step
topic and our action topic are matched, or the bridge's answer to our first action is lost. The
reply's step reaches the loop as the first step of the new sequence.
"""

from typing import Any, Callable, Optional

from lago_interfaces.msg import VecStep
from lago_interfaces.srv import ResetEnvs

from lago_ros.control.deploy_loop import DeployLoop


class SimReset:
    """A ResetEnvs client whose replies feed `on_step(step)` while the loop is active."""

    def __init__(self, node: Any, service: str, loop: DeployLoop, steps: Any, actions: Any,
                 on_step: Callable[[VecStep], None]) -> None:
        """Create the client on `node`; `steps`, `actions`: the VecStep input, VecAction output."""
        self.client = node.create_client(ResetEnvs, service)
        self.loop, self.steps, self.actions, self.on_step = loop, steps, actions, on_step
        self.future: Optional[Any] = None

    def forget(self) -> None:
        """Ignore the reply to any earlier request (activation)."""
        self.future = None

    def request(self) -> None:
        """Ask for a reset unless one is pending within its timeout or the topics are unmatched."""
        pending = self.future is not None and not self.future.done()
        if not self.loop.reset_due(pending):
            return
        if pending:
            self.client.remove_pending_request(self.future)
        if not (self.client.service_is_ready() and self.steps.get_publisher_count() > 0
                and self.actions.get_subscription_count() > 0):
            return
        self.loop.reset_requested()
        future = self.future = self.client.call_async(ResetEnvs.Request())
        future.add_done_callback(lambda done: self._on_reply(future))

    def _on_reply(self, future: Any) -> None:
        reply = future.result()
        if future is self.future and reply is not None and reply.ok and self.loop.active:
            self.on_step(reply.step)
