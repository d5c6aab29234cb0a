# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
R2: crashes and damaged files, over real node processes.

A trainer killed with SIGKILL mid-run and restarted on the same run_dir resumes from its last
checkpoint: global_step continues and metrics.csv has each update exactly once. A truncated or
foreign checkpoint, and a prior folder with truncated weights or config, stop the node with a
clear error and leave the files byte-for-byte as they were. The prior client gets every chunk
of a rollout answered, also with more than 10 chunks (a service queues only 10). A killed prior
service and a restarted bridge are covered by test_nodes_graph.py.
"""

import csv
import hashlib
import os
from pathlib import Path
import re
import signal

from node_process import dds_discovery, NodeProcess
import pytest

pytestmark = pytest.mark.ros

UPDATE_STEPS = 64  # 2 envs x 32 steps
TOTAL_UPDATES = 8
TRAINER_YAML = f"""
trainer:
  ros__parameters:
    bridge: /fault_bridge
    prior_service: ''
    task: reach-v3
    num_envs: 2
    total_timesteps: {UPDATE_STEPS * TOTAL_UPDATES}
    checkpoint_every: 1
    eval_episodes: 1
    step_timeout: 60.0
    bridge_wait_timeout: 60.0
    ppo:
      num_steps: 32
      minibatch_size: 32
      update_epochs: 1
      hidden_sizes: [16, 16]
      log_interval: 1
      beta: 0.0
