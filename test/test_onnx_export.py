# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ONNX export: parity with the torch policy, metadata content, file checks and the CLI."""

import json
from pathlib import Path
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import onnx
import pytest
import torch

from lago_ros.export.onnx_export import export_policy, ExportError, main
from lago_ros.export.onnx_policy import ObservationError, OnnxPolicy, PolicyFileError
from lago_ros.rl.ppo import PPO, PPOConfig

TASKS = {'reach-v3': False, 'clevr-robot': True}


def make_agent(task: str, seed: int = 0, hidden_sizes: tuple = (32, 32)) -> PPO:
    """
    Make a PPO agent for `task` with perturbed weights and fitted normaliser statistics.

    Fresh policies output near-constant actions (small last-layer init); perturbing the actor
    makes the parity test cover the whole action range, clipping included.
    """
    from lago_ros.envs.registry import get_task

    spec = get_task(task)
    obs_space = gym.spaces.Box(-np.inf, np.inf, (spec.obs_dim,), np.float32)
    action_space = gym.spaces.Discrete(spec.action_dim) if spec.action_type == 'discrete' \
        else gym.spaces.Box(-1.0, 1.0, (spec.action_dim,), np.float32)
    envs = SimpleNamespace(num_envs=1, single_observation_space=obs_space,
                           single_action_space=action_space)
    agent = PPO(PPOConfig(seed=seed, hidden_sizes=hidden_sizes), envs)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in agent.policy.actor.parameters():
            param.add_(torch.randn(param.shape, generator=generator) * 0.5)
    rng = np.random.default_rng(seed)
    agent.obs_normalizer.update(rng.normal(0.5, 2.0, (256, spec.obs_dim)))
    return agent


def reference_actions(agent: PPO, obs: np.ndarray) -> np.ndarray:
    """Return the in-process (torch) deterministic actions, as the trainer's evaluation."""
    return agent.predict(obs, deterministic=True)


def export_agent(agent: PPO, task: str, folder: Path) -> Path:
    """Save `agent` through PPO.save and export it; return the ONNX path."""
    checkpoint = agent.save(folder / 'checkpoint.pt')
    onnx_path, _ = export_policy(checkpoint, folder / 'policy.onnx', task=task)
    return onnx_path


@pytest.mark.parametrize('task', TASKS)
def test_onnx_matches_torch_policy_on_random_observations(tmp_path, task):
    agent = make_agent(task)
    policy = OnnxPolicy(export_agent(agent, task, tmp_path))
    rng = np.random.default_rng(1)
    # Wide observations: many normalised values hit the +-10 clip, many actions the bounds.
    obs = (rng.normal(0.5, 2.0, (1000, policy.obs_dim))
           * rng.choice([1.0, 30.0], (1000, 1))).astype(np.float32)
    expected = reference_actions(agent, obs)
    actual = policy.act(obs)
    if TASKS[task]:
        assert actual.dtype == np.int64 and actual.shape == (1000,)
        np.testing.assert_array_equal(actual, expected)
        logits = agent.policy.actor(torch.from_numpy(agent.obs_normalizer.normalize(obs)))
        np.testing.assert_allclose(policy.run(obs)['logits'], logits.detach().numpy(),
                                   atol=1e-5, rtol=0)
        assert len(np.unique(actual)) > 5
    else:
        assert actual.dtype == np.float32 and actual.shape == (1000, 4)
        np.testing.assert_allclose(actual, expected, atol=1e-5, rtol=0)
        assert np.abs(actual).max() <= 1.0
        assert (np.abs(actual) == 1.0).mean() > 0.05, 'the clip to bounds was not exercised'
        assert np.abs(policy.run(obs)['action_mean']).max() > 1.0
    single = policy.act(obs[0])
    assert np.array_equal(single, actual[0])


def test_metadata_describes_policy_and_source(tmp_path):
    agent = make_agent('reach-v3')
    onnx_path = export_agent(agent, 'reach-v3', tmp_path)
    meta = json.loads(onnx_path.with_suffix('.json').read_text())
    import hashlib
    import lago_ros

    assert meta['task'] == 'reach-v3'
    assert (meta['obs_dim'], meta['action_type'], meta['action_dim']) == (39, 'continuous', 4)
    assert meta['opset'] == 17 and meta['lago_ros_version'] == lago_ros.__version__
    assert meta['checkpoint_sha256'] == hashlib.sha256(
        (tmp_path / 'checkpoint.pt').read_bytes()).hexdigest()
    assert meta['onnx_sha256'] == hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    names = [f['name'] for f in meta['observation_layout']]
    assert names[:2] == ['hand_pos', 'gripper'] and names[-1] == 'goal_pos'
    assert meta['observation_layout'][0]['unit'] == 'm'
    assert sum(f['stop'] - f['start'] for f in meta['observation_layout']) == 39
    fields = meta['action_layout']['fields']
    assert [f['name'] for f in fields] == ['dx', 'dy', 'dz', 'gripper']
    assert fields[0]['unit'] == 'm/step' and fields[0]['scale'] == pytest.approx(0.01)
    assert meta['action_bounds'] == {'low': [-1.0] * 4, 'high': [1.0] * 4}
    np.testing.assert_allclose(meta['observation_normalisation']['mean'],
                               agent.obs_normalizer.rms.mean)
    model = onnx.load(onnx_path)
    assert model.opset_import[0].version == 17
    assert [i.name for i in model.graph.input] == ['observation']
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == 'batch'
    assert [o.name for o in model.graph.output] == ['action', 'action_mean']
    assert not list(tmp_path.glob('.*.tmp')), 'atomic writes left temp files behind'


