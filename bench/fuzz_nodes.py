# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Fuzz the running nodes: thousands of malformed requests and messages over real DDS.

Starts a prior service (tiny random-backbone prior) and a sim bridge (2 x reach-v3) as separate
processes and sends them --count malformed inputs: QueryPrior requests with wrong sizes, wrong
obs_dim, NaN/Inf, empty and oversized batches, empty or miscounted instructions; StepEnvs
requests and ~/action messages with wrong shapes, NaN/Inf, out-of-range values and step ids that
do not continue the sequence. Every malformed service request must get ok=False with a
non-empty error, no malformed ~/action may produce a VecStep, and both nodes must still be alive
and answer a valid request at the end. Requests with unusual but valid instructions (unknown
words, other scripts, very long text) must be answered with finite outputs. RSS (psutil) is
sampled before and after.

    PYTHONPATH=. .venv/bin/python bench/fuzz_nodes.py --count 10000
"""

import argparse
from collections import Counter
import json
import os
from pathlib import Path
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OBS_DIM, ACTION_DIM, NUM_ENVS, MAX_BATCH = 39, 4, 2, 64
PRIOR, BRIDGE = 'fuzz_prior', 'fuzz_bridge'


def prior_cases(rng: np.random.Generator) -> List[Tuple[str, Callable]]:
    """Named factories of malformed QueryPrior requests."""
    from lago_interfaces.srv import QueryPrior

    def request(batch: int, values: int, obs_dim: int = OBS_DIM, instruction: str = 'reach',
                instructions: Optional[List[str]] = None, fill: Optional[float] = None):
        data = rng.normal(size=values).astype(np.float32)
        if fill is not None and values:
            data[rng.integers(values)] = fill
        return QueryPrior.Request(instruction=instruction, instructions=instructions or [],
                                  batch_size=batch, obs_dim=obs_dim, observations=data.tolist())

    def batch() -> int:
        return int(rng.integers(1, 9))

    return [
        ('wrong_length', lambda: (lambda b: request(
            b, b * OBS_DIM + int(rng.choice([-3, -1, 1, 7]))))(batch())),
        ('wrong_obs_dim', lambda: (lambda b, d: request(b, b * d, d))(
            batch(), int(rng.choice([0, 1, 38, 40, 4096])))),
        ('nan', lambda: (lambda b: request(b, b * OBS_DIM, fill=float('nan')))(batch())),
        ('inf', lambda: (lambda b: request(b, b * OBS_DIM, fill=float(rng.choice(
            [np.inf, -np.inf]))))(batch())),
        ('empty_batch', lambda: request(0, 0)),
        ('oversized_batch', lambda: (lambda b: request(b, b * OBS_DIM))(
            int(rng.integers(MAX_BATCH + 1, 4 * MAX_BATCH)))),
        ('huge_batch_no_data', lambda: request(int(rng.choice([2 ** 31, 2 ** 32 - 1])), 0)),
        ('empty_instruction', lambda: (lambda b: request(
            b, b * OBS_DIM, instruction=str(rng.choice(['', ' ', '\t\n']))))(batch())),
        ('instruction_count', lambda: (lambda b: request(
            b, b * OBS_DIM, instructions=['reach'] * (b + int(rng.integers(1, 4)))))(batch())),
        ('empty_in_list', lambda: (lambda b: request(
            b, b * OBS_DIM, instructions=['reach'] * (b - 1) + ['']))(batch())),
    ]


def unusual_valid_request(rng: np.random.Generator):
    """Return a well-formed request whose instruction the prior never saw (must be answered)."""
    from lago_interfaces.srv import QueryPrior

    text = str(rng.choice(['zorblax the quux', 'Greif den roten Würfel', '赤いボールを押して',
                           'reach ' * 2000, '🙂 move left', 'DROP TABLE priors;']))
    b = int(rng.integers(1, 9))
    return QueryPrior.Request(instruction=text, batch_size=b, obs_dim=OBS_DIM,
                              observations=rng.normal(size=b * OBS_DIM).tolist())


def action_cases(rng: np.random.Generator) -> List[Tuple[str, Callable]]:
    """Named factories of malformed VecActions (step ids never continue the sequence)."""
    from lago_interfaces.msg import VecAction

    def action(num_envs: int = NUM_ENVS, action_dim: int = ACTION_DIM,
               values: Optional[int] = None, fill: Optional[float] = None,
               step_id: Optional[int] = None):
        count = num_envs * action_dim if values is None else values
        data = rng.uniform(-1, 1, size=count).astype(np.float32)
        if fill is not None and count:
            data[rng.integers(count)] = fill
        return VecAction(step_id=int(rng.integers(1, 2 ** 63)) if step_id is None else step_id,
                         num_envs=num_envs, action_dim=action_dim, actions=data.tolist())

    return [
        ('wrong_num_envs', lambda: action(num_envs=int(rng.choice([0, 1, 3, 1024])),
                                          step_id=0)),
        ('wrong_action_dim', lambda: action(action_dim=int(rng.choice([0, 1, 3, 5])),
                                            step_id=0)),
        ('wrong_length', lambda: action(values=int(rng.choice([0, 7, 9, 80])), step_id=0)),
        ('nan', lambda: action(fill=float('nan'), step_id=0)),
        ('inf', lambda: action(fill=float(rng.choice([np.inf, -np.inf])), step_id=0)),
        ('bad_step_id', lambda: action()),
    ]


class Peer:
    """A client node spinning in a thread: service clients, a publisher and a step counter."""

    def __init__(self) -> None:
        """Create clients for both nodes and subscribe to the bridge's VecSteps."""
        import rclpy
        from lago_interfaces.msg import VecAction, VecStep
        from lago_interfaces.srv import QueryPrior, ResetEnvs, StepEnvs
        from rclpy.executors import SingleThreadedExecutor

        from lago_ros.nodes.sim_bridge import STEP_QOS

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('fuzz_peer', context=self.context)
        self.query = self.node.create_client(QueryPrior, f'/{PRIOR}/query')
        self.step_once = self.node.create_client(StepEnvs, f'/{BRIDGE}/step_once')
        self.reset = self.node.create_client(ResetEnvs, f'/{BRIDGE}/reset')
        self.action_pub = self.node.create_publisher(VecAction, f'/{BRIDGE}/action', STEP_QOS)
        self.steps_seen = 0
        self.node.create_subscription(VecStep, f'/{BRIDGE}/step', self._on_step, STEP_QOS)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _on_step(self, msg) -> None:
        self.steps_seen += 1

    def call_many(self, client, requests: list, timeout: float = 60.0) -> list:
        """Send requests concurrently; return the replies (None where none came in time)."""
        futures = [client.call_async(request) for request in requests]
        deadline = time.monotonic() + timeout
        while not all(f.done() for f in futures) and time.monotonic() < deadline:
            time.sleep(0.002)
        return [f.result() if f.done() else None for f in futures]

    def close(self) -> None:
        """Stop spinning and shut the context down."""
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self.thread.join(timeout=10)


