# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Prior-guided PPO on small gymnasium tasks: guidance, vanilla equivalence, resume, learning."""

import random
import shutil
from types import SimpleNamespace

import gymnasium as gym
from gymnasium.vector import AutoresetMode
import numpy as np
import pytest
import torch
import yaml

from lago_ros.rl.checkpoint import CheckpointError
from lago_ros.rl.distributions import policy_prior_kl
from lago_ros.rl.evaluate import evaluate
from lago_ros.rl.experiment import (config_to_dict, ConfigError, evaluate_checkpoint,
                                    load_config, run_training)
from lago_ros.rl.guidance import GuidanceConfig, PriorGuidance
from lago_ros.rl.metrics import Episode, EpisodeTracker, plot_learning_curve, read_metrics
from lago_ros.rl.ppo import PPO, PPOConfig

INSTRUCTION = 'keep the pole upright'


class LanguageInfo(gym.Wrapper):
    """Add info['instruction'] to every observation and info['success'] to every step."""

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return obs, {**info, 'instruction': INSTRUCTION}

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        success = bool(truncated) if self.env.spec.id == 'CartPole-v1' else reward > -1.0
        return obs, reward, terminated, truncated, {**info, 'instruction': INSTRUCTION,
                                                    'success': success}


def make_envs(env_id: str = 'CartPole-v1', num_envs: int = 2) -> gym.vector.VectorEnv:
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode='sync',
                        vector_kwargs={'autoreset_mode': AutoresetMode.SAME_STEP},
                        wrappers=[LanguageInfo])


class FakePrior:
    """A fixed categorical or Gaussian prior that records its calls and burns global RNG."""

    def __init__(self, discrete: bool, action_dim: int = 1, available: bool = True):
        self.discrete, self.action_dim, self.available = discrete, action_dim, available
        self.calls = []

    def __call__(self, observations, instructions):
        self.calls.append((observations.copy(), list(instructions)))
        random.random(), np.random.rand(), torch.randn(3)  # must not perturb training
        if not self.available:
            return None
        n = len(observations)
        if self.discrete:
            return SimpleNamespace(logits=np.tile([2.0, -2.0], (n, 1)).astype(np.float32))
        return SimpleNamespace(mean=np.full((n, self.action_dim), 1.0, np.float32),
                               std=np.full((n, self.action_dim), 0.3, np.float32))


def small_config(**overrides) -> PPOConfig:
    base = {'num_steps': 32, 'minibatch_size': 32, 'update_epochs': 2, 'learning_rate': 1e-3}
    return PPOConfig(**{**base, **overrides})


def guided(prior, **settings) -> PriorGuidance:
    return PriorGuidance(GuidanceConfig(**settings), prior)


def params_of(agent: PPO) -> list:
    return [p.detach().clone() for p in agent.policy.parameters()]


def prior_kl_on(agent: PPO, prior: FakePrior, raw_obs: np.ndarray) -> float:
    with torch.no_grad():
        obs = torch.from_numpy(agent.obs_normalizer.normalize(raw_obs))
        guidance = guided(prior)
        guidance.bind(1, 1, agent.policy)
        target = guidance.to_params(prior(raw_obs, [INSTRUCTION] * len(raw_obs)), len(raw_obs))
        return policy_prior_kl(agent.policy.dist_params(obs), target, 'reverse').mean().item()


def test_prior_queried_once_per_rollout_with_raw_observations_and_instructions():
    prior = FakePrior(discrete=True)
    agent = PPO(small_config(), make_envs(), guided(prior, beta=0.5)).learn(2 * 64)
    assert len(prior.calls) == 2
    observations, instructions = prior.calls[-1]
    assert observations.shape == (64, 4) and instructions == [INSTRUCTION] * 64
    assert np.array_equal(observations, agent.guidance.raw_obs.reshape(64, 4))
    assert [h['lago/guidance_active'] for h in agent.history] == [1.0, 1.0]
    assert all(np.isfinite(h['lago/kl_prior']) and h['lago/beta'] == 0.5 for h in agent.history)


