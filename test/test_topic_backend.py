# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The sim bridge's topic backend over real processes: a stand-in arm, the bridge, this client.

The stand-in (`lago_ros.sim.standin_arm`, Meta-World reach-v3 behind JointState, PoseStamped,
TwistStamped and a Trigger reset) steps once per policy command here (`step_mode: command`), so
the comparison with the in-process env holds step for step however loaded the machine is.
Every wait has a generous deadline; nothing asserts a duration.
"""

import os
from pathlib import Path

import numpy as np
import pytest
import yaml

rclpy = pytest.importorskip('rclpy')
from geometry_msgs.msg import TwistStamped  # noqa: E402, I100
from lago_interfaces.srv import StepEnvs  # noqa: E402
from node_process import NodeProcess, wait_until  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from std_msgs.msg import Bool  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from lago_ros.nodes.codec import decode_vec_step, encode_vec_action  # noqa: E402
from lago_ros.nodes.deploy import ESTOP_QOS  # noqa: E402
from lago_ros.nodes.remote import RemoteVecEnv  # noqa: E402

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parents[1]
SEED = 7
STEPS = 100
"""Episode length: Meta-World's reach expert succeeds within 39-83 steps on these seeds."""
START = 900.0
"""Deadline for a process to come up: making a Meta-World env took minutes on a loaded box."""
WAIT = 300.0


def robot_config(ns, **changes):
    """Return the example robot config pointed at the stand-in in namespace `ns`."""
    data = yaml.safe_load((ROOT / 'config' / 'robot_backend.yaml').read_text())
    for spec in data['inputs'].values():
        spec['topic'] = spec['topic'].replace('/arm/', f'{ns}/')
        spec['qos'] = 'reliable'
    data['reset']['service'] = f'{ns}/reset'
    for key in ('command_topic', 'gripper_topic'):
        data['command'][key] = data['command'][key].replace('/arm/', f'{ns}/')
    data['estop']['topic'] = f'{ns}/estop'
    # Lockstep with the stand-in: steps wait for its answer (slow under load), no idle stops.
    data.update(time_limit_steps=STEPS, observation_timeout_s=WAIT, discovery_timeout_s=WAIT)
    data['command']['command_timeout_s'] = 600.0
    data['reset']['timeout_s'] = WAIT
    data.update(changes)
    return data


def _bridge(name, config_path):
    return NodeProcess('sim_bridge', '-r', f'__node:={name}', '-p', 'backend:=topics',
                       '-p', f'robot_config:={config_path}', '-p', 'num_envs:=1',
                       '-p', f'seed:={SEED}')


@pytest.fixture(scope='module')
def graph(tmp_path_factory):
    """(ns, bridge name, client node, executor, RemoteVecEnv) over a stand-in and a bridge."""
    ns, bridge = f'/arm_{os.getpid()}', f'robot_bridge_{os.getpid()}'
    folder = tmp_path_factory.mktemp('robot')
    config_path = folder / 'robot.yaml'
    config_path.write_text(yaml.safe_dump(robot_config(ns)))
    arm = NodeProcess('', argv=['-m', 'lago_ros.sim.standin_arm', '--ros-args',
                                '-r', f'__ns:={ns}', '-p', f'seed:={SEED}',
                                '-p', 'step_mode:=command'])
    processes = [arm]
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('topic_backend_test', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        arm.wait_for('stand-in arm ready', START)
        processes.append(_bridge(bridge, config_path))
        processes[-1].wait_for(r'hosting 1 x reach-v3', START)
        envs = RemoteVecEnv(node, executor, 'reach-v3', 1, f'/{bridge}', step_timeout=WAIT)
        assert envs.wait_for_bridge(WAIT)
        yield ns, bridge, node, executor, envs, folder, processes
    finally:
        for process in reversed(processes):
            process.stop()
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=context)