def rss_mb(processes: Dict[str, subprocess.Popen]) -> Dict[str, float]:
    """Resident set size in MiB of each process."""
    import psutil

    return {name: round(psutil.Process(p.pid).memory_info().rss / 2 ** 20, 1)
            for name, p in processes.items()}


def start_nodes(prior: Path, log_dir: Path) -> Dict[str, subprocess.Popen]:
    """Start the prior service and the sim bridge; their logs go to log_dir."""
    commands = {
        PRIOR: ['prior_service', '-r', f'__node:={PRIOR}', '-p', f'prior_path:={prior}',
                '-p', f'max_batch_size:={MAX_BATCH}'],
        BRIDGE: ['sim_bridge', '-r', f'__node:={BRIDGE}', '-p', f'num_envs:={NUM_ENVS}',
                 '-p', 'max_episode_steps:=50', '-p', 'joint_state_rate:=0.0'],
    }
    processes = {}
    for name, (module, *ros_args) in commands.items():
        with open(log_dir / f'{name}.log', 'w') as log:
            processes[name] = subprocess.Popen(
                [sys.executable, '-m', f'lago_ros.nodes.{module}', '--ros-args', *ros_args],
                cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT)
    return processes


def check_replies(replies: list, names: List[str], tally: Counter) -> List[str]:
    """Count refusals per case; return descriptions of replies that were not clean refusals."""
    problems = []
    for name, reply in zip(names, replies, strict=True):
        if reply is None:
            problems.append(f'{name}: no reply')
        elif reply.ok or not reply.error.strip():
            problems.append(f'{name}: ok={reply.ok} error={reply.error!r}')
        else:
            tally[name] += 1
    return problems