@pytest.mark.parametrize('env_id', ['CartPole-v1', 'Pendulum-v1'])
def test_prior_subset_is_drawn_per_rollout_and_still_pulls_toward_the_prior(env_id):
    prior = FakePrior(discrete=env_id == 'CartPole-v1')
    config = {'num_steps': 64, 'minibatch_size': 64, 'update_epochs': 4, 'learning_rate': 3e-3}
    agent = PPO(small_config(**config), make_envs(env_id),
                guided(prior, beta=1.0, prior_states=24)).learn(6 * 128)
    assert [len(obs) for obs, _ in prior.calls] == [24] * 6
    first, second = (obs for obs, _ in prior.calls[:2])
    assert not np.array_equal(first, second)
    rows = agent.guidance.prior_row
    assert (rows >= 0).sum() == 24 and sorted(rows[rows >= 0].tolist()) == list(range(24))
    raw_obs = agent.guidance.raw_obs.reshape(-1, agent.policy.obs_dim)
    assert np.array_equal(raw_obs[(rows >= 0).numpy()], prior.calls[-1][0])
    initial = prior_kl_on(PPO(small_config(), make_envs(env_id)), prior, raw_obs)
    assert prior_kl_on(agent, prior, raw_obs) < 0.5 * initial


def test_learn_callback_sees_every_update_and_can_stop_training(tmp_path):
    seen = []

    def callback(agent, stats):
        seen.append((agent.update_index, stats['losses/value_loss']))
        return agent.update_index < 2

    agent = PPO(small_config(), make_envs(), run_dir=tmp_path).learn(10 * 64, callback=callback)
    agent.close()
    assert [update for update, _ in seen] == [1, 2] and agent.global_step == 128
    assert PPO.load(tmp_path / 'checkpoint.pt', make_envs()).global_step == 128


def test_unavailable_prior_skips_the_kl_term():
    unavailable = guided(FakePrior(True, available=False), beta=0.5)
    agent = PPO(small_config(), make_envs(), unavailable)
    agent.learn(64)
    assert agent.history[0]['lago/guidance_active'] == 0.0
    assert np.isnan(agent.history[0]['lago/kl_prior'])


@pytest.mark.parametrize('env_id', ['CartPole-v1', 'Pendulum-v1'])
def test_beta_zero_is_bit_identical_to_vanilla(env_id):
    prior = FakePrior(discrete=env_id == 'CartPole-v1')
    vanilla = PPO(small_config(), make_envs(env_id)).learn(3 * 64)
    guided_off = PPO(small_config(), make_envs(env_id), guided(prior, beta=0.0)).learn(3 * 64)
    for a, b in zip(params_of(vanilla), params_of(guided_off), strict=True):
        assert torch.equal(a, b)
    assert prior.calls == []
    assert vanilla.history[-1]['losses/value_loss'] == guided_off.history[-1]['losses/value_loss']


@pytest.mark.parametrize('env_id', ['CartPole-v1', 'Pendulum-v1'])
def test_positive_beta_pulls_the_policy_toward_the_prior(env_id):
    prior = FakePrior(discrete=env_id == 'CartPole-v1')
    config = {'num_steps': 64, 'minibatch_size': 64, 'update_epochs': 4, 'learning_rate': 3e-3}
    vanilla = PPO(small_config(**config), make_envs(env_id)).learn(6 * 128)
    agent = PPO(small_config(**config), make_envs(env_id), guided(prior, beta=1.0)).learn(6 * 128)
    raw_obs = agent.guidance.raw_obs.reshape(-1, agent.policy.obs_dim)
    initial = prior_kl_on(PPO(small_config(), make_envs(env_id)), prior, raw_obs)
    final_guided = prior_kl_on(agent, prior, raw_obs)
    assert final_guided < 0.5 * initial
    assert final_guided < 0.5 * prior_kl_on(vanilla, prior, raw_obs)
    logged = [h['lago/kl_prior'] for h in agent.history]
    assert logged[-1] < logged[0]


