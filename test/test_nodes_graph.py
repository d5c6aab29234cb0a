# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The ROS graph over real DDS, node by node.

A trainer process trains on a bridge in this process whose steps the test can hold, against a
prior service process that is SIGKILLed and later restarted while training is held: guidance
goes off exactly at the update after the death and comes back once a prior answers again; Ctrl-C
writes the checkpoint. A separate prior service answers a client exactly like
ActionPrior.predict (also int8, with quantised operators in what it runs) and refuses malformed
requests while it keeps serving. The launch file's whole graph runs in test_main_job.py.
"""

import os
from pathlib import Path
import re
import signal
import subprocess
import sys
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray
from lago_interfaces.msg import TrainingMetrics
from lago_interfaces.srv import QueryPrior
from node_process import NodeProcess, wait_until
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor

from lago_ros.nodes.sim_bridge import EnvBackend

pytestmark = pytest.mark.ros

ROOT = Path(__file__).resolve().parents[1]
OBS_DIM = 39


@pytest.fixture(scope='module')
def prior_dir(tmp_path_factory):
    """Save a tiny random-backbone prior for reach-v3 like a trained one."""
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
    """Spin a client node in a background thread of the test process."""
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


def _call(node, client, request, timeout=120.0):
    future = client.call_async(request)
    deadline = time.monotonic() + timeout
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert future.done(), 'no reply from the prior service'
    return future.result()


@pytest.fixture(scope='module')
def prior_probe(prior_dir):
    """Start a prior_service process under its own name, outside any training graph."""
    proc = subprocess.Popen(
        [sys.executable, '-m', 'lago_ros.nodes.prior_service', '--ros-args',
         '-r', '__node:=prior_probe', '-p', f'prior_path:={prior_dir}',
         '-p', 'max_batch_size:=8', '-p', 'diagnostics_rate:=5.0'],
        cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield proc
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 0


@pytest.fixture(scope='module')
def probe_client(ros_node, prior_probe):
    client = ros_node.create_client(QueryPrior, '/prior_probe/query')
    assert client.wait_for_service(timeout_sec=300.0), 'prior_probe never became active'
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
        assert client.wait_for_service(timeout_sec=300.0), 'prior_int8 never became active'
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
        # A service that silently served the float prior would answer exactly like it.
        assert np.abs(np.reshape(reply.mean, (6, 4)) - exact.mean).max() > 1e-6
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 0


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
    deadline = time.monotonic() + 120
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


class _GatedBackend(EnvBackend):
    """
    Two fake reach-v3 envs (4-step episodes) whose steps the test can hold.

    The trainer waits for every step, so holding one pauses training at a known point: the test
    changes the graph there (kills or restarts the prior) and lets training go on.
    """

    task, num_envs, obs_dim, action_type, action_dim = 'reach-v3', 2, OBS_DIM, 'continuous', 4

    def __init__(self):
        self.t = self.steps = 0
        self._hold_at = None
        self.held, self._go = threading.Event(), threading.Event()

    def hold(self, step):
        """Hold the `step`-th vector step (counted from the start) until `release()`."""
        self._hold_at = step
        self.held.clear()
        self._go.clear()

    def release(self):
        self._go.set()

    def _result(self, done):
        from lago_ros.nodes.sim_bridge import StepResult

        obs = np.full((2, OBS_DIM), self.t % 4, np.float32)
        flags = np.full(2, done)
        return StepResult(obs, np.full_like(obs, 4.0) if done else np.zeros_like(obs),
                          np.array([1.0, 0.5], np.float32), flags, np.zeros(2, bool),
                          flags.copy(), ['reach the goal'] * 2)

    def reset(self, seed):
        self.t = 0
        return self._result(False)

    def step(self, actions):
        self.steps += 1
        if self.steps == self._hold_at:
            self.held.set()
            self._go.wait(timeout=600)
        self.t += 1
        return self._result(self.t % 4 == 0)


ROLLOUT = 32  # vector steps per update (ppo.num_steps)


def _graph_trainer(bridge, prior, run_dir):
    """Start a trainer on `bridge` and `prior`: guided (constant beta), never checkpointing."""
    return NodeProcess(
        'trainer', '-p', f'bridge:={bridge}', '-p', f'prior_service:={prior}',
        '-p', 'task:=reach-v3', '-p', 'num_envs:=2', '-p', f'total_timesteps:={64 * 100000}',
        '-p', f'run_dir:={run_dir}', '-p', 'prior_chunk_size:=512', '-p', 'prior_timeout:=20.0',
        '-p', 'step_timeout:=600.0', '-p', 'checkpoint_every:=100000',
        '-p', f'ppo.num_steps:={ROLLOUT}', '-p', 'ppo.minibatch_size:=32',
        '-p', 'ppo.update_epochs:=1', '-p', 'ppo.hidden_sizes:=[16]', '-p', 'ppo.log_interval:=1',
        '-p', 'ppo.beta:=0.1', '-p', 'ppo.beta_schedule:=constant')


def _prior_process(prior_dir, name):
    return NodeProcess('prior_service', '-r', f'__node:={name}', '-p', f'prior_path:={prior_dir}',
                       '-p', 'backend:=torch', '-p', 'diagnostics_rate:=0.0')  # quick start


def _answers(node, client):
    """Whether the service answers a query now (the test's own view of it)."""
    if not client.service_is_ready():
        return False
    reply = _call(node, client, _request(np.zeros((1, OBS_DIM)), instruction='reach the goal'))
    return reply.ok


def test_training_loses_its_prior_then_regains_it_and_ctrl_c_checkpoints(
        ros_node, prior_dir, tmp_path):
    """
    Guided updates; the prior is SIGKILLed while training is held; unguided; a new prior; guided.

    The bridge lives in this process on a backend the test holds at chosen steps, so every
    change to the graph lands between two known updates; metrics are read reliable and
    transient-local (none is missed); every wait has a deadline. Ctrl-C ends the endless budget
    and must write the checkpoint (checkpoint_every is never reached).
    """
    from lago_ros.nodes.sim_bridge import SimBridge
    from lago_ros.rl.checkpoint import load_checkpoint
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    backend = _GatedBackend()
    bridge = SimBridge(backend=backend, context=ros_node.context, namespace='/gated')
    executor = SingleThreadedExecutor(context=ros_node.context)
    executor.add_node(bridge)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    metrics = {}
    qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
    sub = ros_node.create_subscription(
        TrainingMetrics, '/trainer/metrics',
        lambda m: metrics.setdefault(m.update, dict(zip(m.names, m.values, strict=True))), qos)
    client = ros_node.create_client(QueryPrior, '/lost_prior/query')
    prior = _prior_process(prior_dir, 'lost_prior')
    trainer = replacement = None
    run_dir = tmp_path / 'run'

    def guidance(update):
        wait_until(lambda: update in metrics, 120, f'metrics of update {update}')
        return metrics[update]['lago/guidance_active']

    try:
        wait_until(lambda: _answers(ros_node, client), 180, 'the prior service answering')
        backend.hold(2 * ROLLOUT + 1)  # the first step after update 2
        trainer = _graph_trainer('/gated/sim_bridge', '/lost_prior/query', run_dir)
        assert backend.held.wait(timeout=300), f'training never reached update 3:\n{trainer.log}'
        assert guidance(1) == 1.0 and guidance(2) == 1.0
        prior.process.send_signal(signal.SIGKILL)
        assert prior.wait(120) == -signal.SIGKILL
        wait_until(lambda: not client.service_is_ready(), 120, 'the killed service leaving')
        backend.hold(3 * ROLLOUT + 1)  # update 3 queries a dead prior
        backend.release()
        assert backend.held.wait(timeout=300), trainer.log[-3000:]
        assert guidance(3) == 0.0
        trainer.wait_for('prior unavailable', 120)
        replacement = _prior_process(prior_dir, 'lost_prior')
        wait_until(lambda: _answers(ros_node, client), 180, 'the restarted prior answering')
        backend.release()
        back = wait_until(lambda: [u for u, m in metrics.items()
                                   if u > 3 and m['lago/guidance_active'] == 1.0], 180,
                          'a guided update after the prior came back')
        trainer.process.send_signal(signal.SIGINT)
        assert trainer.wait(300) == 0, trainer.log[-3000:]
    finally:
        backend.release()
        for process in (trainer, prior, replacement):
            if process is not None:
                process.stop()
        ros_node.destroy_subscription(sub)
        ros_node.destroy_client(client)
        executor.shutdown()
        bridge.destroy_node()
    updates = sorted(metrics)
    assert min(back) >= 4 and updates[:min(back)] == list(range(1, min(back) + 1))
    assert all(metrics[u]['lago/guidance_active'] == 0.0 for u in range(3, min(back)))
    assert trainer.log.count('prior unavailable') == 1, trainer.log[-3000:]
    assert trainer.log.count('is available: guidance on') == 2, trainer.log[-3000:]
    assert 'checkpoint written to' in trainer.log
    state = load_checkpoint(run_dir / 'checkpoint.pt')
    assert state['update'] >= updates[-1] and state['global_step'] >= 64 * updates[-1]


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
    """Make a bridge on a fake backend and a RemoteVecEnv sharing one executor."""
    from lago_ros.nodes.remote import RemoteVecEnv
    from lago_ros.nodes.sim_bridge import SimBridge

    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    bridge = SimBridge(backend=_CountingBackend(), context=context)
    client = rclpy.create_node('remote_env_test', context=context)
    executor.add_node(bridge)
    executor.add_node(client)
    envs = RemoteVecEnv(client, executor, 'reach-v3', 2, '/sim_bridge', step_timeout=10.0)
    assert envs.wait_for_bridge(120.0)
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
    assert envs.wait_for_bridge(120.0)
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