def valid_query_ok(peer: Peer) -> bool:
    """Whether the prior service answers one well-formed request with finite outputs."""
    from lago_interfaces.srv import QueryPrior

    request = QueryPrior.Request(instruction='reach the goal', batch_size=2, obs_dim=OBS_DIM,
                                 observations=[0.1] * (2 * OBS_DIM))
    reply = peer.call_many(peer.query, [request])[0]
    return bool(reply is not None and reply.ok and len(reply.mean) == 2 * ACTION_DIM
                and np.isfinite(reply.mean).all())


def valid_step_ok(peer: Peer) -> bool:
    """Whether the bridge resets and takes one well-formed step."""
    from lago_interfaces.msg import VecAction
    from lago_interfaces.srv import ResetEnvs, StepEnvs

    reset = peer.call_many(peer.reset, [ResetEnvs.Request()])[0]
    action = VecAction(step_id=0, num_envs=NUM_ENVS, action_dim=ACTION_DIM,
                       actions=[0.0] * (NUM_ENVS * ACTION_DIM))
    reply = peer.call_many(peer.step_once, [StepEnvs.Request(action=action)])[0]
    return bool(reset is not None and reset.ok and reply is not None and reply.ok
                and reply.step.step_id == reset.step.step_id + 1)


def fuzz(args: argparse.Namespace) -> dict:
    """Run the whole campaign and return the report."""
    from lago_interfaces.srv import StepEnvs

    from lago_ros.ros_env import configure_ros_environment, random_domain_id
    from bench.soak import make_prior

    configure_ros_environment(domain_id=random_domain_id(), localhost_only=True)
    work = Path(tempfile.mkdtemp(prefix='lago_fuzz_'))
    processes = start_nodes(make_prior(work), work)
    peer = Peer()
    rng = np.random.default_rng(args.seed)
    report: dict = {'count': args.count, 'work': str(work)}
    try:
        if not (peer.query.wait_for_service(timeout_sec=120)
                and peer.step_once.wait_for_service(timeout_sec=120)):
            raise RuntimeError(f'nodes did not come up; see the logs in {work}')
        for _ in range(5):  # warm up (model, caches) before the baseline RSS
            valid_query_ok(peer)
            valid_step_ok(peer)
        report['rss_start_mb'] = rss_mb(processes)
        n_prior, n_step = int(args.count * 0.5), int(args.count * 0.3)
        n_topic = args.count - n_prior - n_step
        refused: Counter = Counter()
        problems: List[str] = []
        start = time.monotonic()
        for cases, client, total, wrap in (
                (prior_cases(rng), peer.query, n_prior, lambda r: r),
                (action_cases(rng), peer.step_once, n_step,
                 lambda a: StepEnvs.Request(action=a))):
            for first in range(0, total, args.window):
                picks = rng.integers(len(cases), size=min(args.window, total - first))
                names = [cases[i][0] for i in picks]
                requests = [wrap(cases[i][1]()) for i in picks]
                kind = 'prior' if client is peer.query else 'bridge'
                problems += check_replies(peer.call_many(client, requests),
                                          [f'{kind}/{n}' for n in names], refused)
        steps_before = peer.steps_seen
        topic_sent: Counter = Counter()
        topic_cases = action_cases(rng)
        for i in range(n_topic):
            name, make = topic_cases[int(rng.integers(len(topic_cases)))]
            peer.action_pub.publish(make())
            topic_sent[name] += 1
            if i % 100 == 99:
                time.sleep(0.05)  # let the bridge drain its reliable queue
        time.sleep(2.0)
        report['vec_steps_from_malformed_topic_messages'] = peer.steps_seen - steps_before
        unusual = [unusual_valid_request(rng) for _ in range(args.unusual)]
        answers = [reply for first in range(0, len(unusual), args.window)
                   for reply in peer.call_many(peer.query, unusual[first:first + args.window])]
        report['unusual_valid_answered'] = sum(
            bool(a is not None and a.ok and np.isfinite(a.mean).all()) for a in answers)
        report['unusual_valid_sent'] = len(unusual)
        report['seconds'] = round(time.monotonic() - start, 1)
        report['alive'] = {name: p.poll() is None for name, p in processes.items()}
        report['valid_query_after'] = valid_query_ok(peer)
        report['valid_step_after'] = valid_step_ok(peer)
        report['rss_end_mb'] = rss_mb(processes)
        report['refused'] = dict(sorted(refused.items()))
        report['topic_sent'] = dict(sorted(topic_sent.items()))
        report['malformed_sent'] = n_prior + n_step + n_topic
        report['service_problems'] = problems[:20]
        report['service_problem_count'] = len(problems)
    finally:
        peer.close()
        for p in processes.values():
            p.terminate()
            p.wait(timeout=30)
    return report


