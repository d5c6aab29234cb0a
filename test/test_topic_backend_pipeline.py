# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Demonstrations, a prior and guided training, all through the sim bridge's topic backend.

Over real processes, as a user runs them (docs/robot.md): the stand-in arm (lockstep,
`step_mode: command`) and a bridge with `backend:=topics` whose episodes end at success or after
STEPS steps; `lago collect-demos --bridge` records the scripted expert through them; `lago
train-prior` clones a tiny prior on those demos; a prior service and a trainer node (this
process, one executor) run two guided PPO updates and a one-episode evaluation on the same
bridge. The recorded states are checked against the same seeded env in this process, and the
bridge's own step count against the demos' and the trainer's. Every wait has a deadline;
nothing asserts a duration.
"""

import os
import re

import numpy as np
import pytest
import yaml

rclpy = pytest.importorskip('rclpy')
from node_process import NodeProcess  # noqa: E402, I100
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from test_topic_backend import InProcessReach, robot_config, SEED, START, WAIT  # noqa: E402

pytestmark = pytest.mark.ros
STEPS = 100
"""Time limit of an episode; the reach expert succeeds within 39-83 steps on these seeds."""
EPISODES = 3
ROLLOUT, UPDATES = 64, 2
STEP_COUNT = r'episode (\d+) started; (\d+) steps so far'


@pytest.fixture(scope='module')
def bridge(tmp_path_factory):
    """(bridge node name, folder, bridge process) over a stand-in arm."""
    ns, name = f'/pipe_arm_{os.getpid()}', f'pipe_bridge_{os.getpid()}'
    folder = tmp_path_factory.mktemp('pipeline')
    config_path = folder / 'robot.yaml'
    config_path.write_text(yaml.safe_dump(robot_config(
        ns, time_limit_steps=STEPS, terminate_on_success=True)))
    arm = NodeProcess('', argv=['-m', 'lago_ros.sim.standin_arm', '--ros-args',
                                '-r', f'__ns:={ns}', '-p', f'seed:={SEED}',
                                '-p', 'step_mode:=command'])
    processes = [arm]
    try:
        arm.wait_for('stand-in arm ready', START)
        processes.append(NodeProcess('sim_bridge', '-r', f'__node:={name}', '-p',
                                     'backend:=topics', '-p', f'robot_config:={config_path}',
                                     '-p', 'num_envs:=1', '-p', f'seed:={SEED}'))
        processes[-1].wait_for(r'hosting 1 x reach-v3', START)
        yield f'/{name}', folder, processes[-1]
    finally:
        for process in reversed(processes):
            process.stop()


def _steps_so_far(process) -> int:
    """Return the bridge's step count at the latest episode start it logged."""
    return int(re.findall(STEP_COUNT, process.log)[-1][1])


@pytest.fixture(scope='module')
def demos(bridge):
    """Record EPISODES expert episodes through the bridge with the `lago` command."""
    name, folder, process = bridge
    out = folder / 'demos'
    collector = NodeProcess('', argv=[
        '-m', 'lago_ros.cli', 'collect-demos', '--bridge', name, '--task', 'reach-v3',
        '--episodes', str(EPISODES), '--seed', str(SEED), '--keep-failed', '--out', str(out),
        '--step-timeout', str(WAIT), '--bridge-wait-timeout', str(WAIT)])
    try:
        assert collector.wait(START) == 0, collector.log[-3000:]
    finally:
        collector.stop()
    assert f'demonstrations written to {out}' in collector.log
    return out


def test_expert_demos_through_the_bridge_hold_what_the_arm_did(bridge, demos):
    """The demo folder holds the stand-in's states, the expert's actions, the bridge's flags."""
    from lago_ros.data.demos import load_demos
    from lago_ros.envs.registry import make_expert

    data = load_demos(demos)
    meta = data.metadata
    assert (meta['task'], meta['bridge'], meta['episodes']) == ('reach-v3', bridge[0], EPISODES)
    assert data.observations.shape == (meta['transitions'], 39)
    assert np.isfinite(data.actions).all() and np.abs(data.actions).max() <= 1.0
    reference, expert = InProcessReach(), make_expert('reach-v3', None)
    successes = []
    for episode in range(EPISODES):
        rows = np.flatnonzero(data.episode_ids == episode)
        obs, success = data.observations[rows], data.successes[rows]
        assert len(set(data.instructions[rows])) == 1 and data.instructions[rows[0]]
        # The bridge ends an episode at success (terminate_on_success) or at its time limit.
        ended = data.terminations[rows] | data.truncations[rows]
        assert ended.tolist() == [False] * (len(rows) - 1) + [True]
        assert not success[:-1].any()
        if success[-1]:
            assert data.terminations[rows[-1]] and not data.truncations[rows[-1]]
        else:
            assert data.truncations[rows[-1]] and len(rows) == STEPS
        # The same episode in this process, run on for the whole time limit: Meta-World's own
        # success may come a step after the bridge's rule (tool centre versus finger pads).
        local_obs, local_rewards, local_success = reference.rollout(
            reference.episode_with_goal(obs[0, 36:39]), lambda o: np.stack(
                [expert(x) for x in o]), STEPS)
        np.testing.assert_allclose(obs, local_obs[:len(rows)], atol=2e-3)
        np.testing.assert_allclose(data.actions[rows], [expert(o) for o in obs], atol=1e-6)
        assert data.rewards[rows].sum() == pytest.approx(local_rewards[:len(rows)].sum(),
                                                         rel=0.05)
        assert success[-1] == local_success.any()
        successes.append(bool(success[-1]))
    assert any(successes), 'the expert reached no goal: the success rule was not exercised'
    assert meta['success_rate'] == pytest.approx(np.mean(successes))
    # The last episode's end started the next one inside its step: the bridge counted them all.
    bridge[2].wait_for(rf'episode \d+ started; {meta["transitions"]} steps so far', WAIT)


