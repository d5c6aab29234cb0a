# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
PPO updates against a stored reference: a refactor of PPO or of the guidance must change no number.

test/data/ppo_reference.npz holds, per case, the policy parameters after a few seeded updates
and every logged loss, produced by the code of the commit that added it. Regenerate it only on
purpose (a deliberate change of numerics), with

    .venv/bin/python test/test_ppo_reference.py --write

The cases cover discrete and continuous actions, both KL directions, prior subsets, every beta
schedule, the std floor, a prior that is sometimes unavailable, and beta = 0 next to vanilla PPO.
Parameters compare bit for bit when torch and the CPU capability match the ones that wrote the
file (the same kernels); elsewhere to float32 rounding.
"""

import dataclasses
import hashlib
import sys
from pathlib import Path
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

from lago_ros.rl.guidance import GuidanceConfig, PriorGuidance
from lago_ros.rl.ppo import PPO, PPOConfig

REFERENCE = Path(__file__).resolve().parent / 'data' / 'ppo_reference.npz'
UPDATES = 3
BASE = dict(num_steps=32, minibatch_size=16, update_epochs=2, learning_rate=1e-3,
            hidden_sizes=(8, 8), seed=7, log_interval=100)
CASES = {
    'cartpole_guided': ('CartPole-v1', 'tiny', dict(beta=0.5, prior_states=24)),
    'cartpole_forward_all': ('CartPole-v1', 'tiny', dict(
        beta=0.2, kl_direction='forward', prior_states=0, ent_coef=0.01)),
    'cartpole_unavailable': ('CartPole-v1', 'flaky', dict(beta=0.5, prior_states=16)),
    'cartpole_beta0': ('CartPole-v1', 'tiny', dict(beta=0.0)),
    'cartpole_vanilla': ('CartPole-v1', None, dict()),
    'pendulum_linear_forward': ('Pendulum-v1', 'tiny', dict(
        beta=0.3, beta_schedule='linear', beta_final=0.05, beta_decay_steps=128,
        kl_direction='forward', prior_states=0, anneal_lr=True, min_prior_std=0.3)),
    'pendulum_exponential_subset': ('Pendulum-v1', 'tiny', dict(
        beta=1.0, beta_schedule='exponential', beta_final=0.1, beta_decay_steps=64,
        prior_states=20, min_prior_std=0.2, target_kl=0.01)),
    'pendulum_beta0': ('Pendulum-v1', 'tiny', dict(beta=0.0)),
    'pendulum_vanilla': ('Pendulum-v1', None, dict()),
}
LOGGED = ('losses/policy_loss', 'losses/value_loss', 'losses/entropy', 'losses/approx_kl',
          'losses/clipfrac', 'losses/explained_variance', 'lago/kl_prior', 'lago/beta',
          'lago/guidance_active', 'charts/learning_rate', 'charts/episodic_return')


class LanguageInfo(gym.Wrapper):
    """Add info['instruction'] to every observation and info['success'] to every step."""

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return obs, {**info, 'instruction': 'balance'}

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, {**info, 'instruction': 'balance',
                                                    'success': bool(truncated)}


class TinyPrior:
    """A prior whose outputs depend on the state; 'flaky' answers only every other query."""

    def __init__(self, discrete: bool, flaky: bool = False):
        self.discrete, self.flaky, self.calls = discrete, flaky, 0

    def __call__(self, observations, instructions):
        self.calls += 1
        if self.flaky and self.calls % 2 == 0:
            return None
        obs = np.asarray(observations, dtype=np.float64)
        if self.discrete:
            logits = np.stack([3.0 * obs[:, 2] + obs[:, 3], -2.0 * obs[:, 2]], axis=1)
            return SimpleNamespace(logits=logits.astype(np.float32))
        mean = np.tanh(obs[:, :1] - obs[:, 2:3])
        std = 0.05 + 0.5 / (1.0 + np.exp(-obs[:, 1:2]))  # 0.05 .. 0.55: the floor bites
        return SimpleNamespace(mean=mean.astype(np.float32), std=std.astype(np.float32))


def make_envs(env_id: str) -> gym.vector.VectorEnv:
    return gym.make_vec(env_id, num_envs=2, vectorization_mode='sync',
                        vector_kwargs={'autoreset_mode': AutoresetMode.SAME_STEP},
                        wrappers=[LanguageInfo])


def run_case(name: str) -> dict:
    """Train one case for UPDATES updates; return its parameters and logged losses."""
    env_id, prior_kind, settings = CASES[name]
    guidance = None
    if prior_kind is not None:
        prior = TinyPrior(env_id == 'CartPole-v1', flaky=prior_kind == 'flaky')
        guidance_keys = {f.name for f in dataclasses.fields(GuidanceConfig)}
        guidance = PriorGuidance(GuidanceConfig(
            **{k: v for k, v in settings.items() if k in guidance_keys}), prior)
        settings = {k: v for k, v in settings.items() if k not in guidance_keys}
    envs = make_envs(env_id)
    agent = PPO(PPOConfig(**BASE, **settings), envs, guidance)
    try:
        agent.learn(UPDATES * agent.batch_size)
    finally:
        envs.close()
    params = torch.cat([p.detach().reshape(-1) for p in agent.policy.parameters()])
    history = np.array([[h.get(key, np.nan) for key in LOGGED] for h in agent.history])
    return {'params': params.numpy().copy(), 'history': history,
            'generator': np.array(hashlib.sha256(agent.generator.get_state().numpy()).hexdigest())}


def platform() -> str:
    return f'torch {torch.__version__} {torch.backends.cpu.get_cpu_capability()}'


def write_reference() -> None:
    arrays = {'platform': np.array(platform()), 'logged': np.array(LOGGED)}
    for name in CASES:
        for key, value in run_case(name).items():
            arrays[f'{name}/{key}'] = value
    REFERENCE.parent.mkdir(exist_ok=True)
    np.savez_compressed(REFERENCE, **arrays)
    print(f'wrote {REFERENCE} ({len(CASES)} cases, {platform()})')


@pytest.fixture(scope='module')
def reference():
    with np.load(REFERENCE, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _assert_same(expected: np.ndarray, actual: np.ndarray, exact: bool, what: str) -> None:
    if exact:
        np.testing.assert_array_equal(actual, expected, err_msg=what)
    else:
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6, equal_nan=True,
                                   err_msg=what)


@pytest.mark.parametrize('name', list(CASES))
def test_updates_match_the_stored_reference(reference, name):
    assert tuple(reference['logged']) == LOGGED
    exact = str(reference['platform']) == platform()
    result = run_case(name)
    _assert_same(reference[f'{name}/params'], result['params'], exact, f'{name} parameters')
    # Without a prior only PPO's own logs count (whether vanilla PPO logs lago/ keys is not a
    # number of the method).
    columns = [i for i, key in enumerate(LOGGED)
               if CASES[name][1] is not None or not key.startswith('lago/')]
    _assert_same(reference[f'{name}/history'][:, columns], result['history'][:, columns], exact,
                 f'{name} losses')
    np.testing.assert_array_equal(result['generator'], reference[f'{name}/generator'])


@pytest.mark.parametrize('env_id', ['cartpole', 'pendulum'])
def test_beta_zero_is_vanilla_ppo_bit_for_bit(reference, env_id):
    for key in ('params', 'generator'):
        np.testing.assert_array_equal(reference[f'{env_id}_beta0/{key}'],
                                      reference[f'{env_id}_vanilla/{key}'])
    losses = slice(0, LOGGED.index('lago/kl_prior'))
    np.testing.assert_array_equal(reference[f'{env_id}_beta0/history'][:, losses],
                                  reference[f'{env_id}_vanilla/history'][:, losses])
    guided = reference[f'{env_id}_beta0/history']
    assert np.isnan(guided[:, LOGGED.index('lago/kl_prior')]).all()
    assert (guided[:, LOGGED.index('lago/guidance_active')] == 0).all()


def test_guided_cases_differ_from_vanilla(reference):
    """The reference would not catch a broken KL term if guidance did not move the parameters."""
    for name, (env_id, prior_kind, _) in CASES.items():
        if prior_kind is not None and not name.endswith('beta0'):
            vanilla = reference[f"{'cartpole' if env_id == 'CartPole-v1' else 'pendulum'}"
                                '_vanilla/params']
            assert not np.array_equal(reference[f'{name}/params'], vanilla), name
            kl = reference[f'{name}/history'][:, LOGGED.index('lago/kl_prior')]
            assert np.isfinite(kl).any(), name


if __name__ == '__main__':
    if sys.argv[1:] != ['--write']:
        sys.exit(f'usage: {sys.argv[0]} --write  (regenerates {REFERENCE})')
    write_reference()