def main(argv: Optional[List[str]] = None) -> int:
    """Parse arguments, fuzz, print the numbers; exit 1 if any check failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--count', type=int, default=10000, help='malformed inputs in all')
    parser.add_argument('--unusual', type=int, default=60,
                        help='extra well-formed requests with unusual instructions')
    parser.add_argument('--window', type=int, default=8,
                        help='requests in flight at once (services queue 10 by default)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', default='', help='also write the report as JSON here')
    options = parser.parse_args(argv)
    report = fuzz(options)
    if options.out:
        Path(options.out).write_text(json.dumps(report, indent=1))
    if report.get('seconds'):
        print(f"malformed inputs sent: {report['malformed_sent']} in {report['seconds']} s "
              '(50% QueryPrior, 30% StepEnvs, 20% ~/action messages)')
        print('service replies that were not ok=False with an error: '
              f"{report['service_problem_count']} {report['service_problems'][:3]}")
        print('VecSteps caused by malformed ~/action messages: '
              f"{report['vec_steps_from_malformed_topic_messages']}")
        print(f"unusual but valid instructions answered: {report['unusual_valid_answered']}/"
              f"{report['unusual_valid_sent']}")
        print(f"alive afterwards: {report['alive']}; valid query ok: "
              f"{report['valid_query_after']}; valid step ok: {report['valid_step_after']}")
        for name in report['rss_start_mb']:
            a, b = report['rss_start_mb'][name], report['rss_end_mb'][name]
            print(f'RSS {name}: {a:.1f} -> {b:.1f} MiB ({b - a:+.1f})')
        print('service requests refused per case:', json.dumps(report['refused']))
        print('~/action messages sent per case:', json.dumps(report['topic_sent']))
    else:
        print(json.dumps(report, indent=1))
    ok = (report.get('service_problem_count') == 0
          and report.get('vec_steps_from_malformed_topic_messages') == 0
          and all(report.get('alive', {'x': False}).values())
          and report.get('valid_query_after') and report.get('valid_step_after')
          and report.get('unusual_valid_answered') == report.get('unusual_valid_sent'))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