def test_guided_training_through_the_bridge(bridge, demos, tmp_path):
    """A prior cloned on the bridge's demos guides two PPO updates over the same bridge."""
    from lago_ros.cli import main
    from lago_ros.data.demos import load_demos
    from lago_ros.nodes.prior_service import PriorService
    from lago_ros.nodes.trainer import Trainer
    from lago_ros.prior.backbone import tiny_random_backbone
    from lago_ros.rl.checkpoint import load_checkpoint
    from lago_ros.rl.run import RUN_FILES

    name, _, process = bridge
    prior_dir = tmp_path / 'prior'
    assert main(['train-prior', '--demos', str(demos), '--out', str(prior_dir),
                 f'prior.backbone={tiny_random_backbone(tmp_path / "backbone")}',
                 'prior.projector_hidden=8', 'prior.head_hidden=8', 'bc.epochs=2',
                 'bc.progress=false']) == 0
    demo_steps = load_demos(demos).metadata['transitions']
    process.wait_for(rf'{demo_steps} steps so far', WAIT)  # the demos' steps, all counted
    run_dir = tmp_path / 'run'
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    nodes = []
    try:
        nodes.append(PriorService(context=context, namespace='/pipe', parameter_overrides=[
            Parameter('prior_path', value=str(prior_dir)), Parameter('backend', value='torch'),
            Parameter('diagnostics_rate', value=0.0)]))
        executor.add_node(nodes[0])
        values = {'bridge': name, 'prior_service': '/pipe/prior_service/query',
                  'task': 'reach-v3', 'num_envs': 1, 'seed': SEED,
                  'total_timesteps': UPDATES * ROLLOUT, 'run_dir': str(run_dir),
                  'eval_episodes': 1, 'checkpoint_every': 1, 'ppo.num_steps': ROLLOUT,
                  'ppo.minibatch_size': 32, 'ppo.update_epochs': 1, 'ppo.hidden_sizes': [16],
                  'ppo.beta': 0.1, 'ppo.beta_schedule': 'constant', 'step_timeout': WAIT,
                  'bridge_wait_timeout': WAIT, 'prior_timeout': WAIT}
        trainer = Trainer(executor, context=context, parameter_overrides=[
            Parameter(key, value=value) for key, value in values.items()])
        nodes.append(trainer)
        updates, publish = [], trainer.publish_metrics

        def record(agent, stats):
            updates.append((agent.update_index, agent.global_step, dict(stats)))
            publish(agent, stats)

        trainer.publish_metrics = record
        trainer.train()
        summary = trainer.evaluate()
    finally:
        for node in reversed(nodes):
            node.destroy_node()
        executor.shutdown()
        rclpy.shutdown(context=context)
    assert [(u, s) for u, s, _ in updates] == [(1, ROLLOUT), (2, 2 * ROLLOUT)]
    for _, _, stats in updates:
        assert stats['lago/guidance_active'] == 1.0, stats
        assert stats['lago/beta'] == pytest.approx(0.1)
        assert np.isfinite(stats['lago/kl_prior']) and stats['lago/kl_prior'] > 0.0
    assert (summary['global_step'], summary['updates']) == (2 * ROLLOUT, UPDATES)
    assert summary['prior'] == '/pipe/prior_service/query'
    assert len(summary['eval']['lengths']) == 1
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(RUN_FILES)
    assert load_checkpoint(run_dir / 'checkpoint.pt')['global_step'] == 2 * ROLLOUT
    header, *rows = (run_dir / 'metrics.csv').read_text().splitlines()
    assert 'lago/kl_prior' in header.split(',') and len(rows) == UPDATES
    # Every step the trainer counted and evaluated is one the bridge took on the arm: the
    # evaluation's episode ended inside its last step, which started (and logged) the next.
    expected = demo_steps + 2 * ROLLOUT + summary['eval']['lengths'][0]
    process.wait_for(rf'episode \d+ started; {expected} steps so far', WAIT)
    assert _steps_so_far(process) == expected


@pytest.mark.parametrize('extra, message', [
    (['--minari', 'lago/reach-v3/robot-v0'], '--bridge writes a demo folder'),
    (['--out', '{out}', '--bridge-wait-timeout', '1'],
     'bridge /nobody_here did not appear within 1.0 s'),
])
def test_collect_demos_through_a_bridge_refuses_in_one_line(extra, message, tmp_path):
    out = tmp_path / 'demos'
    collector = NodeProcess('', argv=[
        '-m', 'lago_ros.cli', 'collect-demos', '--bridge', '/nobody_here', '--task',
        'reach-v3', *[arg.format(out=out) for arg in extra]])
    try:
        assert collector.wait(START) == 2, collector.log[-3000:]
    finally:
        collector.stop()
    errors = [line for line in collector.lines if 'error:' in line]
    assert len(errors) == 1 and message in errors[0], collector.log[-3000:]
    assert not out.exists() and not list(tmp_path.iterdir())