def test_continuous_log_probs_are_of_the_unclipped_gaussian_action():
    agent = PPO(small_config(num_steps=16), make_envs('MountainCarContinuous-v0'))
    agent.collect_rollout()
    buf = agent.buffer
    assert buf.actions.abs().max() > 1.0  # std 1 around mean ~0 overshoots the [-1, 1] bounds
    mean, std = agent.policy.dist_params(buf.obs.reshape(-1, 2))
    expected = torch.distributions.Normal(mean, std).log_prob(buf.actions.reshape(-1, 1)).sum(-1)
    assert torch.allclose(buf.log_probs.reshape(-1), expected.detach(), atol=1e-5)
    assert np.abs(agent.predict(np.full((4, 2), 50.0, np.float32))).max() <= 1.0


@pytest.mark.parametrize('env_id', ['CartPole-v1', 'Pendulum-v1'])
def test_checkpoint_resume_gives_identical_next_updates(tmp_path, env_id):
    prior = FakePrior(discrete=env_id == 'CartPole-v1')
    config = small_config(anneal_lr=True)
    settings = {'beta': 0.2, 'beta_schedule': 'linear', 'beta_final': 0.05,
                'beta_decay_steps': 256}
    uninterrupted = PPO(config, make_envs(env_id), guided(prior, **settings)).learn(2 * 64)
    path = uninterrupted.save(tmp_path / 'ckpt.pt')
    uninterrupted.reset_envs()  # what a resumed run does with its fresh envs
    uninterrupted.learn(4 * 64)
    resumed = PPO.load(path, make_envs(env_id), guided(prior, **settings)).learn(4 * 64)
    for a, b in zip(params_of(uninterrupted), params_of(resumed), strict=True):
        assert torch.equal(a, b)
    assert resumed.global_step == uninterrupted.global_step == 256
    assert np.array_equal(resumed.obs_normalizer.rms.mean, uninterrupted.obs_normalizer.rms.mean)
    for key in ('losses/policy_loss', 'losses/value_loss', 'lago/kl_prior', 'lago/beta',
                'charts/learning_rate'):
        assert resumed.history[-1][key] == uninterrupted.history[-1][key]
    assert torch.equal(resumed.generator.get_state(), uninterrupted.generator.get_state())


class FailingEnvs:
    """Vector envs whose step raises once, `fail_after` steps after `arm()` (a lost bridge)."""

    def __init__(self, envs):
        self.envs, self.countdown = envs, None

    def arm(self, fail_after: int) -> None:
        self.countdown = fail_after

    def step(self, actions):
        if self.countdown is not None:
            self.countdown -= 1
            if self.countdown < 0:
                self.countdown = None
                raise ConnectionError('bridge lost')
        return self.envs.step(actions)

    def __getattr__(self, name):
        return getattr(self.envs, name)


def test_a_rollout_that_raises_leaves_no_trace_and_training_resumes_exactly():
    prior = FakePrior(discrete=False)
    settings = {'beta': 0.2}

    def agent(envs):
        return PPO(small_config(), envs, guided(prior, **settings))

    clean = agent(make_envs('Pendulum-v1')).learn(64)
    failing_envs = FailingEnvs(make_envs('Pendulum-v1'))
    cut = agent(failing_envs).learn(64)
    before = cut.state_dict()
    failing_envs.arm(fail_after=20)  # mid-rollout: 20 of 32 vector steps taken
    with pytest.raises(ConnectionError):
        cut.collect_rollout()
    after = cut.state_dict()
    assert after['global_step'] == before['global_step'] == 64
    for key in ('obs_normalizer', 'reward_scaler'):
        assert torch.equal(after[key]['rms']['mean'], before[key]['rms']['mean'])
        assert after[key]['rms']['count'] == before[key]['rms']['count']
    assert torch.equal(cut.generator.get_state(), clean.generator.get_state())
    assert after['episodes'] == before['episodes']
    # The trainer resets the envs after an outage; the clean run does the same at that point.
    for a in (clean, cut):
        a.reset_envs()
        a.learn(3 * 64)
    for a, b in zip(params_of(clean), params_of(cut), strict=True):
        assert torch.equal(a, b)