def test_discrete_metadata_and_batch_axis(tmp_path):
    policy = OnnxPolicy(export_agent(make_agent('clevr-robot'), 'clevr-robot', tmp_path))
    meta = policy.metadata
    assert meta['action_type'] == 'discrete' and meta['action_dtype'] == 'int64'
    assert meta['action_layout']['n'] == 40 and len(meta['action_layout']['balls']) == 5
    assert meta['observation_layout'][-1]['labels'] == ['left', 'right', 'front', 'behind']
    for batch in (1, 7, 64):
        assert policy.act(np.zeros((batch, 24), np.float32)).shape == (batch,)


def test_policy_fast_paths_agree_with_the_batched_run(tmp_path):
    policy = OnnxPolicy(export_agent(make_agent('reach-v3'), 'reach-v3', tmp_path))
    batch = np.random.default_rng(1).normal(size=(3, 39)).astype(np.float32)
    expected = policy.run(batch)['action']
    for i in range(3):  # one float32 row, a float64 list, a batch of one: the bound input
        assert np.array_equal(policy.act(batch[i]), expected[i])
        assert np.array_equal(policy.act(batch[i].astype(np.float64).tolist()), expected[i])
        assert np.array_equal(policy.act(batch[i:i + 1]), expected[i:i + 1])
    huge = np.full(39, 1e30, np.float32)  # finite, but its sum of squares overflows
    assert np.isfinite(policy.act(huge)).all() and policy.act(huge).shape == (4,)
    bad = batch.copy()
    bad[2, 5] = np.inf
    with pytest.raises(ObservationError, match=r'NaN or Inf at index \[5\]'):
        policy.act(bad)


def test_policy_rejects_bad_observations_and_mismatched_files(tmp_path):
    onnx_path = export_agent(make_agent('reach-v3'), 'reach-v3', tmp_path)
    policy = OnnxPolicy(onnx_path)
    with pytest.raises(ObservationError, match='expects'):
        policy.act(np.zeros(38))
    with pytest.raises(ObservationError, match='NaN'):
        policy.act(np.full(39, np.nan))
    with pytest.raises(ObservationError, match='NaN or Inf'):
        policy.act(np.full(39, 1e39))  # overflows float32 to inf
    with pytest.raises(ObservationError, match='numeric'):
        policy.act(['a'] * 39)
    onnx_path.write_bytes(onnx_path.read_bytes() + b'\0')
    with pytest.raises(PolicyFileError, match='sha256'):
        OnnxPolicy(onnx_path)
    onnx_path.with_suffix('.json').unlink()
    with pytest.raises(PolicyFileError, match='no metadata'):
        OnnxPolicy(onnx_path)


def test_export_checks_task_options_and_cli(tmp_path, capsys):
    checkpoint = make_agent('reach-v3').save(tmp_path / 'checkpoint.pt')
    with pytest.raises(ExportError, match='does not name its task'):
        export_policy(checkpoint, tmp_path / 'p.onnx')
    with pytest.raises(ExportError, match='task clevr-robot has 24'):
        export_policy(checkpoint, tmp_path / 'p.onnx', task='clevr-robot')
    with pytest.raises(ExportError, match='deterministic'):
        export_policy(checkpoint, tmp_path / 'p.onnx', task='reach-v3', deterministic=False)
    with pytest.raises(ExportError, match='opset'):
        export_policy(checkpoint, tmp_path / 'p.onnx', task='reach-v3', opset=7)
    assert main([str(checkpoint), str(tmp_path / 'cli.onnx'), '--task', 'reach-v3',
                 '--opset', '18', '--no-extra-output']) == 0
    policy = OnnxPolicy(tmp_path / 'cli.onnx')
    assert policy.output_names == ['action'] and policy.metadata['opset'] == 18
    assert main([str(tmp_path / 'missing.pt'), str(tmp_path / 'x.onnx'), '--task',
                 'reach-v3']) == 2
    assert 'does not exist' in capsys.readouterr().err


def test_per_dimension_action_bounds_clip_each_dimension() -> None:
    """Bounds that differ per dimension take the Min/Max path instead of one scalar Clip."""
    import onnxruntime as ort

    from lago_ros.export.onnx_export import build_policy_graph

    agent = make_agent('reach-v3')
    state = {key: value.clone() for key, value in agent.policy.state_dict().items()}
    state['action_low'] = torch.tensor([-1.0, -0.2, -0.5, 0.0])
    state['action_high'] = torch.tensor([1.0, 0.2, 0.5, 0.3])
    model = build_policy_graph(state, agent.obs_normalizer.state_dict())
    assert {'Min', 'Max'} <= {node.op_type for node in model.graph.node}
    session = ort.InferenceSession(model.SerializeToString(), providers=['CPUExecutionProvider'])
    obs = np.random.default_rng(5).normal(size=(64, 39)).astype(np.float32) * 4
    action, mean = session.run(None, {'observation': obs})
    np.testing.assert_array_equal(action, np.clip(mean, state['action_low'].numpy(),
                                                  state['action_high'].numpy()))
    assert (action != mean).any()  # the bounds were hit, so clipping was exercised