class InProcessReach:
    """The same seeded reach-v3 env in this process, its episodes found by their goal."""

    def __init__(self):
        from lago_ros.envs.registry import make_env

        self.env = make_env('reach-v3', seed=SEED)
        self.env.reset(seed=SEED)  # the stand-in's own first episode

    def episode_with_goal(self, goal, limit=20):
        """Reset until the episode's goal is `goal` (the stand-in and the bridge reset too)."""
        for _ in range(limit):
            obs, _ = self.env.reset()
            if np.allclose(obs[36:39], goal, atol=1e-6):
                return obs
        raise AssertionError(f'no in-process episode with goal {goal} in {limit} resets')

    def rollout(self, obs, act, steps):
        """(observations, rewards, successes) of `steps` steps of `act` from `obs`."""
        observations, rewards, successes = [obs], [], []
        for _ in range(steps):
            obs, reward, _, _, info = self.env.step(act(obs[None])[0])
            observations.append(obs)
            rewards.append(reward)
            successes.append(info['success'])
        return np.array(observations), np.array(rewards), np.array(successes)


@pytest.fixture(scope='module')
def reference():
    return InProcessReach()


def topic_rollout(envs, act, first_obs, steps):
    """(observations, rewards, successes, next first obs) of one episode through the bridge."""
    observations, rewards, successes = [first_obs], [], []
    obs = first_obs[None]
    for t in range(steps):
        obs, reward, terminated, truncated, info = envs.step(act(obs))
        done = bool(terminated[0] or truncated[0])
        assert done == (t == steps - 1), f'episode ended at step {t + 1}, not {steps}'
        observations.append(np.asarray(info['final_obs'][0] if done else obs[0], np.float32))
        rewards.append(reward[0])
        successes.append(info['final_info']['success'][0] if done else info['success'][0])
    return np.array(observations), np.array(rewards), np.array(successes), obs[0]


def _compare(topic, local):
    """Check one trajectory against the other: successes, states and returns."""
    (t_obs, t_rew, t_succ), (l_obs, l_rew, l_succ) = topic, local
    assert t_succ.any() == l_succ.any()
    np.testing.assert_allclose(t_obs, l_obs, atol=2e-3)
    # Rewards: the backend's rule puts the tool centre at a fixed offset from the hand, Meta-World
    # at its finger pads (a few mm apart), so returns agree closely, not exactly.
    assert t_rew.sum() == pytest.approx(l_rew.sum(), rel=0.05)


def test_scripted_expert_through_topics_matches_in_process(graph, reference):
    """Demonstration steps of the scripted expert: the same states, success and returns."""
    from lago_ros.envs.registry import make_expert

    envs = graph[4]
    expert = make_expert('reach-v3', None)

    def act(obs):
        return np.stack([expert(o) for o in obs])

    obs, info = envs.reset(seed=SEED)
    assert info['instruction'][0]
    outcomes = []
    for _ in range(2):
        local_first = reference.episode_with_goal(obs[0, 36:39])
        *topic, obs_next = topic_rollout(envs, act, obs[0], STEPS)
        local = reference.rollout(local_first, act, STEPS)
        _compare(topic, local)
        outcomes.append(bool(topic[2].any()))
        obs = obs_next[None]
    assert outcomes == [True, True]  # the expert reaches both goals, so the rule was exercised


def test_exported_policy_through_topics_matches_in_process(graph, reference, tmp_path):
    from test_onnx_export import export_agent, make_agent

    from lago_ros.export.onnx_policy import OnnxPolicy

    policy = OnnxPolicy(export_agent(make_agent('reach-v3'), 'reach-v3', tmp_path))
    envs = graph[4]
    obs, _ = envs.reset()
    local_first = reference.episode_with_goal(obs[0, 36:39])
    *topic, _ = topic_rollout(envs, policy.act, obs[0], STEPS)
    local = reference.rollout(local_first, policy.act, STEPS)
    _compare(topic, local)
    assert np.ptp(topic[0][:, 0:3], axis=0).max() > 0.01  # the policy moved the hand


