# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The ROS graph over real DDS, every node in its own process.

One training graph (bridge + prior service + trainer) started by lago_ros.launcher from
launch/train.launch.xml with a tiny budget and a tiny random-backbone prior: it trains, publishes
metrics, survives its prior service being killed mid-training, evaluates and checkpoints. A
separate prior service answers a client exactly like ActionPrior.predict and refuses malformed
requests while it keeps serving.
"""

import os
from pathlib import Path
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip('rclpy')
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from lago_interfaces.msg import TrainingMetrics  # noqa: E402
from lago_interfaces.srv import QueryPrior  # noqa: E402
from lago_ros.nodes.sim_bridge import EnvBackend  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OBS_DIM = 39
TINY_TRAINER = """
trainer:
  ros__parameters:
    prior_chunk_size: 48
    step_timeout: 60.0
    prior_timeout: 20.0
    checkpoint_every: 1
    eval_episodes: 2
    ppo:
      num_steps: 32
      minibatch_size: 32
      update_epochs: 1
      hidden_sizes: [16, 16]
      log_interval: 1
"""


@pytest.fixture(scope='module')
def prior_dir(tmp_path_factory):
    """A tiny random-backbone prior for reach-v3, saved like a trained one."""
    from lago_ros.prior.backbone import tiny_random_backbone
    from lago_ros.prior.model import ActionPrior, PriorConfig

    root = tmp_path_factory.mktemp('prior')
    backbone = tiny_random_backbone(root / 'backbone')
    config = PriorConfig(obs_dim=OBS_DIM, action_type='continuous', action_dim=4,
                         task='reach-v3', backbone=str(backbone), projector_hidden=16,
                         head_hidden=16)
    return ActionPrior(config).save_pretrained(root / 'prior')


@pytest.fixture(scope='module')
def ros_node():
    """A client node spinning in a background thread of the test process."""
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('graph_test_client', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    yield node
    executor.shutdown()
    node.destroy_node()
    rclpy.shutdown(context=context)
    thread.join(timeout=10)


def _call(node, client, request, timeout=60.0):
    future = client.call_async(request)
    deadline = time.monotonic() + timeout
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert future.done(), 'no reply from the prior service'
    return future.result()


@pytest.fixture(scope='module')
def prior_probe(prior_dir):
    """A prior_service process under its own name, outside any training graph."""
    proc = subprocess.Popen(
        [sys.executable, '-m', 'lago_ros.nodes.prior_service', '--ros-args',
         '-r', '__node:=prior_probe', '-p', f'prior_path:={prior_dir}',
         '-p', 'max_batch_size:=8', '-p', 'diagnostics_rate:=5.0'],
        cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield proc
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0


@pytest.fixture(scope='module')
def probe_client(ros_node, prior_probe):
    client = ros_node.create_client(QueryPrior, '/prior_probe/query')
    assert client.wait_for_service(timeout_sec=90.0), 'prior_probe never became active'
    return client


def _request(states, instruction='', instructions=()):
    return QueryPrior.Request(instruction=instruction, instructions=list(instructions),
                              batch_size=len(states), obs_dim=states.shape[1],
                              observations=states.astype(np.float32).ravel().tolist())


def test_query_matches_in_process_prediction(ros_node, probe_client, prior_dir):
    from lago_ros.prior.model import ActionPrior

    states = np.random.default_rng(1).normal(size=(5, OBS_DIM)).astype(np.float32)
    texts = ['reach the goal', 'reach the red goal', 'go up', 'reach the goal', 'stop']
    reply = _call(ros_node, probe_client, _request(states, instructions=texts))
    assert reply.ok, reply.error
    assert (reply.action_type, reply.batch_size, reply.action_dim) == ('continuous', 5, 4)
    expected = ActionPrior.from_pretrained(prior_dir).predict(states, texts)
    np.testing.assert_allclose(np.reshape(reply.mean, (5, 4)), expected.mean, atol=1e-5)
    np.testing.assert_allclose(np.reshape(reply.std, (5, 4)), expected.std, atol=1e-5)
    shared = _call(ros_node, probe_client, _request(states[:2], instruction='go up'))
    np.testing.assert_allclose(
        np.reshape(shared.mean, (2, 4)),
        ActionPrior.from_pretrained(prior_dir).predict(states[:2], ['go up']).mean, atol=1e-5)


@pytest.mark.parametrize('backend', ['onnxruntime', 'torch'])
def test_int8_service_answers_like_the_quantised_prior(ros_node, prior_dir, backend):
    from lago_ros.prior.model import ActionPrior
    from lago_ros.prior.onnx_runtime import OnnxPrior

    proc = subprocess.Popen(
        [sys.executable, '-m', 'lago_ros.nodes.prior_service', '--ros-args',
         '-r', '__node:=prior_int8', '-p', f'prior_path:={prior_dir}', '-p', 'int8:=true',
         '-p', f'backend:={backend}'],
        cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = ros_node.create_client(QueryPrior, '/prior_int8/query')
        assert client.wait_for_service(timeout_sec=90.0), 'prior_int8 never became active'
        states = np.random.default_rng(4).normal(size=(6, OBS_DIM)).astype(np.float32)
        reply = _call(ros_node, client, _request(states, instruction='reach the goal'))
        assert reply.ok, reply.error
        prior = ActionPrior.from_pretrained(prior_dir)
        quantised = (OnnxPrior(prior, int8=True) if backend == 'onnxruntime'
                     else prior.quantize_int8())
        expected = quantised.predict(states, ['reach the goal'])
        np.testing.assert_allclose(np.reshape(reply.mean, (6, 4)), expected.mean, atol=1e-5)
        exact = ActionPrior.from_pretrained(prior_dir).predict(states, ['reach the goal'])
        np.testing.assert_allclose(np.reshape(reply.mean, (6, 4)), exact.mean, atol=0.05)
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0


@pytest.mark.parametrize('mutate, message', [
    (lambda r: setattr(r, 'observations', r.observations[:-1]), 'expected 78'),
    (lambda r: setattr(r, 'obs_dim', 3), 'the prior expects 39'),
    (lambda r: setattr(r, 'observations', [float('nan')] + list(r.observations[1:])),
     'NaN or Inf in rows [0]'),
    (lambda r: setattr(r, 'instructions', ['a', 'b', 'c']), 'got 3 instructions'),
    (lambda r: setattr(r, 'instruction', ' '), 'instruction is empty'),
    (lambda r: (setattr(r, 'batch_size', 0), setattr(r, 'observations', [])), 'batch_size is 0'),
    (lambda r: (setattr(r, 'batch_size', 9), setattr(r, 'observations', [0.0] * 9 * 39)),
     'exceeds max_batch_size 8'),
])
def test_malformed_request_is_refused_and_service_keeps_serving(
        ros_node, probe_client, mutate, message):
    states = np.zeros((2, OBS_DIM), np.float32)
    bad = _request(states, instruction='reach the goal')
    mutate(bad)
    reply = _call(ros_node, probe_client, bad)
    assert not reply.ok
    assert message in reply.error
    good = _call(ros_node, probe_client, _request(states, instruction='reach the goal'))
    assert good.ok and len(good.mean) == 8


def test_diagnostics_report_state_and_latency(ros_node, probe_client):
    _call(ros_node, probe_client, _request(np.zeros((1, OBS_DIM)), instruction='go'))
    seen = []
    sub = ros_node.create_subscription(DiagnosticArray, '/diagnostics', seen.append, 10)
    deadline = time.monotonic() + 30
    status = None
    while status is None and time.monotonic() < deadline:
        time.sleep(0.1)
        status = next((s for msg in list(seen) for s in msg.status
                       if 'prior_probe' in s.name), None)
    ros_node.destroy_subscription(sub)
    assert status is not None, 'no /diagnostics from prior_probe'
    values = {kv.key: kv.value for kv in status.values}
    assert values['state'] == 'active' and values['backend'] == 'OnnxPrior'
    assert float(values['latency_p99_ms']) >= float(values['latency_p50_ms']) > 0


def test_training_graph_survives_losing_its_prior(ros_node, prior_dir, tmp_path):
    """Launch the graph; kill the prior service after two guided updates; training goes on."""
    config_dir = tmp_path / 'config'
    config_dir.mkdir()
    for name in ('sim_bridge.yaml', 'prior_service.yaml'):
        (config_dir / name).write_text((ROOT / 'config' / name).read_text())
    (config_dir / 'trainer.yaml').write_text(TINY_TRAINER)
    run_dir = tmp_path / 'run'
    metrics = []
    ros_node.create_subscription(TrainingMetrics, '/trainer/metrics', metrics.append, 50)
    launcher = subprocess.Popen(
        [sys.executable, '-m', 'lago_ros.launcher', str(ROOT / 'launch' / 'train.launch.xml'),
         'num_envs:=2', 'total_timesteps:=448', f'prior_path:={prior_dir}',
         f'run_dir:={run_dir}', f'config_dir:={config_dir}'],
        cwd=ROOT, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)
    lines, prior_pid, killed = [], None, False
    try:
        for line in launcher.stdout:
            lines.append(line)
            started = re.search(r'started prior_service \(pid (\d+)\)', line)
            if started:
                prior_pid = int(started.group(1))
            if not killed and re.search(r'update 2 \|.*guidance 1', line):
                os.kill(prior_pid, signal.SIGKILL)
                killed = True
        code = launcher.wait(timeout=150)
    finally:
        if launcher.poll() is None:
            launcher.send_signal(signal.SIGINT)
            launcher.wait(timeout=30)
    log = ''.join(lines)
    assert killed, f'training never reached a guided update 2:\n{log[-3000:]}'
    assert code == 0, log[-3000:]
    assert 'prior unavailable' in log
    guidance = [float(m.group(1)) for m in re.finditer(r'guidance (\d)', log)]
    assert guidance[:2] == [1.0, 1.0] and guidance[-1] == 0.0, guidance
    assert re.search(r'eval: success_rate=[\d.]+ mean_return=[-\d.]+ episodes=2', log)
    assert (run_dir / 'checkpoint.pt').is_file()
    deadline = time.monotonic() + 10
    while len(metrics) < 7 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [m.update for m in metrics] == list(range(1, 8))
    last = dict(zip(metrics[-1].names, metrics[-1].values, strict=True))
    assert metrics[-1].global_step == 448 and last['lago/guidance_active'] == 0.0


class _CountingBackend(EnvBackend):
    """Two fake reach-v3 envs: observation = step count; env 1's episode ends every 3 steps."""

    task, num_envs, obs_dim, action_type, action_dim = 'reach-v3', 2, OBS_DIM, 'continuous', 4

    def __init__(self):
        self.t = 0
        self.actions = []

    def _result(self, done):
        from lago_ros.nodes.sim_bridge import StepResult

        obs = np.full((2, OBS_DIM), self.t, np.float32)
        final = np.zeros_like(obs)
        final[1] = -1.0 if done else 0.0
        flags = np.array([False, done])
        return StepResult(obs, final, np.array([1.0, 2.0], np.float32), flags,
                          np.zeros(2, bool), flags.copy(), ['a', 'b'])

    def reset(self, seed):
        self.t = 0
        return self._result(False)

    def step(self, actions):
        self.actions.append(actions)
        self.t += 1
        return self._result(self.t % 3 == 0)


