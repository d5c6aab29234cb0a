# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Ask the LaGO prior service for action distributions, as any robot node would.

    python examples/query_prior_client.py            # sends the prior's own task instruction
    python examples/query_prior_client.py --instruction "Reach the goal position with the gripper."
    python examples/query_prior_client.py --json      # the states and the full reply as JSON

First asks ~/describe what the prior serves (task, instructions, observation size, action
layout), then sends a batch of observations (random here; your robot's raw state in practice)
and prints the distribution the prior returns for each: a Gaussian mean/std (continuous) or
logits (discrete). A service that is absent, busy or gone gives a one-line message and exit code
1, never a traceback or a hang: a killed service stays listed (service_is_ready() is true) for
several seconds, so only a reply within the timeout counts.
"""

import argparse
import json
import sys
from typing import Any

from lago_interfaces.srv import DescribePrior, QueryPrior
import numpy as np
import rclpy


class PriorUnavailable(RuntimeError):
    """The prior service did not answer: not running, not active, busy or gone."""


def call(node: Any, client: Any, request: Any, timeout: float) -> Any:
    """Send `request`, return the reply; raise PriorUnavailable after `timeout` s without one."""
    if not client.wait_for_service(timeout_sec=timeout):
        raise PriorUnavailable(f'{client.srv_name} is not available within {timeout:g} s '
                               '(is prior_service running and active?)')
    future = client.call_async(request)
    rclpy.spin_until_future_complete(node, future, timeout_sec=timeout)
    if not future.done():
        client.remove_pending_request(future)  # a late reply is dropped, not delivered later
        raise PriorUnavailable(f'no reply from {client.srv_name} within {timeout:g} s: the '
                               'service is busy or went away')
    return future.result()


def print_distributions(reply: QueryPrior.Response) -> None:
    """Print one line per state of a successful reply."""
    width = reply.action_dim
    for i in range(reply.batch_size):
        if reply.action_type == 'discrete':
            logits = np.asarray(reply.logits[i * width:(i + 1) * width])
            print(f'state {i}: logits argmax={int(logits.argmax())} '
                  f'max={float(logits.max()):.4f}')
        else:
            mean = [round(float(v), 4) for v in reply.mean[i * width:(i + 1) * width]]
            std = [round(float(v), 4) for v in reply.std[i * width:(i + 1) * width]]
            print(f'state {i}: mean={mean} std={std}')
    print(f'inference {reply.inference_ms:.2f} ms for {reply.batch_size} states')


def query(node: Any, args: argparse.Namespace) -> int:
    """Describe the prior, query it once, print the result; return the exit code."""
    about = call(node, node.create_client(DescribePrior, f'{args.prior}/describe'),
                 DescribePrior.Request(), args.timeout)
    if not about.ok:
        print(f'{args.prior} has no prior to serve: {about.error}', file=sys.stderr)
        return 1
    instruction = args.instruction or (about.instructions[0] if about.instructions else '')
    if not instruction:
        print(f'the prior (task {about.task!r}) lists no instructions; pass --instruction',
              file=sys.stderr)
        return 1
    print(f'prior for task {about.task!r}: obs_dim {about.obs_dim}, {about.action_type} x '
          f'{about.action_dim} {list(about.action_names)}; instruction {instruction!r}')
    states = np.random.default_rng(0).normal(size=(args.batch, about.obs_dim))
    request = QueryPrior.Request(instruction=instruction, batch_size=args.batch,
                                 obs_dim=about.obs_dim,
                                 observations=states.astype(np.float32).ravel().tolist())
    reply = call(node, node.create_client(QueryPrior, f'{args.prior}/query'), request,
                 args.timeout)
    if not reply.ok:
        print(f'query refused: {reply.error}', file=sys.stderr)
        return 1
    if args.json:
        print_json(reply, instruction, states)
    else:
        print_distributions(reply)
    return 0


def print_json(reply: QueryPrior.Response, instruction: str, states: np.ndarray) -> None:
    """Print the states sent and the reply's numbers at full precision, as one JSON line."""
    width = reply.action_dim
    fields = ('logits',) if reply.action_type == 'discrete' else ('mean', 'std')
    out = {'instruction': instruction, 'action_type': reply.action_type,
           'observations': states.astype(np.float32).tolist(),
           **{name: np.asarray(getattr(reply, name)).reshape(-1, width).tolist()
              for name in fields}}
    print(json.dumps(out))


def main() -> int:
    """Parse the arguments, run one query, shut down cleanly."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--prior', default='/prior_service',
                        help='the prior service node (its ~/describe and ~/query)')
    parser.add_argument('--instruction', default='',
                        help='instruction to send; default: the first the prior describes')
    parser.add_argument('--batch', type=int, default=3)
    parser.add_argument('--json', action='store_true',
                        help='print the states and the reply as JSON (full precision)')
    parser.add_argument('--timeout', type=float, default=30.0,
                        help='seconds to wait for the service and for each reply')
    args = parser.parse_args()

    rclpy.init()
    node = rclpy.create_node('query_prior_client')
    try:
        return query(node, args)
    except PriorUnavailable as err:
        print(err, file=sys.stderr)
        return 1
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    sys.exit(main())
