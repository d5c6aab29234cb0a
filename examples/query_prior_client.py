# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Ask the LaGO prior service for action distributions, as any robot node would.

    python examples/query_prior_client.py --instruction "reach the goal" --obs-dim 39

Sends a batch of observations (random here; your robot's raw state in practice) and prints the
distribution the prior returns for each: a Gaussian mean/std (continuous) or logits (discrete).
"""

import argparse
import sys

from lago_interfaces.srv import QueryPrior
import numpy as np
import rclpy


def main() -> int:
    """Query the prior once and print one line per state."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--service', default='/prior_service/query')
    parser.add_argument('--instruction', default='Reach the goal position.')
    parser.add_argument('--obs-dim', type=int, default=39)
    parser.add_argument('--batch', type=int, default=3)
    parser.add_argument('--timeout', type=float, default=30.0)
    args = parser.parse_args()

    rclpy.init()
    node = rclpy.create_node('query_prior_client')
    client = node.create_client(QueryPrior, args.service)
    try:
        if not client.wait_for_service(timeout_sec=args.timeout):
            print(f'{args.service} is not available (is prior_service active?)', file=sys.stderr)
            return 1
        states = np.random.default_rng(0).normal(size=(args.batch, args.obs_dim))
        request = QueryPrior.Request(instruction=args.instruction, batch_size=args.batch,
                                     obs_dim=args.obs_dim,
                                     observations=states.astype(np.float32).ravel().tolist())
        future = client.call_async(request)
        rclpy.spin_until_future_complete(node, future, timeout_sec=args.timeout)
        reply = future.result()
        if reply is None or not reply.ok:
            print(f'query failed: {reply.error if reply else "no reply"}', file=sys.stderr)
            return 1
        width = reply.action_dim
        for i in range(reply.batch_size):
            if reply.action_type == 'discrete':
                logits = np.asarray(reply.logits[i * width:(i + 1) * width])
                print(f'state {i}: logits argmax={int(logits.argmax())} '
                      f'max={float(logits.max()):.4f}')
            else:
                mean = np.round(reply.mean[i * width:(i + 1) * width], 4).tolist()
                std = np.round(reply.std[i * width:(i + 1) * width], 4).tolist()
                print(f'state {i}: mean={mean} std={std}')
        print(f'inference {reply.inference_ms:.2f} ms for {reply.batch_size} states')
        return 0
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    sys.exit(main())