@pytest.fixture
def one_process_graph():
    """A bridge on a fake backend and a RemoteVecEnv sharing one executor and context."""
    from lago_ros.nodes.remote import RemoteVecEnv
    from lago_ros.nodes.sim_bridge import SimBridge

    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    bridge = SimBridge(backend=_CountingBackend(), context=context)
    client = rclpy.create_node('remote_env_test', context=context)
    executor.add_node(bridge)
    executor.add_node(client)
    envs = RemoteVecEnv(client, executor, 'reach-v3', 2, '/sim_bridge', step_timeout=2.0)
    assert envs.wait_for_bridge(30.0)
    yield envs, bridge, executor, context
    client.destroy_node()
    rclpy.shutdown(context=context)


def test_remote_vec_env_speaks_the_vector_env_api(one_process_graph):
    envs, bridge, _, _ = one_process_graph
    obs, info = envs.reset(seed=3)
    assert obs.shape == (2, OBS_DIM) and list(info['instruction']) == ['a', 'b']
    for _ in range(3):
        obs, reward, terminated, truncated, info = envs.step(np.full((2, 4), 0.5))
    assert (obs == 3).all() and reward.tolist() == [1.0, 2.0]
    assert terminated.tolist() == [False, True] and not truncated.any()
    assert info['_final_obs'].tolist() == [False, True] and (info['final_obs'][1] == -1).all()
    assert info['final_info']['_success'].tolist() == [False, True]
    assert info['final_info']['success'][1] and not info['_success'][1]
    assert bridge.backend.actions[-1].shape == (2, 4)


