# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Cost of the ROS graph: training SPS through bridge + prior service vs in-process PPO.

Run: ``.venv/bin/python bench/bench_graph.py`` from the repository root (PYTHONPATH=.).
1. In-process: PPO on make_vec_env with ActionPrior.predict as the prior.
2. Graph: the same run through launch/train.launch.xml (sim_bridge, prior_service, trainer in
   separate processes over local DDS); SPS from the trainer's TrainingMetrics timestamps.
3. Prior service: round-trip latency p50/p99 per batch size and throughput in states/s, next to
   the task's raw single-env step rate (how many states per second one env can produce), with
   the service's default parameters and with int8 weights on two threads.
Both SPS numbers exclude the first update (start-up). Goals: graph >= 0.9x in-process SPS, prior
throughput >= 1.0x the raw env step rate.
"""

import argparse
import os
from pathlib import Path
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Optional, Sequence

import numpy as np

from lago_ros.ros_env import configure_ros_environment, random_domain_id

ROOT = Path(__file__).resolve().parents[1]
INSTRUCTION = 'reach the goal position'


def make_prior(folder: Path, task: str, backbone: str) -> Path:
    """Save an untrained prior for `task` (tiny random BERT or the offline MiniLM)."""
    from lago_ros.envs.registry import get_task
    from lago_ros.prior.backbone import tiny_random_backbone
    from lago_ros.prior.model import ActionPrior, PriorConfig

    spec = get_task(task)
    source = str(tiny_random_backbone(folder / 'backbone')) if backbone == 'tiny' else None
    config = PriorConfig(obs_dim=spec.obs_dim, action_type=spec.action_type,
                         action_dim=spec.action_dim, task=task, backbone=source)
    return ActionPrior(config).save_pretrained(folder / 'prior')


def ppo_settings(args: argparse.Namespace) -> dict:
    """Return the PPO fields both runs share (beta is the guidance's: GuidanceConfig)."""
    return {'num_steps': args.num_steps, 'minibatch_size': args.minibatch_size,
            'update_epochs': args.update_epochs, 'log_interval': 1000}


def in_process_sps(args: argparse.Namespace, prior_dir: Path) -> float:
    """
    Steady-state SPS of PPO with the envs and the prior in this process.

    The prior runs on one torch thread, as in the prior service (see its torch_threads).
    """
    import torch

    from lago_ros.envs.registry import make_vec_env
    from lago_ros.prior.model import ActionPrior
    from lago_ros.rl.guidance import GuidanceConfig, PriorGuidance
    from lago_ros.rl.ppo import PPO, PPOConfig

    torch.set_num_threads(1)
    envs = make_vec_env(args.task, args.num_envs, 0)
    guidance = PriorGuidance(GuidanceConfig(beta=args.beta),
                             ActionPrior.from_pretrained(prior_dir).predict)
    agent = PPO(PPOConfig(**ppo_settings(args)), envs, guidance)
    agent.learn(agent.batch_size)
    start = time.perf_counter()
    agent.learn(args.updates * agent.batch_size)
    sps = (args.updates - 1) * agent.batch_size / (time.perf_counter() - start)
    envs.close()
    return sps


def graph_sps(args: argparse.Namespace, prior_dir: Path, work: Path) -> float:
    """Steady-state SPS of the same run through the launched graph."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from lago_interfaces.msg import TrainingMetrics

    config_dir = work / 'config'
    config_dir.mkdir()
    for name in ('sim_bridge.yaml', 'prior_service.yaml'):
        (config_dir / name).write_text((ROOT / 'config' / name).read_text())
    ppo = '\n'.join(f'      {k}: {v}' for k, v in ppo_settings(args).items())
    (config_dir / 'trainer.yaml').write_text(
        'trainer:\n  ros__parameters:\n    prior_chunk_size: 1024\n    eval_episodes: 1\n'
        f'    checkpoint_every: 1000\n    ppo:\n{ppo}\n')
    stamps = []
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('bench_graph', context=context)
    node.create_subscription(TrainingMetrics, '/trainer/metrics',
                             lambda m: stamps.append((time.perf_counter(), m.global_step)), 50)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    batch = args.num_envs * args.num_steps
    launcher = subprocess.Popen(
        [sys.executable, '-m', 'lago_ros.launcher', str(ROOT / 'launch' / 'train.launch.xml'),
         f'task:={args.task}', f'num_envs:={args.num_envs}',
         f'total_timesteps:={args.updates * batch}', f'beta:={args.beta}',
         f'prior_path:={prior_dir}', f'run_dir:={work / "run"}', f'config_dir:={config_dir}'],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        launcher.wait(timeout=args.timeout)
    finally:
        if launcher.poll() is None:
            launcher.send_signal(signal.SIGINT)
            launcher.wait(timeout=60)
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)
    if len(stamps) < 2:
        raise RuntimeError(f'the graph published {len(stamps)} metrics messages; expected '
                           f'{args.updates} (launcher exit code {launcher.returncode})')
    (t0, s0), (t1, s1) = stamps[0], stamps[-1]
    return (s1 - s0) / (t1 - t0)


SERVICE_SETTINGS = {
    'default: onnxruntime, float32, 1 thread': {},
    'int8, 2 threads': {'int8': 'true', 'torch_threads': '2'},
    'torch backend, float32, 1 thread': {'backend': 'torch'},
}
"""Prior service parameter overrides measured for P4: its defaults (ONNX Runtime, float32, one
thread, sized for sharing two cores with bridge and trainer), a service given the machine with
int8 weights, and the torch backend for reference."""


def prior_service_numbers(prior_dir: Path, task: str, seconds: float,
                          overrides: Optional[dict] = None) -> list:
    """(batch, p50 ms, p99 ms, states/s) of QueryPrior round trips to a prior_service process."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from lago_interfaces.srv import QueryPrior
    from lago_ros.envs.registry import get_task

    obs_dim = get_task(task).obs_dim
    service = subprocess.Popen(
        [sys.executable, '-m', 'lago_ros.nodes.prior_service', '--ros-args', '-r',
         '__node:=bench_prior', '-p', f'prior_path:={prior_dir}', '-p', 'max_batch_size:=1024']
        + [arg for name, value in (overrides or {}).items() for arg in ('-p', f'{name}:={value}')],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('bench_prior_client', context=context)
    client = node.create_client(QueryPrior, '/bench_prior/query')
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    rows = []
    try:
        if not client.wait_for_service(timeout_sec=120):
            raise RuntimeError('prior service did not become active in 120 s')
        rng = np.random.default_rng(0)
        for batch in (1, 32, 256, 1024):
            request = QueryPrior.Request(
                instruction=INSTRUCTION, batch_size=batch, obs_dim=obs_dim,
                observations=rng.normal(size=batch * obs_dim).astype(np.float32).tolist())
            latencies = []
            started = time.perf_counter()
            while len(latencies) < 5 or time.perf_counter() - started < seconds:
                t = time.perf_counter()
                future = client.call_async(request)
                executor.spin_until_future_complete(future, timeout_sec=60)
                if not future.done() or not future.result().ok:
                    raise RuntimeError(f'query of batch {batch} failed')
                latencies.append(time.perf_counter() - t)
            ms = np.asarray(latencies[1:]) * 1e3
            p50, p99 = (float(x) for x in np.percentile(ms, [50, 99]))
            rows.append((batch, p50, p99, float(batch * 1e3 / ms.mean())))
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
        service.send_signal(signal.SIGINT)
        service.wait(timeout=60)
    return rows


def env_step_rate(task: str, seconds: float) -> float:
    """Measure steps per second of one raw env with random actions."""
    from lago_ros.envs.registry import make_env

    env = make_env(task, seed=0)
    env.reset(seed=0)
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
        steps += 1
    rate = steps / (time.perf_counter() - started)
    env.close()
    return rate


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line; --quick shortens the run to a smoke-sized budget."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--task', default='reach-v3')
    parser.add_argument('--backbone', choices=('tiny', 'minilm'), default='minilm')
    parser.add_argument('--num-envs', type=int, default=4)
    parser.add_argument('--num-steps', type=int, default=256)
    parser.add_argument('--minibatch-size', type=int, default=256)
    parser.add_argument('--update-epochs', type=int, default=4)
    parser.add_argument('--updates', type=int, default=5)
    parser.add_argument('--beta', type=float, default=0.1)
    parser.add_argument('--seconds', type=float, default=3.0, help='per latency measurement')
    parser.add_argument('--timeout', type=float, default=900.0)
    parser.add_argument('--quick', action='store_true',
                        help='3 updates and 1 s per latency measurement')
    args = parser.parse_args(argv)
    if args.quick:
        args.updates, args.seconds = 3, 1.0
    return args


def measure(args: argparse.Namespace) -> dict:
    """Run all three measurements; return their numbers (prior rows: batch, p50, p99, rate)."""
    configure_ros_environment(domain_id=int(os.environ.get('ROS_DOMAIN_ID')
                                            or random_domain_id()), localhost_only=True)
    with tempfile.TemporaryDirectory(prefix='bench_graph_') as tmp:
        work = Path(tmp)
        prior_dir = make_prior(work, args.task, args.backbone)
        local = in_process_sps(args, prior_dir)
        remote = graph_sps(args, prior_dir, work)
        env_rate = env_step_rate(args.task, args.seconds)
        services = {name: prior_service_numbers(prior_dir, args.task, args.seconds, overrides)
                    for name, overrides in SERVICE_SETTINGS.items()}
    keys = ('batch', 'p50_ms', 'p99_ms', 'states_per_s')
    return {'num_envs': args.num_envs, 'backbone': args.backbone,
            'in_process_sps': local, 'graph_sps': remote, 'env_steps_per_s': env_rate,
            'prior_service': {name: [dict(zip(keys, row, strict=True)) for row in rows]
                              for name, rows in services.items()}}


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Print graph vs in-process SPS, and prior-service latency/throughput vs env step rate."""
    args = parse_args(argv)
    print(f'task {args.task}, {args.backbone} prior, {args.num_envs} envs x '
          f'{args.num_steps} steps, {args.update_epochs} epochs, beta {args.beta}, '
          f'{args.updates} updates (first excluded), load average {os.getloadavg()[0]:.1f}')
    result = measure(args)
    local, remote = result['in_process_sps'], result['graph_sps']
    print(f'in-process PPO      {local:9.1f} steps/s')
    print(f'graph (3 processes) {remote:9.1f} steps/s   ratio {remote / local:.2f}x '
          '(goal >= 0.9x)')
    env_rate = result['env_steps_per_s']
    print(f'raw env, one {args.task} env: {env_rate:9.1f} steps/s')
    print('prior service     settings  batch   p50 ms   p99 ms   states/s   vs env rate')
    for name, rows in result['prior_service'].items():
        for row in rows:
            print(f'{name:>30} {row["batch"]:5d} {row["p50_ms"]:8.2f} {row["p99_ms"]:8.2f} '
                  f'{row["states_per_s"]:10.1f}   {row["states_per_s"] / env_rate:5.2f}x '
                  '(goal >= 1.0x)')


if __name__ == '__main__':
    main()
