# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Soak test of the training graph: hours of launcher-driven training, counted and memory-sampled.

Starts `lago_ros.launcher` on launch/train.launch.xml (sim bridge + prior service + trainer, a
tiny random-backbone prior, a few envs) and keeps it running for --duration seconds; a run that
ends its budget early is followed by a new one with a fresh run_dir. A counting node in this
process listens to /sim_bridge/action, /sim_bridge/step, /trainer/metrics and /diagnostics:

- every VecAction sent and VecStep received, and the step-id sequence: within one bridge
  session each step must carry the id of an action and continue the previous id by one (a
  VecStep that answers no action is a reset); a repeated id is a duplicate, a skipped one a gap;
- every prior query answered or refused (the prior service's /diagnostics counters);
- RSS of every node process (psutil) every --sample-every seconds.

Writes a JSON report (--out) and a PNG memory curve (--png) and prints a summary.

    PYTHONPATH=. .venv/bin/python bench/soak.py --duration 1800
"""

import argparse
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
NODES = ('sim_bridge', 'prior_service', 'trainer')
STARTED = re.compile(r'\[launcher\] started (\w+) \(pid (\d+)\)')
SOAK_TRAINER = """
trainer:
  ros__parameters:
    prior_chunk_size: 256
    step_timeout: 60.0
    prior_timeout: 60.0
    checkpoint_every: 10
    eval_episodes: 2
    ppo:
      num_steps: {num_steps}
      minibatch_size: 64
      update_epochs: 2
      hidden_sizes: [64, 64]
      log_interval: 10
      beta: 0.1
      beta_schedule: constant
"""


@dataclass
class SequenceCounter:
    """Counts VecAction/VecStep traffic and checks the step-id sequence of each bridge session."""

    actions: int = 0
    steps: int = 0
    resets: int = 0
    gaps: int = 0
    duplicates: int = 0
    unanswered: int = 0
    metrics: int = 0
    guided_updates: int = 0
    last_global_step: int = 0
    prior: Dict[str, Dict[str, int]] = field(default_factory=dict)
    _pending: set = field(default_factory=set)
    _early: set = field(default_factory=set)
    _seen: set = field(default_factory=set)
    _last_id: Optional[int] = None
    _session: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_action(self, msg) -> None:
        """Remember the id the bridge must answer."""
        with self.lock:
            self.actions += 1
            step_id = int(msg.step_id)
            if step_id in self._early:
                self._early.discard(step_id)
            else:
                self._pending.add(step_id)

    def on_step(self, msg) -> None:
        """Classify a VecStep: a step answering an action, or a reset starting a new sequence."""
        step_id = int(msg.step_id)
        with self.lock:
            self.steps += 1
            if step_id in self._seen:
                self.duplicates += 1
                return
            self._seen.add(step_id)
            if step_id in self._pending:
                self._pending.discard(step_id)
                if self._last_id is not None and step_id != self._last_id + 1:
                    self.gaps += 1
            elif self._last_id is not None and step_id == self._last_id + 1:
                self._early.add(step_id)  # its VecAction has not reached us yet
            else:
                self.resets += 1
            self._last_id = step_id

    def on_metrics(self, msg) -> None:
        """Count updates and the guided ones."""
        values = dict(zip(msg.names, msg.values, strict=True))
        with self.lock:
            self.metrics += 1
            self.guided_updates += int(values.get('lago/guidance_active', 0.0) > 0)
            self.last_global_step = int(msg.global_step)

    def on_diagnostics(self, msg) -> None:
        """Keep the latest request/error counters of each prior service (by status name)."""
        for status in msg.status:
            if not status.name.endswith(': prior'):
                continue
            values = {kv.key: kv.value for kv in status.values}
            with self.lock:
                self.prior[f'{self._session}:{status.name}'] = {
                    'requests': int(values.get('requests', 0)),
                    'errors': int(values.get('errors', 0))}

    def new_session(self) -> None:
        """Start a new launch (new bridge): actions still pending were never answered."""
        with self.lock:
            self.unanswered += len(self._pending)
            self._pending.clear()
            self._early.clear()
            self._seen.clear()
            self._last_id = None
            self._session += 1

    def snapshot(self) -> dict:
        """Return the counters as plain values."""
        with self.lock:
            return {'vec_actions_sent': self.actions, 'vec_steps_received': self.steps,
                    'resets': self.resets, 'step_id_gaps': self.gaps,
                    'step_id_duplicates': self.duplicates,
                    'actions_pending': len(self._pending), 'unanswered_actions': self.unanswered,
                    'metrics_updates': self.metrics, 'guided_updates': self.guided_updates}


class CountingNode:
    """An rclpy node in a background thread feeding a SequenceCounter."""

    def __init__(self, counter: SequenceCounter) -> None:
        """Subscribe to the graph's topics (reliable, deep queues so nothing is dropped)."""
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from lago_interfaces.msg import TrainingMetrics, VecAction, VecStep
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        qos = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('soak_counter', context=self.context)
        self.node.create_subscription(VecAction, '/sim_bridge/action', counter.on_action, qos)
        self.node.create_subscription(VecStep, '/sim_bridge/step', counter.on_step, qos)
        self.node.create_subscription(TrainingMetrics, '/trainer/metrics', counter.on_metrics,
                                      qos)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', counter.on_diagnostics,
                                      qos)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop spinning and shut the context down."""
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self.thread.join(timeout=10)


def make_prior(folder: Path) -> Path:
    """Save a tiny random-backbone reach-v3 prior (the soak measures the graph, not the model)."""
    from lago_ros.prior.backbone import tiny_random_backbone
    from lago_ros.prior.model import ActionPrior, PriorConfig

    backbone = tiny_random_backbone(folder / 'backbone')
    config = PriorConfig(obs_dim=39, action_type='continuous', action_dim=4, task='reach-v3',
                         backbone=str(backbone), projector_hidden=16, head_hidden=16)
    return ActionPrior(config).save_pretrained(folder / 'prior')


class LaunchRun:
    """One launcher process; a reader thread collects node pids and the log tail."""

    def __init__(self, index: int, work: Path, args: argparse.Namespace, prior: Path,
                 config_dir: Path) -> None:
        """Start the launcher with a fresh run_dir."""
        self.index = index
        self.pids: Dict[str, int] = {}
        self.tail: List[str] = []
        self.run_dir = work / f'run{index}'
        self.process = subprocess.Popen(
            [sys.executable, '-m', 'lago_ros.launcher', str(ROOT / 'launch/train.launch.xml'),
             f'num_envs:={args.num_envs}', f'total_timesteps:={args.total_timesteps}',
             f'prior_path:={prior}', f'run_dir:={self.run_dir}', f'config_dir:={config_dir}',
             f'seed:={index}'],
            cwd=ROOT, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        with open(self.run_dir.with_suffix('.log'), 'w') as log:
            for line in self.process.stdout:
                log.write(line)
                self._on_line(line)

    def _on_line(self, line: str) -> None:
        match = STARTED.search(line)
        if match:
            self.pids[match.group(1)] = int(match.group(2))
        self.tail = (self.tail + [line])[-40:]

    def stop(self) -> int:
        """SIGINT the launcher (the trainer checkpoints) and return its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def rss_mb(pids: Dict[str, int]) -> Dict[str, Optional[float]]:
    """Resident set size in MiB of each named process (None once it is gone)."""
    import psutil

    out: Dict[str, Optional[float]] = {}
    for name, pid in pids.items():
        try:
            out[name] = psutil.Process(pid).memory_info().rss / 2 ** 20
        except psutil.Error:
            out[name] = None
    return out