def test_corrupt_or_foreign_checkpoints_raise_clear_errors(tmp_path):
    agent = PPO(small_config(), make_envs())
    path = agent.save(tmp_path / 'ckpt.pt')
    truncated = tmp_path / 'truncated.pt'
    truncated.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(CheckpointError, match='corrupt or truncated'):
        PPO.load(truncated, make_envs())
    foreign = tmp_path / 'foreign.pt'
    torch.save({'weights': torch.zeros(2)}, foreign)
    with pytest.raises(ValueError, match='not a PPO checkpoint'):
        PPO.load(foreign, make_envs())
    with pytest.raises(ValueError, match='does not exist'):
        PPO.load(tmp_path / 'missing.pt', make_envs())
    with pytest.raises(ValueError, match='does not fit'):
        PPO.load(path, make_envs('Pendulum-v1'))


def test_run_dir_metrics_resume_without_duplicate_rows(tmp_path):
    run_dir = tmp_path / 'run'
    agent = PPO(small_config(log_interval=1), make_envs(), guided(FakePrior(True)), run_dir)
    agent.learn(2 * 64)
    shutil.copy(run_dir / 'checkpoint.pt', tmp_path / 'after2.pt')
    agent.learn(3 * 64)
    agent.close()
    resumed = PPO.load(tmp_path / 'after2.pt', make_envs(), guided(FakePrior(True)), run_dir)
    resumed.learn(4 * 64)
    resumed.close()
    columns = read_metrics(run_dir / 'metrics.csv')
    assert columns['global_step'] == [64, 128, 192, 256]
    for key in ('charts/SPS', 'losses/value_loss', 'losses/policy_loss', 'losses/entropy',
                'losses/approx_kl', 'losses/clipfrac', 'losses/explained_variance', 'lago/beta',
                'lago/kl_prior', 'lago/guidance_active', 'charts/episodic_return',
                'charts/success_rate'):
        assert key in columns
    assert list((run_dir / 'tensorboard').glob('events.out.tfevents.*'))
    png = plot_learning_curve(run_dir / 'metrics.csv', run_dir / 'learning_curve.png')
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_episode_succeeds_if_any_step_succeeded_reading_final_info_at_the_end():
    both = np.array([True, True])
    tracker = EpisodeTracker(2)
    assert tracker.step([1.0, 2.0], [False, False],
                        {'success': np.array([True, False]), '_success': both}) == []
    # Both end: env 0 fails on its last step (it succeeded before), env 1 succeeds only on its
    # last step, which SAME_STEP autoreset reports under 'final_info'.
    ended = tracker.step([1.0, 1.0], [True, True],
                         {'final_info': {'success': np.array([False, True]), '_success': both}})
    assert ended == [Episode(0, 2.0, 2, True), Episode(1, 3.0, 2, True)]
    # The top level of an ended env is its next episode's reset info: not this episode's.
    ended = tracker.step([0.5, 0.5], [True, False],
                         {'success': both, '_success': np.array([True, False]),
                          'final_info': {'success': np.array([False, False]), '_success': both}})
    assert ended == [Episode(0, 0.5, 1, False)]
    assert tracker.successes.tolist() == [False, False] and tracker.lengths.tolist() == [0, 1]


def test_ppo_learns_cartpole_and_evaluates_deterministically():
    config = PPOConfig(num_steps=128, minibatch_size=128, update_epochs=4, learning_rate=2.5e-3)
    agent = PPO(config, make_envs(num_envs=4)).learn(12_000)
    random_policy_return = 22.0  # CartPole-v1 under uniform random actions
    assert agent.history[-1]['charts/episodic_return'] > 2.5 * random_policy_return
    result = evaluate(agent.predict, make_envs(num_envs=3), episodes=5, seed=123)
    assert len(result.returns) == 5 and result.mean_length == pytest.approx(result.mean_return)
    assert result.mean_return > 3 * random_policy_return
    assert result.success_rate == np.mean([length == 500 for length in result.lengths])


