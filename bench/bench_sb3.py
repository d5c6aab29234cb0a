# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
PPO training throughput: ours vs Stable-Baselines3, and LaGO vs vanilla PPO.

Run: ``.venv/bin/python -m bench.bench_sb3 [--quick]`` from the repository root, with
``pip install -r bench/requirements.txt`` (stable-baselines3) done first.

1. Vanilla PPO (lago_ros.rl.ppo, beta = 0) vs SB3 PPO on reach-v3 from registry.make_env, with
   the same hyper-parameters (4 envs, n_steps 512, minibatch 256, 10 epochs, 64x64 tanh MLPs,
   clipped value loss) and the same normalisation (ours: running obs and return statistics;
   SB3: VecNormalize). Ours runs its envs as training does by default (TrainConfig.vector_env,
   'split': half of them in one worker process); SB3 runs its default DummyVecEnv (the ratio,
   goal >= 1.5x) and, as a second reference, SubprocVecEnv (one process per env).
2. LaGO (beta 0.1, the default MiniLM prior, freshly initialised, queried in-process on
   PPOConfig.prior_states states per rollout) vs vanilla PPO. Only the cost matters here, and a
   trained prior costs the same per query. Goal: LaGO >= 0.7x vanilla's steps/s.

The policies run torch on one thread (ours pins its policy to one thread by default; SB3 gets the
same); the prior runs on every core, as in training. The contenders alternate over the rounds,
each timed after a warm-up rollout, so machine load hits them alike; the median round of each is
reported.
"""

import argparse
import os
import statistics
import time
from typing import Callable, Dict, List

import torch

TASK = 'reach-v3'
NUM_ENVS = 4
NUM_STEPS = 512
MINIBATCH = 256
EPOCHS = 10
LAGO_BETA = 0.1

Trainer = Callable[[int], None]
"""Train for this many more rollouts."""


def ours_trainer(num_envs: int = NUM_ENVS, num_steps: int = NUM_STEPS, beta: float = 0.0,
                 prior=None, **ppo) -> Trainer:
    """Return a Trainer running lago_ros PPO on reach-v3 (LaGO when beta > 0 and a prior)."""
    from lago_ros.envs.registry import make_vec_env
    from lago_ros.rl.experiment import TrainConfig
    from lago_ros.rl.guidance import GuidanceConfig, PriorGuidance
    from lago_ros.rl.ppo import PPO, PPOConfig

    config = PPOConfig(num_steps=num_steps, minibatch_size=MINIBATCH, update_epochs=EPOCHS,
                       log_interval=10 ** 6, **ppo)
    envs = make_vec_env(TASK, num_envs, 0, vector_env=TrainConfig.vector_env)
    agent = PPO(config, envs, PriorGuidance(GuidanceConfig(beta=beta), prior))

    def train(rollouts: int) -> None:
        agent.learn(agent.global_step + rollouts * agent.batch_size)

    return train


def sb3_trainer(num_envs: int = NUM_ENVS, num_steps: int = NUM_STEPS,
                subproc: bool = False) -> Trainer:
    """Return a Trainer running SB3 PPO with our defaults on the same envs (DummyVecEnv or not)."""
    from stable_baselines3 import PPO as SB3PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecNormalize

    from lago_ros.envs.registry import make_env

    vec_env = SubprocVecEnv if subproc else DummyVecEnv
    envs = VecNormalize(vec_env([lambda i=i: make_env(TASK, seed=i) for i in range(num_envs)]),
                        gamma=0.99)
    model = SB3PPO('MlpPolicy', envs, learning_rate=3e-4, n_steps=num_steps,
                   batch_size=MINIBATCH, n_epochs=EPOCHS, gamma=0.99, gae_lambda=0.95,
                   clip_range=0.2, clip_range_vf=0.2, ent_coef=0.0, vf_coef=0.5,
                   max_grad_norm=0.5, policy_kwargs={'net_arch': [64, 64]}, device='cpu',
                   seed=0, verbose=0)
    batch = num_envs * num_steps

    def train(rollouts: int) -> None:
        model.learn(rollouts * batch, reset_num_timesteps=False)

    return train


def fresh_prior():
    """
    Return `predict` of a freshly initialised default (MiniLM) prior sized for reach-v3.

    It runs on every core, as in training (lago train leaves torch's default thread count): the
    prior is queried between rollouts, when the envs and the policy are idle.
    """
    from lago_ros.envs.registry import get_task
    from lago_ros.prior.model import ActionPrior, PriorConfig
    from lago_ros.rl.ppo import torch_threads

    spec = get_task(TASK)
    torch.manual_seed(0)
    config = PriorConfig(obs_dim=spec.obs_dim, action_type=spec.action_type,
                         action_dim=spec.action_dim, task=TASK)
    prior = ActionPrior(config).eval()

    def predict(observations, instructions):
        with torch_threads(os.cpu_count() or 1):
            return prior.predict(observations, instructions)

    return predict


def compare(trainers: Dict[str, Trainer], batch: int, rounds: int,
            rollouts: int) -> Dict[str, float]:
    """Median steps/s of each trainer over `rounds` alternating rounds of `rollouts` rollouts."""
    for train in trainers.values():
        train(1)
    samples: Dict[str, List[float]] = {name: [] for name in trainers}
    for _ in range(rounds):
        for name, train in trainers.items():
            start = time.perf_counter()
            train(rollouts)
            samples[name].append(rollouts * batch / (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in samples.items()}


def budget(quick: bool) -> Dict[str, int]:
    """Return the rounds and rollouts per round for quick or full mode."""
    return {'rounds': 2, 'rollouts': 1} if quick else {'rounds': 3, 'rollouts': 3}


def measure_sb3(quick: bool = False) -> Dict[str, float]:
    """P1: steps/s of our vanilla PPO and of SB3 PPO (DummyVecEnv and SubprocVecEnv)."""
    import stable_baselines3

    torch.set_num_threads(1)
    sps = compare({'ours': ours_trainer(), 'sb3': sb3_trainer(),
                   'sb3_subproc': sb3_trainer(subproc=True)}, NUM_ENVS * NUM_STEPS,
                  **budget(quick))
    return {'ours_sps': sps['ours'], 'sb3_sps': sps['sb3'], 'ratio': sps['ours'] / sps['sb3'],
            'sb3_subproc_sps': sps['sb3_subproc'],
            'ratio_subproc': sps['ours'] / sps['sb3_subproc'],
            'sb3_version': stable_baselines3.__version__}


def measure_lago(quick: bool = False) -> Dict[str, float]:
    """P2: steps/s of LaGO (fresh MiniLM prior) and of vanilla PPO, side by side."""
    from lago_ros.rl.guidance import GuidanceConfig

    torch.set_num_threads(1)
    sps = compare({'lago': ours_trainer(beta=LAGO_BETA, prior=fresh_prior()),
                   'vanilla': ours_trainer()}, NUM_ENVS * NUM_STEPS, **budget(quick))
    return {'lago_sps': sps['lago'], 'vanilla_sps': sps['vanilla'],
            'ratio': sps['lago'] / sps['vanilla'], 'prior_states': GuidanceConfig.prior_states,
            'prior': 'default MiniLM (prefix attention), freshly initialised, all cores'}


def main() -> None:
    """Print both comparisons."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='fewer and shorter rounds')
    args = parser.parse_args()
    print(f'{TASK}, {NUM_ENVS} envs x {NUM_STEPS} steps, minibatch {MINIBATCH}, {EPOCHS} '
          f'epochs, torch threads 1, cpus {os.cpu_count()}, load {os.getloadavg()[0]:.1f}')
    p1 = measure_sb3(args.quick)
    print(f'vanilla PPO  ours {p1["ours_sps"]:8.1f} steps/s   SB3 {p1["sb3_sps"]:8.1f} steps/s'
          f'   ratio {p1["ratio"]:.2f}x (goal >= 1.5x)')
    print(f'             SB3 SubprocVecEnv {p1["sb3_subproc_sps"]:8.1f} steps/s   ratio '
          f'{p1["ratio_subproc"]:.2f}x (reference)')
    p2 = measure_lago(args.quick)
    print(f'LaGO {p2["lago_sps"]:8.1f} steps/s   vanilla {p2["vanilla_sps"]:8.1f} steps/s   '
          f'ratio {p2["ratio"]:.2f}x (goal >= 0.7x; {p2["prior"]}, {p2["prior_states"]} '
          'states per rollout)')


if __name__ == '__main__':
    main()
