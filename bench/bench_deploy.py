# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Deploy path speed: ONNX vs torch eager at batch 1, and observation->command latency.

1. Policy inference for one observation: the exported ONNX graph (onnxruntime, one thread) vs
   the torch path the trainer uses (normaliser + ActorCritic.deterministic_action, eager).
   Goal: ONNX >= 5x faster.
2. Latency from publishing a Float32MultiArray observation to receiving the command, through the
   deploy node (trigger 'observation') vs a bare rclpy echo node, both in one second process,
   measured in the same run. Goal: deploy <= 2x the bare round trip.

Run: `.venv/bin/python -m bench.bench_deploy [--quick]`.
"""

import argparse
import os
from pathlib import Path
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PEER = """
import sys
import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from std_msgs.msg import Float32MultiArray, Float64MultiArray
from lago_ros.nodes.deploy import COMMAND_QOS, DeployNode

rclpy.init()
echo = rclpy.create_node('bench_echo')
pub = echo.create_publisher(Float64MultiArray, '/bench/echo_out', COMMAND_QOS)
echo.create_subscription(Float32MultiArray, '/bench/echo_in',
                         lambda m: pub.publish(Float64MultiArray(data=list(m.data[:4]))),
                         qos_profile_sensor_data)
params = {'policy_path': sys.argv[1], 'trigger': 'observation', 'observation_topic':
          '/bench/obs', 'command_topic': '/bench/cmd', 'observation_timeout_s': 60.0}
deploy = DeployNode(parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
deploy.trigger_configure()
deploy.trigger_activate()
executor = SingleThreadedExecutor()
executor.add_node(echo)
executor.add_node(deploy)
print('ready', flush=True)
try:
    executor.spin()
except (KeyboardInterrupt, ExternalShutdownException):
    pass
"""


def time_calls(fn, n: int) -> List[float]:
    """Per-call wall times in microseconds (after a short warm-up)."""
    for _ in range(min(50, n)):
        fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e6)
    return times


def inference(policy_path: Path, agent, n: int) -> Dict[str, float]:
    """Print and return batch-1 inference times (us) of ONNX and torch eager."""
    import torch

    from lago_ros.export.onnx_policy import OnnxPolicy

    torch.set_num_threads(1)
    onnx_policy = OnnxPolicy(policy_path)
    obs = np.random.default_rng(0).normal(size=(1, onnx_policy.obs_dim)).astype(np.float32)
    feed = {'observation': obs}
    onnx_us = statistics.median(time_calls(lambda: onnx_policy.act(obs), n))
    run_us = statistics.median(time_calls(lambda: onnx_policy.session.run(['action'], feed), n))
    torch_us = statistics.median(time_calls(lambda: agent.predict(obs), n))
    print(f'inference batch 1 (median of {n}): OnnxPolicy.act {onnx_us:.1f} us (with input '
          f'checks), bare session.run {run_us:.1f} us, torch eager {torch_us:.1f} us; speed-up '
          f'{torch_us / onnx_us:.1f}x (act) / {torch_us / run_us:.1f}x (run) (goal >= 5x)')
    return {'onnx_act_us': onnx_us, 'onnx_run_us': run_us, 'torch_us': torch_us}


def round_trips(node, executor, pub, out: list, obs: np.ndarray, n: int) -> List[float]:
    """Publish `obs` n times, each after the previous reply; return latencies in microseconds."""
    from std_msgs.msg import Float32MultiArray

    times = []
    message = Float32MultiArray(data=obs.tolist())
    for _ in range(n):
        count = len(out)
        start = time.perf_counter()
        pub.publish(message)
        deadline = start + 2.0
        while len(out) == count and time.perf_counter() < deadline:
            executor.spin_once(timeout_sec=0.0005)
        if len(out) > count:
            times.append((time.perf_counter() - start) * 1e6)
    return times


def latency(policy_path: Path, n: int) -> Dict[str, float]:
    """Print and return the obs->command times (us) through the deploy node and a bare echo."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from std_msgs.msg import Float32MultiArray, Float64MultiArray

    from lago_ros.nodes.deploy import COMMAND_QOS

    peer = subprocess.Popen([sys.executable, '-c', PEER, str(policy_path)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    assert peer.stdout.readline().strip() == 'ready', 'the bench peer did not start'
    rclpy.init()
    node = rclpy.create_node('bench_client')
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    replies = {'echo': [], 'deploy': []}
    pubs = {'echo': node.create_publisher(Float32MultiArray, '/bench/echo_in', 10),
            'deploy': node.create_publisher(Float32MultiArray, '/bench/obs', 10)}
    node.create_subscription(Float64MultiArray, '/bench/echo_out', replies['echo'].append,
                             COMMAND_QOS)
    node.create_subscription(Float64MultiArray, '/bench/cmd', replies['deploy'].append,
                             COMMAND_QOS)
    obs = np.random.default_rng(0).normal(size=39).astype(np.float32)
    try:
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline and not all(
                p.get_subscription_count() for p in pubs.values()):
            executor.spin_once(timeout_sec=0.05)
        results = {}
        for name in ('echo', 'deploy', 'echo', 'deploy'):  # interleaved: same load for both
            round_trips(node, executor, pubs[name], replies[name], obs, 20)
            results.setdefault(name, []).extend(
                round_trips(node, executor, pubs[name], replies[name], obs, n // 2))
        echo, deploy = (statistics.median(results[k]) for k in ('echo', 'deploy'))
        p99 = {k: float(np.percentile(v, 99)) for k, v in results.items()}
        print(f'obs->command latency (median of {len(results["deploy"])}): deploy node '
              f'{deploy:.0f} us (p99 {p99["deploy"]:.0f}), bare rclpy round trip {echo:.0f} us '
              f'(p99 {p99["echo"]:.0f}), ratio {deploy / echo:.2f}x (goal <= 2x)')
        return {'deploy_us': deploy, 'echo_us': echo, 'deploy_p99_us': p99['deploy'],
                'echo_p99_us': p99['echo']}
    finally:
        peer.terminate()
        peer.wait(timeout=10)
        node.destroy_node()
        rclpy.shutdown()


def measure(quick: bool = False) -> Dict[str, float]:
    """Export a reach-v3-sized policy to a temp folder; print and return both measurements."""
    from lago_ros.ros_env import configure_ros_environment, random_domain_id

    configure_ros_environment(domain_id=int(os.environ.get('ROS_DOMAIN_ID') or
                                            random_domain_id()), localhost_only=True)
    sys.path.insert(0, str(ROOT / 'test'))
    from test_onnx_export import export_agent, make_agent

    with tempfile.TemporaryDirectory() as folder:
        agent = make_agent('reach-v3', hidden_sizes=(64, 64))  # PPOConfig's default size
        agent.policy.eval()
        policy_path = export_agent(agent, 'reach-v3', Path(folder))
        result = inference(policy_path, agent, 500 if quick else 5000)
        result.update(latency(policy_path, 200 if quick else 1000))
    return result


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parse the command line and run both measurements."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='fewer repetitions')
    measure(parser.parse_args(argv).quick)
    return 0


if __name__ == '__main__':
    sys.exit(main())