def test_load_config_reads_yaml_and_dotted_overrides(tmp_path):
    path = tmp_path / 'train.yaml'
    path.write_text('task: clevr-robot\nseed: 3\nppo:\n  beta: 0.1\n  num_steps: 256\n')
    cfg = load_config(path, ['ppo.learning_rate=3e-4', 'total_timesteps=1e5',
                             'ppo.hidden_sizes=[32, 32]', 'ppo.beta_schedule=linear',
                             'prior=null', 'ppo.target_kl=0.02'])
    assert (cfg.task, cfg.seed, cfg.total_timesteps, cfg.prior) == ('clevr-robot', 3, 100000, None)
    assert cfg.ppo.learning_rate == 3e-4 and isinstance(cfg.ppo.learning_rate, float)
    assert (cfg.guidance.beta, cfg.ppo.num_steps, cfg.ppo.hidden_sizes) == (0.1, 256, (32, 32))
    assert cfg.ppo.seed == 3 and cfg.guidance.beta_schedule == 'linear'
    assert cfg.ppo.target_kl == 0.02
    assert load_config(None, config_to_dict_overrides(cfg)) == cfg


def config_to_dict_overrides(cfg) -> list:
    """Round trip through the YAML-safe dict, written back as overrides."""
    data = config_to_dict(cfg)
    ppo = data.pop('ppo')
    return [f'{k}={yaml.safe_dump(v, default_flow_style=True).strip()}' for k, v in data.items()
            ] + [f'ppo.{k}={yaml.safe_dump(v, default_flow_style=True).strip()}'
                 for k, v in ppo.items()]


@pytest.mark.parametrize('override, message', [
    ('epochs=3', r"unknown config key\(s\) \['epochs'\]; valid keys: task, seed"),
    ('ppo.lr=0.1', r'ppo\.learning_rate'),
    ('ppo.seed=1', r"\['ppo\.seed'\]"),
    ('ppo.beta', 'must look like key=value'),
    ('=3', 'must look like key=value'),
    ('num_envs=two', 'num_envs must be an integer'),
    ('num_envs=2.5', 'num_envs must be an integer'),
    ('ppo.norm_adv=3', 'ppo.norm_adv must be true or false'),
    ('ppo.hidden_sizes=64', 'ppo.hidden_sizes must be a list'),
    ('ppo.kl_direction=sideways', r"ppo.kl_direction is 'sideways'; expected one of"),
    ('ppo.beta_schedule=cosine', r"ppo.beta_schedule is 'cosine'; expected one of"),
    ('total_timesteps=-5', 'total_timesteps is -5; expected a positive integer'),
    ('total_timesteps=0', 'total_timesteps is 0; expected a positive integer'),
    ('task.name=x', 'task must be a string'),
    ('vector_env=async', r"vector_env is 'async'; expected one of \('sync', 'split'\)"),
    ('prior_backend=tensorrt', "prior_backend is 'tensorrt'"),
])
def test_load_config_rejects_bad_overrides(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])
    assert issubclass(ConfigError, ValueError)