"""


def _localhost_only(pid: int) -> bool:
    """Whether the DDS participant of a node process discovers on localhost, in our domain."""
    return dds_discovery(pid) == ({int(os.environ['ROS_DOMAIN_ID'])}, False)


@pytest.fixture(scope='module')
def bridge():
    """Start a sim bridge of 2 x reach-v3 (50-step episodes) that outlives the trainers."""
    node = NodeProcess('sim_bridge', '-r', '__node:=fault_bridge', '-p', 'num_envs:=2',
                       '-p', 'max_episode_steps:=50', '-p', 'joint_state_rate:=0.0')
    assert _localhost_only(node.process.pid)
    node.wait_for('hosting 2 x reach-v3', 300)
    yield node
    node.stop()


@pytest.fixture
def params_file(tmp_path):
    path = tmp_path / 'trainer.yaml'
    path.write_text(TRAINER_YAML)
    return path


def _trainer(params_file: Path, run_dir: Path) -> NodeProcess:
    return NodeProcess('trainer', '--params-file', str(params_file), '-p', f'run_dir:={run_dir}')


def _digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob('*')) if p.is_file()}


def test_killed_trainer_resumes_from_its_last_checkpoint(bridge, params_file, tmp_path):
    run_dir = tmp_path / 'run'
    first = _trainer(params_file, run_dir)
    try:
        first.wait_for(r'update 4 \|', 300)
        assert _localhost_only(first.process.pid)
        first.process.send_signal(signal.SIGKILL)
        assert first.wait(30) == -signal.SIGKILL
    finally:
        first.stop()
    assert (run_dir / 'checkpoint.pt').is_file()
    second = _trainer(params_file, run_dir)
    try:
        resumed = int(second.wait_for(r'resuming \S+ at step (\d+)', 300).group(1))
        assert resumed >= 3 * UPDATE_STEPS and resumed % UPDATE_STEPS == 0
        assert second.wait(300) == 0, second.log[-3000:]
    finally:
        second.stop()
    log = second.log
    first_update = int(re.search(r'update (\d+) \|', log).group(1))
    assert first_update == resumed // UPDATE_STEPS + 1
    assert re.search(r'eval: success_rate=[\d.]+', log)
    with open(run_dir / 'metrics.csv', newline='') as handle:
        steps = [int(float(row['global_step'])) for row in csv.DictReader(handle)]
    assert steps == [UPDATE_STEPS * k for k in range(1, TOTAL_UPDATES + 1)]


@pytest.mark.parametrize('damage, message', [
    (lambda data: data[:len(data) // 2], 'corrupt or truncated'),
    (lambda data: b'', 'corrupt or truncated'),
    (lambda data: os.urandom(len(data)), 'corrupt or truncated'),
])
def test_damaged_checkpoint_stops_the_trainer_and_is_kept(bridge, params_file, tmp_path,
                                                          damage, message, good_checkpoint):
    run_dir = tmp_path / 'run'
    run_dir.mkdir()
    checkpoint = run_dir / 'checkpoint.pt'
    checkpoint.write_bytes(damage(good_checkpoint))
    before = checkpoint.read_bytes()
    trainer = _trainer(params_file, run_dir)
    try:
        assert trainer.wait(300) == 2, trainer.log[-3000:]
    finally:
        trainer.stop()
    assert message in trainer.log and 'checkpoint.pt' in trainer.log
    assert checkpoint.read_bytes() == before
    assert not (run_dir / 'metrics.csv').exists()


@pytest.fixture(scope='module')
def good_checkpoint(tmp_path_factory):
    """Return the bytes of a real PPO checkpoint for 2 x reach-v3 (in-process, untrained)."""
    from types import SimpleNamespace

    import gymnasium as gym
    import numpy as np

    from lago_ros.rl.ppo import PPO, PPOConfig

    envs = SimpleNamespace(num_envs=2, single_action_space=gym.spaces.Box(-1, 1, (4,)),
                           single_observation_space=gym.spaces.Box(-np.inf, np.inf, (39,)))
    path = tmp_path_factory.mktemp('ckpt') / 'checkpoint.pt'
    PPO(PPOConfig(num_steps=32, hidden_sizes=(16, 16)), envs).save(path)
    return path.read_bytes()


@pytest.fixture(scope='module')
def prior_dir(tmp_path_factory):
    from lago_ros.prior.backbone import tiny_random_backbone
    from lago_ros.prior.model import ActionPrior, PriorConfig

    root = tmp_path_factory.mktemp('prior')
    config = PriorConfig(obs_dim=39, action_type='continuous', action_dim=4, task='reach-v3',
                         backbone=str(tiny_random_backbone(root / 'backbone')),
                         projector_hidden=8, head_hidden=8)
    return ActionPrior(config).save_pretrained(root / 'prior')


@pytest.mark.parametrize('name, message', [
    ('model.safetensors', 'corrupt or truncated'),
    ('config.json', 'not valid JSON'),
])
def test_damaged_prior_leaves_the_service_unconfigured_and_is_kept(prior_dir, tmp_path, name,
                                                                   message):
    folder = tmp_path / 'prior'
    for item in prior_dir.rglob('*'):
        target = folder / item.relative_to(prior_dir)
        if item.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(item.read_bytes())
    damaged = folder / name
    damaged.write_bytes(damaged.read_bytes()[:len(damaged.read_bytes()) // 2])
    before = _digest(folder)
    service = NodeProcess('prior_service', '-r', '__node:=damaged_prior',
                          '-p', f'prior_path:={folder}')
    try:
        assert _localhost_only(service.process.pid)
        service.wait_for('cannot load the prior, staying unconfigured', 300)
        assert message in service.log
        assert service.process.poll() is None, 'the service should stay up, unconfigured'
    finally:
        service.stop()
    assert _digest(folder) == before


# A service keeps only 10 pending requests (default QoS depth): PriorServiceClient must cap the
# chunks in flight, or replies are lost and the rollout goes unguided (a bug this test found).
@pytest.mark.parametrize('chunk_size', [8, 2])  # 8 and 32 chunks per rollout
def test_prior_client_gets_every_chunk_of_a_large_rollout(prior_dir, chunk_size):
    import numpy as np
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from lago_ros.nodes.remote import PriorServiceClient

    service = NodeProcess('prior_service', '-r', '__node:=chunked_prior',
                          '-p', f'prior_path:={prior_dir}')
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node('chunk_client', context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        prior = PriorServiceClient(node, executor, '/chunked_prior/query', chunk_size=chunk_size,
                                   timeout=120.0)
        assert prior._client.wait_for_service(timeout_sec=300)
        states = np.random.default_rng(0).normal(size=(64, 39)).astype(np.float32)
        texts = ['reach the goal', 'reach the red goal'] * 32  # per state, across chunks
        output = prior(states, texts)
        assert output is not None and output.mean.shape == (64, 4)
        # Reassembled in order: chunk for chunk what the prior itself says for each state.
        from lago_ros.prior.model import ActionPrior

        expected = ActionPrior.from_pretrained(prior_dir).predict(states, texts)
        np.testing.assert_allclose(output.mean, expected.mean, atol=1e-5)
        np.testing.assert_allclose(output.std, expected.std, atol=1e-5)
    finally:
        rclpy.try_shutdown(context=context)
        service.stop()
