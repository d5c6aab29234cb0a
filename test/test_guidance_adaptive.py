# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Adaptive guidance (GuidanceConfig.adaptation): target-KL beta and state-wise trust weights.

'none' is pinned bit for bit by test/test_ppo_reference.py; here the two adaptive variants on
tiny envs and constructed priors: which way beta moves, its bounds, exact resume, the weights'
bounds and mean, and which states they down-weight.
"""

import math
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

from lago_ros.config import ConfigError
from lago_ros.rl.guidance import GuidanceConfig, PriorGuidance, WEIGHT_HIST_KEYS, WEIGHT_KEYS
from lago_ros.rl.metrics import read_metrics
from lago_ros.rl.ppo import PPO, PPOConfig
from lago_ros.rl.schedules import BetaSchedule, DualAscentBeta
from lago_ros.rl.train_config import load_config
from lago_ros.rl.trust import bounded_mean_weights, entropy_per_dim, prior_agreement, \
    trust_scores


class Instruction(gym.Wrapper):
    """Add info['instruction'] to every observation."""

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return obs, {**info, 'instruction': 'swing up'}

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, {**info, 'instruction': 'swing up'}


def make_envs(env_id: str = 'Pendulum-v1') -> gym.vector.VectorEnv:
    return gym.make_vec(env_id, num_envs=2, vectorization_mode='sync',
                        vector_kwargs={'autoreset_mode': AutoresetMode.SAME_STEP},
                        wrappers=[Instruction])


class ConstantPrior:
    """
    A Gaussian prior with one mean and std everywhere.

    With mean 1 and std 0.3 the KL of a fresh policy (mean ~0, std 1) toward it is ~9.4 nats.
    """

    def __init__(self, mean: float = 1.0, std: float = 0.3):
        self.mean, self.std = mean, std

    def __call__(self, observations, instructions):
        n = len(observations)
        return SimpleNamespace(mean=np.full((n, 1), self.mean, np.float32),
                               std=np.full((n, 1), self.std, np.float32))


def config(**overrides) -> PPOConfig:
    return PPOConfig(**{**dict(num_steps=32, minibatch_size=32, update_epochs=2,
                               learning_rate=1e-3), **overrides})


def target_kl(**settings) -> PriorGuidance:
    base = dict(beta=0.1, adaptation='target_kl', beta_lr=0.2)
    return PriorGuidance(GuidanceConfig(**{**base, **settings}), ConstantPrior())


def history(agent: PPO, key: str) -> list:
    return [h[key] for h in agent.history]


# -- target KL: dual ascent on log beta

def test_dual_ascent_step_follows_the_documented_rule():
    target = BetaSchedule('constant', 2.0, name='prior_kl_target')
    control = DualAscentBeta(0.1, 1e-3, 10.0, 0.2, target)
    start = control.log_beta
    control.step(3.0, 0)  # 50% above target: + lr * 0.5
    assert control.log_beta == pytest.approx(start + 0.1)
    control.step(100.0, 0)  # far above: the violation is clipped to 1
    assert control.log_beta == pytest.approx(start + 0.3)
    control.step(0.0, 0)  # KL 0: violation -1
    assert control.log_beta == pytest.approx(start + 0.1)
    control.step(float('nan'), 0)  # the prior did not answer: no step
    assert control.log_beta == pytest.approx(start + 0.1)
    assert control.beta == pytest.approx(0.1 * math.exp(0.1))


def test_dual_ascent_follows_a_scheduled_target():
    target = BetaSchedule('linear', 4.0, 1.0, 100, name='prior_kl_target')
    control = DualAscentBeta(1.0, 1e-3, 10.0, 0.2, target)
    control.step(2.0, 0)  # below the start target 4: down
    assert control.beta < 1.0
    lowered = control.beta
    control.step(2.0, 100)  # above the final target 1: up
    assert control.beta > lowered


def test_target_kl_raises_beta_while_the_kl_is_above_target(tmp_path):
    agent = PPO(config(), make_envs(), target_kl(prior_kl_target=0.5), run_dir=tmp_path)
    agent.learn(5 * 64)
    agent.close()
    kl, beta = history(agent, 'lago/kl_prior'), history(agent, 'lago/beta')
    assert all(value > 2 * 0.5 for value in kl)  # above target (x2: the step is clipped to +lr)
    assert beta[0] == pytest.approx(0.1)
    np.testing.assert_allclose(beta, 0.1 * np.exp(0.2 * np.arange(5)), rtol=1e-9)
    columns = read_metrics(tmp_path / 'metrics.csv')
    assert columns['lago/kl_target'] == [0.5] * 5
    np.testing.assert_allclose(columns['lago/beta'], beta, rtol=1e-12)


def test_target_kl_lowers_beta_while_the_kl_is_below_target():
    agent = PPO(config(), make_envs(), target_kl(prior_kl_target=1000.0)).learn(5 * 64)
    kl, beta = history(agent, 'lago/kl_prior'), history(agent, 'lago/beta')
    assert all(value < 1000.0 for value in kl)
    assert all(later < earlier for earlier, later in zip(beta, beta[1:], strict=False))
    # the step is lr * (KL / target - 1): almost -lr for a KL of ~10 against 1000
    for earlier, later, value in zip(beta, beta[1:], kl, strict=False):
        assert math.log(later / earlier) == pytest.approx(0.2 * (value / 1000.0 - 1))


@pytest.mark.parametrize('target, bound, which', [
    (0.5, 0.2, 'beta_max'), (1000.0, 0.07, 'beta_min')])
def test_target_kl_beta_stays_within_its_bounds(target, bound, which):
    guidance = target_kl(prior_kl_target=target, beta_lr=0.5, **{which: bound})
    agent = PPO(config(), make_envs(), guidance).learn(6 * 64)
    beta = history(agent, 'lago/beta') + [guidance.controller.beta]
    low, high = guidance.config.beta_min, guidance.config.beta_max
    assert all(low <= value <= high for value in beta)
    assert beta[-1] == bound and beta[-2] == bound  # reached and held


def test_target_kl_resumes_exactly_from_a_checkpoint(tmp_path):
    settings = dict(prior_kl_target=6.0, beta_lr=0.5)
    uninterrupted = PPO(config(), make_envs(), target_kl(**settings)).learn(2 * 64)
    path = uninterrupted.save(tmp_path / 'ckpt.pt')
    saved_log_beta = uninterrupted.guidance.controller.log_beta
    uninterrupted.reset_envs()  # what a resumed run does with its fresh envs
    uninterrupted.learn(5 * 64)
    resumed = PPO.load(path, make_envs(), target_kl(**settings))
    assert resumed.guidance.controller.log_beta == saved_log_beta != math.log(0.1)
    resumed.learn(5 * 64)
    for a, b in zip(uninterrupted.policy.parameters(), resumed.policy.parameters(),
                    strict=True):
        assert torch.equal(a, b)
    assert history(resumed, 'lago/beta') == history(uninterrupted, 'lago/beta')[2:]
    assert len(set(history(uninterrupted, 'lago/beta'))) == 5  # beta really moved
    assert resumed.guidance.controller.log_beta == uninterrupted.guidance.controller.log_beta
    with pytest.raises(ValueError, match="no 'log_beta'"):
        target_kl(**settings).load_state_dict({'config': {}})


# -- state-wise trust weights

@pytest.mark.parametrize('low, high', [(0.25, 4.0), (0.0, 2.0), (0.9, 1.1), (1.0, 1.0)])
def test_state_weights_are_bounded_with_mean_beta(low, high):
    scores = torch.randn(256, generator=torch.Generator().manual_seed(0)) * 3
    weights = bounded_mean_weights(scores, 0.1, low, high)
    assert weights.mean().item() == pytest.approx(0.1, rel=1e-6)
    assert weights.min().item() >= 0.1 * low * (1 - 1e-6)
    assert weights.max().item() <= 0.1 * high * (1 + 1e-6)
    order = scores.argsort()
    assert (weights[order].diff() >= -1e-9).all()  # a higher score never weighs less
    if low < high:
        assert weights.max() > weights.min()


def test_low_confidence_states_are_down_weighted_in_proportion_to_their_std():
    mean = torch.zeros(4, 2)
    std = torch.tensor([[0.1, 0.1], [0.1, 0.1], [0.2, 0.2], [1.0, 1.0]])
    entropy = entropy_per_dim((mean, std))
    assert entropy[2] - entropy[0] == pytest.approx(math.log(2.0))
    scores = trust_scores((mean, std), torch.zeros(4), confidence=1.0, agreement=1.0)
    weights = bounded_mean_weights(scores, 1.0, 0.0, 10.0)
    assert weights[0] == pytest.approx(weights[1])
    assert weights[2] == pytest.approx(weights[0] / 2) and weights[3] == pytest.approx(
        weights[0] / 10)
    bounded = bounded_mean_weights(scores, 1.0, 0.25, 4.0)
    assert bounded[3] == pytest.approx(0.25) and bounded.mean() == pytest.approx(1.0)
    ignored = trust_scores((mean, std), torch.zeros(4), confidence=0.0, agreement=1.0)
    assert torch.equal(bounded_mean_weights(ignored, 1.0, 0.25, 4.0), torch.ones(4))


def test_states_where_the_prior_disagrees_with_the_critic_are_down_weighted():
    # Four states, the prior N(0, 0.3) everywhere and the acting policy N(0, 1): an action at
    # 0 is one the prior likes more than the policy did, an action at 2 one it likes less.
    prior = (torch.zeros(4, 1), torch.full((4, 1), 0.3))
    actions = torch.tensor([[0.0], [0.0], [2.0], [2.0]])
    behaviour = torch.distributions.Normal(0.0, 1.0).log_prob(actions).sum(-1)
    advantages = torch.tensor([1.0, -1.0, 1.0, -1.0])
    agreement = prior_agreement(prior, actions, behaviour, advantages)
    # 0: favoured and good, 3: disfavoured and bad -> agree; 1: favoured but bad,
    # 2: disfavoured but good -> disagree
    assert agreement[0] > 0 and agreement[3] > 0 and agreement[1] < 0 and agreement[2] < 0
    assert (agreement.abs() <= 1).all()  # tanh: bounded (it saturates in float32)
    weights = bounded_mean_weights(trust_scores(prior, agreement, 1.0, 1.0), 0.2, 0.25, 4.0)
    assert max(weights[1], weights[2]) < min(weights[0], weights[3])
    assert weights.mean() == pytest.approx(0.2)


class StatePrior:
    """Gaussian prior whose std grows with |theta velocity| (obs[:, 2]), mean 0."""

    def __call__(self, observations, instructions):
        obs = np.asarray(observations, dtype=np.float32)
        std = 0.1 + 0.3 * np.abs(obs[:, 2:3])
        return SimpleNamespace(mean=np.zeros_like(std), std=std)


def test_statewise_run_logs_bounded_weights_with_mean_beta_to_csv_and_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    settings = dict(beta=0.3, adaptation='statewise', prior_states=48, trust_weight_min=0.5,
                    trust_weight_max=2.0, trust_agreement=0.0)
    agent = PPO(config(), make_envs(), PriorGuidance(GuidanceConfig(**settings), StatePrior()),
                run_dir=tmp_path)
    agent.learn(3 * 64)
    agent.close()
    for h in agent.history:
        assert h['lago/weight_mean'] == pytest.approx(0.3, rel=1e-6)
        assert 0.15 * (1 - 1e-6) <= h['lago/weight_min'] < h['lago/weight_max'] <= 0.6 * (
            1 + 1e-6)
        assert sum(h[key] for key in WEIGHT_HIST_KEYS) == pytest.approx(1.0)
        assert 0 <= h['lago/prior_disagreement'] <= 1
    weights = agent.guidance.weights
    assert weights.shape == (48,)
    std = agent.guidance.raw_prior_params[1][:, 0]
    # the critic's part switched off: the larger the prior's std, the smaller the weight
    assert (weights[std.argsort()].diff() <= 1e-9).all() and weights[std.argmax()] < 0.3
    columns = read_metrics(tmp_path / 'metrics.csv')
    assert all(key in columns for key in WEIGHT_KEYS)
    events = EventAccumulator(str(tmp_path / 'tensorboard'))
    events.Reload()
    assert set(WEIGHT_KEYS) <= set(events.Tags()['scalars'])
    assert len(events.Scalars('lago/weight_mean')) == 3


def test_statewise_without_either_signal_is_none_up_to_rounding():
    settings = dict(beta=0.3, prior_states=48)
    plain = PPO(config(), make_envs(), PriorGuidance(GuidanceConfig(**settings), StatePrior()))
    flat = PPO(config(), make_envs(), PriorGuidance(GuidanceConfig(
        **settings, adaptation='statewise', trust_confidence=0.0, trust_agreement=0.0),
        StatePrior()))
    plain.learn(3 * 64)
    flat.learn(3 * 64)
    for a, b in zip(plain.policy.parameters(), flat.policy.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert all(h['lago/weight_min'] == h['lago/weight_max'] for h in flat.history)


def test_statewise_with_no_prior_answer_logs_nan_weights_and_adds_nothing():
    guidance = PriorGuidance(GuidanceConfig(beta=0.3, adaptation='statewise'),
                             lambda obs, instructions: None)
    agent = PPO(config(), make_envs(), guidance).learn(64)
    stats = agent.history[0]
    assert stats['lago/guidance_active'] == 0 and math.isnan(stats['lago/kl_prior'])
    assert all(math.isnan(stats[key]) for key in WEIGHT_KEYS)


# -- configuration

def test_adaptation_keys_are_read_from_the_ppo_section():
    cfg = load_config(None, ['ppo.adaptation=target_kl', 'ppo.beta=0.1',
                             'ppo.prior_kl_target=2', 'ppo.prior_kl_target_schedule=linear',
                             'ppo.prior_kl_target_final=0.5', 'ppo.beta_max=1'])
    guidance = cfg.guidance
    assert (guidance.adaptation, guidance.prior_kl_target, guidance.beta_max) == (
        'target_kl', 2.0, 1.0)
    assert guidance.controller().target(10**6) == 0.5
    cfg = load_config(None, ['ppo.adaptation=statewise', 'ppo.trust_weight_max=3'])
    assert (cfg.guidance.adaptation, cfg.guidance.trust_weight_max) == ('statewise', 3.0)


@pytest.mark.parametrize('overrides, message', [
    (['ppo.adaptation=sometimes'], r"ppo.adaptation is 'sometimes'; expected one of \('none'"),
    (['ppo.adaptation=target_kl', 'ppo.beta=0.1', 'ppo.beta_schedule=linear'],
     "beta_schedule must be 'constant'"),
    (['ppo.adaptation=target_kl', 'ppo.beta=0'], r'0 < beta_min <= beta <= beta_max'),
    (['ppo.adaptation=target_kl', 'ppo.beta=0.1', 'ppo.prior_kl_target=0'],
     'the KL target must stay > 0'),
    (['ppo.adaptation=target_kl', 'ppo.beta=0.1', 'ppo.prior_kl_target_schedule=linear',
      'ppo.prior_kl_target_final=0'], 'the KL target must stay > 0'),
    (['ppo.prior_kl_target_schedule=cosine'], r"prior_kl_target_schedule is 'cosine'"),
    (['ppo.trust_weight_min=1.5'], r'0 <= trust_weight_min <= 1 <= trust_weight_max'),
    (['ppo.trust_agreement=-1'], 'must be >= 0'),
])
def test_bad_adaptation_settings_are_refused_in_one_line(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)