def growth(samples: List[dict], name: str, warmup: float) -> dict:
    """
    First, last and max RSS of one node in each run, and the RSS slope after the warm-up.

    The slope (MiB/h, least squares) only uses samples taken `warmup` s or more after the run
    started, so loading models and filling buffers does not read as a leak.
    """
    import numpy as np

    per_run: Dict[int, list] = {}
    for sample in samples:
        value = sample['rss_mb'].get(name)
        if value is not None:
            per_run.setdefault(sample['run'], []).append((sample['t'], value))
    result = {}
    for run, points in per_run.items():
        t, v = np.array(points).T
        steady = t >= t[0] + warmup
        slope = (float(np.polyfit(t[steady], v[steady], 1)[0] * 3600)
                 if steady.sum() >= 3 else float('nan'))
        result[str(run)] = {
            'first_mb': round(float(v[0]), 1), 'last_mb': round(float(v[-1]), 1),
            'max_mb': round(float(v.max()), 1),
            'after_warmup_first_mb': round(float(v[steady][0]), 1) if steady.any() else None,
            'slope_mb_per_hour': round(slope, 2), 'samples': len(points)}
    return result


def plot(samples: List[dict], path: Path, title: str) -> None:
    """Draw RSS over time per node; restarted runs continue the same line."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name in NODES + ('soak_counter',):
        points = [(s['t'] / 60, s['rss_mb'][name]) for s in samples
                  if s['rss_mb'].get(name) is not None]
        if points:
            ax.plot(*zip(*points, strict=True), label=name)
    ax.set_xlabel('minutes')
    ax.set_ylabel('RSS (MiB)')
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def soak(args: argparse.Namespace) -> dict:
    """Run the graph for args.duration seconds and return the report."""
    from lago_ros.ros_env import configure_ros_environment, random_domain_id

    configure_ros_environment(domain_id=random_domain_id(), localhost_only=True)
    work = Path(args.work or tempfile.mkdtemp(prefix='lago_soak_'))
    config_dir = work / 'config'
    config_dir.mkdir(parents=True, exist_ok=True)
    for name in ('sim_bridge.yaml', 'prior_service.yaml'):
        (config_dir / name).write_text((ROOT / 'config' / name).read_text())
    (config_dir / 'trainer.yaml').write_text(SOAK_TRAINER.format(num_steps=args.num_steps))
    prior = make_prior(work)
    counter = SequenceCounter()
    counting = CountingNode(counter)
    samples: List[dict] = []
    runs: List[dict] = []
    start = time.monotonic()
    index = 0
    try:
        while time.monotonic() - start < args.duration:
            counter.new_session()
            run = LaunchRun(index, work, args, prior, config_dir)
            next_sample = time.monotonic()
            while run.process.poll() is None and time.monotonic() - start < args.duration:
                if time.monotonic() >= next_sample:
                    pids = dict(run.pids, launcher=run.process.pid, soak_counter=os.getpid())
                    samples.append({'t': round(time.monotonic() - start, 1), 'run': index,
                                    'rss_mb': rss_mb(pids), **counter.snapshot()})
                    next_sample += args.sample_every
                time.sleep(0.5)
            ended_itself = run.process.poll() is not None
            code = run.stop()
            runs.append({'run': index, 'run_dir': str(run.run_dir), 'exit_code': code,
                         'ended_by_budget': ended_itself, 'pids': run.pids,
                         'log_tail': run.tail[-8:] if code else run.tail[-2:]})
            print(f'run {index}: exit code {code} after {time.monotonic() - start:.0f} s',
                  flush=True)
            if code != 0:
                break
            index += 1
        time.sleep(2.0)
        counter.new_session()
    finally:
        counting.close()
    elapsed = time.monotonic() - start
    counts = counter.snapshot()
    prior_counts = {'requests': sum(p['requests'] for p in counter.prior.values()),
                    'errors': sum(p['errors'] for p in counter.prior.values())}
    memory = {name: growth(samples, name, args.warmup)
              for name in NODES + ('launcher', 'soak_counter')}
    report = {'duration_s': round(elapsed, 1), 'requested_duration_s': args.duration,
              'task': 'reach-v3', 'num_envs': args.num_envs, 'num_steps': args.num_steps,
              'warmup_s': args.warmup,
              'load_average': os.getloadavg(), 'runs': runs, 'counts': counts,
              'prior_queries': prior_counts, 'memory': memory, 'samples': samples}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    plot(samples, Path(args.png),
         f'soak: {elapsed / 60:.0f} min, {len(runs)} run(s), {args.num_envs} x reach-v3')
    return report


def summary(report: dict) -> str:
    """Return the human-readable lines of a report."""
    c, p = report['counts'], report['prior_queries']
    lines = [f"soak {report['duration_s']:.0f} s ({len(report['runs'])} run(s), exit codes "
             f"{[r['exit_code'] for r in report['runs']]}), load average "
             f"{report['load_average'][0]:.1f}",
             f"VecAction sent {c['vec_actions_sent']}, VecStep received "
             f"{c['vec_steps_received']} (resets {c['resets']}), step-id gaps "
             f"{c['step_id_gaps']}, duplicates {c['step_id_duplicates']}, unanswered "
             f"{c['unanswered_actions']}",
             f"updates {c['metrics_updates']} (guided {c['guided_updates']}), prior queries "
             f"answered {p['requests'] - p['errors']}, refused {p['errors']}",
             f"RSS MiB per run (first -> last, max, MiB/h after {report['warmup_s']:.0f} s):"]
    for name, per_run in report['memory'].items():
        for run, g in per_run.items():
            lines.append(f"  {name:14s} run {run}: {g['first_mb']:7.1f} -> {g['last_mb']:7.1f}"
                         f"  max {g['max_mb']:7.1f}  slope {g['slope_mb_per_hour']:+7.2f}")
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    """Parse arguments, soak, print the summary; exit 1 on sequence errors or a failed run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--duration', type=float, default=3600.0, help='seconds to soak')
    parser.add_argument('--num-envs', type=int, default=2)
    parser.add_argument('--num-steps', type=int, default=128, help='vector steps per rollout')
    parser.add_argument('--total-timesteps', type=int, default=2_000_000,
                        help='budget of one run; a finished run is followed by a new one')
    parser.add_argument('--sample-every', type=float, default=10.0, help='s between RSS samples')
    parser.add_argument('--warmup', type=float, default=300.0,
                        help='s after a run starts that the RSS slope ignores')
    parser.add_argument('--work', default='', help='folder for prior and runs (default: temp)')
    parser.add_argument('--out', default='runs/soak/soak.json')
    parser.add_argument('--png', default='docs/images/soak_memory.png')
    report = soak(parser.parse_args(argv))
    print(summary(report), flush=True)
    c = report['counts']
    failed = any(r['exit_code'] != 0 for r in report['runs'])
    return int(failed or c['step_id_gaps'] > 0 or c['step_id_duplicates'] > 0)


if __name__ == '__main__':
    sys.exit(main())