def _call(executor, client, request, logs=()):
    assert client.wait_for_service(timeout_sec=WAIT)
    future = client.call_async(request)
    executor.spin_until_future_complete(future, timeout_sec=WAIT)
    assert future.done(), f'{client.srv_name} did not answer:\n' + '\n'.join(
        process.log[-3000:] for process in logs)
    return future.result()


def test_estop_stops_the_arm_refuses_steps_until_rearmed(graph):
    ns, bridge, node, executor, envs = graph[:5]
    logs = graph[6]
    twists = []
    node.create_subscription(TwistStamped, f'{ns}/cmd_vel', twists.append, 10)
    estop = node.create_publisher(Bool, f'{ns}/estop', ESTOP_QOS)
    step_once = node.create_client(StepEnvs, f'/{bridge}/step_once')
    rearm = node.create_client(Trigger, f'/{bridge}_robot/rearm')
    envs.reset()
    forward = StepEnvs.Request(action=encode_vec_action(np.ones((1, 4), np.float32), 0))
    assert _call(executor, step_once, forward, logs).ok
    wait_until(lambda: executor.spin_once(timeout_sec=0.05) or
               any(t.twist.linear.x > 0 for t in twists), WAIT, 'the forward command')
    twists.clear()
    estop.publish(Bool(data=True))
    wait_until(lambda: executor.spin_once(timeout_sec=0.05) or
               any(t.twist.linear.x == 0 for t in twists), WAIT, 'a zero twist on e-stop')
    refused = _call(executor, step_once, forward, logs)
    assert not refused.ok and 'e-stop engaged' in refused.error
    assert all(t.twist.linear.x == 0 for t in twists)
    answer = _call(executor, rearm, Trigger.Request())
    assert not answer.success and 'still reports engaged' in answer.message
    estop.publish(Bool(data=False))
    wait_until(lambda: _call(executor, rearm, Trigger.Request()).success, WAIT, 're-arm')
    resumed = _call(executor, step_once, forward, logs)
    assert resumed.ok, resumed.error
    assert decode_vec_step(resumed.step)[2].observations.shape == (1, 39)


@pytest.mark.parametrize('change, message', [
    (lambda d, ns: (d['inputs']['hand'].update(type='sensor_msgs/JointState'),
                    d['fields']['hand_pos'].update(joints=['x', 'y', 'z'])),
     "wrong message type: topic {ns}/ee_pose carries ['geometry_msgs/msg/PoseStamped']; "
     'input hand expects sensor_msgs/msg/JointState'),
    (lambda d, ns: (d['inputs']['goal'].update(topic=f'{ns}/no_goal'),
                    d.update(discovery_timeout_s=2.0)),
     'missing topic {ns}/no_goal (input goal, geometry_msgs/msg/PoseStamped)'),
    (lambda d, ns: d['fields']['hand_pos'].update(unit='deg'), 'unit mismatch'),
    (lambda d, ns: d['command'].update(command_topic=f'{ns}/cmd_vel'),
     'another node publishes {ns}/cmd_vel; a command topic must have exactly one writer'),
])
def test_bridge_refuses_a_config_that_does_not_fit_the_robot(graph, change, message):
    ns, folder = graph[0], graph[5]
    data = robot_config(ns)
    # Commands of its own: the running bridge already commands the stand-in's topics.
    data['command'].update(command_topic=f'{ns}/cmd_vel_2', gripper_topic=f'{ns}/gripper_2')
    change(data, ns)
    path = folder / 'broken.yaml'
    path.write_text(yaml.safe_dump(data))
    bridge = _bridge(f'broken_bridge_{os.getpid()}', path)
    try:
        assert bridge.wait(START) == 2
    finally:
        bridge.stop()
    fatal = [line for line in bridge.lines if 'cannot start' in line]
    assert len(fatal) == 1 and message.format(ns=ns) in fatal[0], bridge.log[-2000:]