def test_restarted_bridge_is_detected_not_mixed_in(one_process_graph):
    from lago_ros.nodes.remote import BridgeUnavailableError
    from lago_ros.nodes.sim_bridge import SimBridge

    envs, bridge, executor, context = one_process_graph
    envs.reset()
    envs.step(np.zeros((2, 4)))
    executor.remove_node(bridge)
    bridge.destroy_node()
    restarted = SimBridge(backend=_CountingBackend(), context=context)
    executor.add_node(restarted)
    assert envs.wait_for_bridge(30.0)
    with pytest.raises(BridgeUnavailableError, match='did not answer step'):
        envs.step(np.zeros((2, 4)))
    assert restarted.backend.actions == []
    envs.reset()
    envs.step(np.zeros((2, 4)))
    assert len(restarted.backend.actions) == 1
    restarted.destroy_node()


@pytest.mark.parametrize('fields, message', [
    ({'num_envs': 3}, 'num_envs=3'),
    ({'actions': [0.0] * 7}, 'expected 8'),
    ({'actions': [float('inf')] + [0.0] * 7}, 'NaN or Inf'),
])
def test_bridge_refuses_malformed_actions(fields, message):
    from lago_interfaces.msg import VecAction
    from lago_ros.nodes.sim_bridge import ActionMessageError, decode_action

    msg = VecAction(num_envs=2, action_dim=4, actions=[0.0] * 8)
    for key, value in fields.items():
        setattr(msg, key, value)
    with pytest.raises(ActionMessageError, match=re.escape(message)):
        decode_action(msg, _CountingBackend())
