# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Prior service memory and first-query latency under ever new instructions (issue 14, item 1).

Starts a prior service (the offline MiniLM prior by default, untrained: the backbone's size is
what matters) as its own process, warms it with five queries of the task instruction, then sends
--count queries, each with an instruction it has never seen, of every token length from 3 to
the prior's limit in turn. Prints the service's RSS before, every 100 queries and after, and the
latency (the service's inference_ms and the client's round trip) of the first query of each
token length and of all the new-instruction queries. Goals: RSS grows by at most 50 MB; the
first query of a new length takes under 50 ms.

    PYTHONPATH=. .venv/bin/python bench/prior_memory.py --count 1000
"""

import argparse
import os
from pathlib import Path
import subprocess
import sys
import tempfile
import threading
import time
from typing import List, Optional

from bench.bench_graph import make_prior
from bench.soak import rss_mb
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NODE = 'memory_prior'
TASK = 'reach-v3'
WORDS = ('reach', 'push', 'move', 'the', 'red', 'blue', 'goal', 'hand', 'gripper', 'slowly',
         'towards', 'left', 'right', 'above', 'target', 'carefully', 'then', 'stop', 'near')
RSS_GOAL_MB, FIRST_QUERY_GOAL_MS = 50.0, 50.0


def instructions(count: int, tokenizer, limit: int, rng: np.random.Generator) -> List[tuple]:
    """Return `count` distinct (instruction, tokens), cycling the lengths 3..limit."""
    out: List[tuple] = []
    seen = set()
    lengths = list(range(3, limit + 1))
    while len(out) < count:
        target = lengths[len(out) % len(lengths)]
        words = list(rng.choice(WORDS, size=max(target - 2, 1)))
        while True:
            text = ' '.join(words) + f' {len(out)}'
            tokens = len(tokenizer(text)['input_ids'])
            if tokens <= target or len(words) == 1:
                break
            words.pop()
        if tokens <= limit and text not in seen:
            seen.add(text)
            out.append((text, tokens))
    return out


class Client:
    """A node spinning in a thread, with the service's query and describe clients."""

    def __init__(self) -> None:
        """Create the node and its clients."""
        import rclpy
        from lago_interfaces.srv import DescribePrior, QueryPrior
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('memory_client', context=self.context)
        self.query = self.node.create_client(QueryPrior, f'/{NODE}/query')
        self.describe = self.node.create_client(DescribePrior, f'/{NODE}/describe')
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def call(self, client, request, timeout: float = 60.0):
        """Return the reply and the round trip in ms; raise if none comes within `timeout`."""
        start = time.perf_counter()
        future = client.call_async(request)
        deadline = time.monotonic() + timeout
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.0005)
        if not future.done():
            raise RuntimeError(f'no reply from {client.srv_name} within {timeout} s')
        return future.result(), (time.perf_counter() - start) * 1e3

    def close(self) -> None:
        """Stop spinning and shut the context down."""
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self.thread.join(timeout=10)


def percentiles(values: List[float]) -> str:
    """Return 'p50 ... p99 ... max ...' of `values` in ms."""
    p50, p99 = np.percentile(values, [50, 99])
    return f'p50 {p50:6.2f}  p99 {p99:6.2f}  max {max(values):6.2f} ms'


def measure(args: argparse.Namespace) -> int:
    """Run the measurement, print the figures; return 0 if both goals are met."""
    from lago_interfaces.srv import DescribePrior, QueryPrior
    from transformers import AutoTokenizer

    from lago_ros.ros_env import configure_ros_environment, random_domain_id

    configure_ros_environment(domain_id=random_domain_id(), localhost_only=True)
    work = Path(tempfile.mkdtemp(prefix='lago_prior_memory_'))
    prior = make_prior(work, TASK, args.backbone)
    log = open(work / 'prior_service.log', 'w')
    started = time.monotonic()
    service = subprocess.Popen(
        [sys.executable, '-m', 'lago_ros.nodes.prior_service', '--ros-args',
         '-r', f'__node:={NODE}', '-p', f'prior_path:={prior}', '-p', 'diagnostics_rate:=0.0'],
        cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT)
    client = Client()
    try:
        if not client.query.wait_for_service(timeout_sec=args.timeout):
            raise RuntimeError(f'the prior service did not come up; see {work}')
        ready_s = time.monotonic() - started
        about, _ = client.call(client.describe, DescribePrior.Request())
        rng = np.random.default_rng(args.seed)
        states = rng.normal(size=(args.batch, about.obs_dim)).astype(np.float32)

        def ask(text: str):
            request = QueryPrior.Request(instruction=text, batch_size=args.batch,
                                         obs_dim=about.obs_dim,
                                         observations=states.ravel().tolist())
            reply, round_trip = client.call(client.query, request)
            if not reply.ok:
                raise RuntimeError(f'query refused: {reply.error}')
            return reply.inference_ms, round_trip

        for _ in range(5):
            ask(about.instructions[0])
        tokenizer = AutoTokenizer.from_pretrained(prior / 'tokenizer')
        texts = instructions(args.count, tokenizer, about.max_instruction_tokens, rng)
        pids = {'prior_service': service.pid}
        start_mb = rss_mb(pids)['prior_service']
        samples, first_of_length, every = [], {}, []
        for index, (text, tokens) in enumerate(texts, 1):
            served, round_trip = ask(text)
            every.append((served, round_trip))
            first_of_length.setdefault(tokens, (served, round_trip))
            if index % 100 == 0:
                samples.append((index, rss_mb(pids)['prior_service']))
        end_mb = rss_mb(pids)['prior_service']
    finally:
        client.close()
        service.terminate()
        service.wait(timeout=60)
        log.close()
    growth = end_mb - start_mb
    first_served = [served for served, _ in first_of_length.values()]
    first_trip = [trip for _, trip in first_of_length.values()]
    print(f'{args.backbone} prior for {TASK}, backend {about.backend}, batch {args.batch}, '
          f'limit {about.max_instruction_tokens} tokens; service ready after {ready_s:.1f} s '
          f'(graphs built at configure); load average {os.getloadavg()[0]:.1f}')
    print(f'{len(texts)} queries, each a new instruction, '
          f'{len(first_of_length)} token lengths ({min(first_of_length)}..'
          f'{max(first_of_length)})')
    print('RSS MiB: ' + '  '.join([f'start {start_mb:.1f}']
                                  + [f'{n}: {mb:.1f}' for n, mb in samples]))
    print(f'RSS growth {growth:+.1f} MiB (goal <= {RSS_GOAL_MB:.0f})')
    print(f'first query of a new length, service: {percentiles(first_served)} '
          f'(goal max < {FIRST_QUERY_GOAL_MS:.0f})')
    print(f'first query of a new length, round trip: {percentiles(first_trip)}')
    print(f'every new-instruction query, service:    '
          f'{percentiles([served for served, _ in every])}')
    return 0 if growth <= RSS_GOAL_MB and max(first_served) < FIRST_QUERY_GOAL_MS else 1


def main(argv: Optional[List[str]] = None) -> int:
    """Parse arguments and measure."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--count', type=int, default=1000, help='queries, each a new instruction')
    parser.add_argument('--backbone', choices=('tiny', 'minilm'), default='minilm')
    parser.add_argument('--batch', type=int, default=1, help='states per query')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--timeout', type=float, default=300.0,
                        help='seconds to wait for the service to come up')
    return measure(parser.parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