def test_run_training_writes_artefacts_and_resumes(tmp_path, monkeypatch):
    from lago_ros.envs import registry

    monkeypatch.setattr(registry, 'make_vec_env',
                        lambda task, num_envs, seed, split='train', vector_env='sync':
                        make_envs(num_envs=num_envs))
    overrides = ['task=clevr-robot', 'num_envs=2', 'ppo.num_steps=32', 'ppo.minibatch_size=32',
                 'ppo.update_epochs=1', 'eval_episodes=3', f'run_dir={tmp_path}',
                 'checkpoint_every=1']
    summary = run_training(load_config(None, overrides + ['total_timesteps=128']))
    assert summary['global_step'] == 128 and len(summary['eval']['returns']) == 3
    assert summary['eval']['mean_return'] == pytest.approx(np.mean(summary['eval']['returns']))
    again = evaluate_checkpoint(tmp_path / 'checkpoint.pt', episodes=3, num_envs=2)
    assert again.returns == summary['eval']['returns']  # same seeds, deterministic policy
    from lago_ros.rl.run import RUN_FILES  # the trainer node's folder is checked against it too

    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(RUN_FILES)
    assert load_config(tmp_path / 'config.yaml') == load_config(None, overrides + [
        'total_timesteps=128'])
    resumed = run_training(load_config(None, overrides + ['total_timesteps=192']))
    assert (resumed['global_step'], resumed['updates']) == (192, 3)
    assert read_metrics(tmp_path / 'metrics.csv')['global_step'] == [64, 128, 192]
    with pytest.raises(ConfigError, match='learning_rate'):
        run_training(load_config(None, overrides + ['total_timesteps=256',
                                                    'ppo.learning_rate=0.1']))
    with pytest.raises(ConfigError, match=r'task \(clevr-robot -> reach-v3\)'):
        run_training(load_config(None, overrides + ['total_timesteps=256', 'task=reach-v3']))
    with pytest.raises(ConfigError, match=r'different settings: ppo\.beta \(0\.0 -> 0\.2\);'):
        run_training(load_config(None, overrides + ['total_timesteps=256', 'ppo.beta=0.2']))
    assert read_metrics(tmp_path / 'metrics.csv')['global_step'] == [64, 128, 192]


def test_failed_training_leaves_no_run_folder(tmp_path, monkeypatch):
    from lago_ros.envs import registry

    def broken_envs(*args, **kwargs):
        envs = make_envs()
        envs.step = lambda actions: (_ for _ in ()).throw(ValueError('the simulator died'))
        return envs

    monkeypatch.setattr(registry, 'make_vec_env', broken_envs)
    for overrides in (['prior=' + str(tmp_path / 'no-such-prior')], []):
        run_dir = tmp_path / 'run'
        with pytest.raises(ValueError):
            run_training(load_config(None, ['task=clevr-robot', 'num_envs=2', f'run_dir={run_dir}',
                                            'ppo.num_steps=32', 'total_timesteps=64']
                                     + overrides))
        assert not run_dir.exists()


@pytest.mark.parametrize('content', [bytes(range(256)) * 40, b'\x08\x07\x12\x07pytorch' * 50])
def test_a_file_that_is_no_checkpoint_gives_one_line(tmp_path, capsys, content):
    from lago_ros.cli import main

    path = tmp_path / 'policy.onnx'
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match='not a checkpoint'):
        PPO.load(path, make_envs())
    assert main(['evaluate', '--checkpoint', str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and 'weights_only' not in err, err
    assert 'expected a file written by PPO.save' in err


def test_checkpoints_from_before_the_guidance_split_load_and_resume_checks_them(tmp_path):
    from lago_ros.rl.checkpoint import save_checkpoint
    from lago_ros.rl.run import resume_conflicts

    settings = {'beta': 0.2, 'beta_schedule': 'linear', 'kl_direction': 'forward'}
    agent = PPO(small_config(), make_envs(), guided(FakePrior(True), **settings)).learn(64)
    state = agent.state_dict()
    state['config'].update(state.pop('guidance')['config'])  # the layout of older checkpoints
    save_checkpoint(tmp_path / 'old.pt', state)
    resumed = PPO.load(tmp_path / 'old.pt', make_envs(), guided(FakePrior(True), **settings))
    assert resumed.global_step == 64 and resumed.config == agent.config
    from lago_ros.rl.checkpoint import load_checkpoint

    same = ['ppo.num_steps=32', 'ppo.minibatch_size=32', 'ppo.update_epochs=2',
            'ppo.learning_rate=1e-3', 'ppo.beta_schedule=linear', 'ppo.kl_direction=forward']
    stored = load_checkpoint(tmp_path / 'old.pt')
    assert resume_conflicts(stored, load_config(None, same + ['ppo.beta=0.2'])) == []
    assert resume_conflicts(stored, load_config(None, same + ['ppo.beta=0.3'])) == [
        'ppo.beta (0.2 -> 0.3)']
