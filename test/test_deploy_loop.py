# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The deploy node's decisions without ROS: DeployLoop on a fake clock with a fake policy.

The policy's actions are twice the first two observation values, so every command here is
worked out by hand: clamped to [-1, 1] (the parameters) within the policy's [-1.5, 1.5], and
rate-limited to 0.5 per command from rest.
"""

from types import SimpleNamespace

import numpy as np
import pytest

from lago_ros.control.deploy_loop import Decision, DeployLoop
from lago_ros.control.guards import DeployConfigError
from lago_ros.export.onnx_policy import ObservationError

OBS = [0.2, 0.9, 0.0]
"""Actions [0.4, 1.8]: the first command is [0.4, 0.5], the second [0.4, 1.0]."""
VELOCITY = SimpleNamespace(velocity=True, sends_fault=True, safe_text='commanding zero velocity')
POSITION = SimpleNamespace(velocity=False, sends_fault=True, safe_text='holding the position')
SIM = SimpleNamespace(velocity=True, sends_fault=False, safe_text='sending no action')


class FakeClock:
    """Seconds that move only when a test says so."""

    def __init__(self):
        self.t = 50.0

    def __call__(self):
        return self.t

    def advance(self, seconds):
        self.t += seconds


class FakePolicy:
    """Three observation values, two continuous actions: twice the first two values."""

    obs_dim, action_dim, discrete = 3, 2, False
    action_low, action_high = np.full(2, -1.5), np.full(2, 1.5)

    def validate(self, data):
        obs = np.asarray(data, dtype=np.float32)
        if obs.shape != (3,) or not np.isfinite(obs).all():
            raise ObservationError(f'observation {obs.tolist()} is not 3 finite values')
        return obs[None]

    def act(self, obs):
        return 2.0 * obs[:, :2]


def make_loop(clock, output=VELOCITY, policy=None, activate=True, **overrides):
    params = {'input_mode': 'flat', 'output_mode': 'float64_multi_array', 'trigger': 'timer',
              'policy_path': 'policy.onnx', 'observation_timeout_s': 0.25,
              'action_min': [-1.0], 'action_max': [1.0], 'max_delta': [0.5],
              'observation_mapping': '', 'estop_topic': 'estop', 'estop_timeout_s': 0.0,
              'sim_reset_service': '', **overrides}
    loop = DeployLoop(params, clock)
    loop.configure(policy or FakePolicy(), output)
    if activate:
        loop.activate([])
    return loop


def values(decision):
    assert decision.command is not None, f'no command in {decision}'
    return decision.command.values.tolist()


def levels(decision):
    return [note.level for note in decision.notes]


def test_timer_trigger_commands_fresh_observations_and_trips_once_per_stale_episode():
    clock = FakeClock()
    loop = make_loop(clock)
    first = loop.tick([])
    assert first.command.fault and values(first) == [0.0, 0.0] and first.notes == []
    assert loop.observe(OBS).command is None  # trigger timer: the tick acts
    clock.advance(0.004)
    assert values(loop.tick([])) == pytest.approx([0.4, 0.5])
    assert loop.last_latency_ms == pytest.approx(4.0)
    clock.advance(0.236)  # 0.24 s old: fresh
    assert values(loop.tick([])) == pytest.approx([0.4, 1.0])
    clock.advance(0.02)  # 0.26 s old: stale
    stale = loop.tick([])
    assert stale.command.fault and values(stale) == [0.0, 0.0]
    assert levels(stale) == ['warning'] and 'no fresh observation for 0.25 s' in \
        stale.notes[0].text
    clock.advance(1.0)
    assert loop.tick([]).notes == [] and loop.counters['stale_episodes'] == 1
    assert loop.observe(OBS).notes[0].text == 'observations are fresh again'
    assert values(loop.tick([])) == pytest.approx([0.4, 0.5])  # from rest again after a stop
    assert loop.counters == {'observations': 2, 'commands': 3, 'safe_commands': 3,
                             'rejected_observations': 0, 'stale_episodes': 1,
                             'loop_errors': 0}


def test_estop_sends_the_fault_at_once_latches_and_rearms_only_when_released():
    clock = FakeClock()
    loop = make_loop(clock, trigger='observation')
    assert values(loop.observe(OBS)) == pytest.approx([0.4, 0.5])
    engaged = loop.estop_message(True)
    assert engaged.command.fault and levels(engaged) == ['error']
    assert loop.estop_message(True) == Decision()  # already latched: nothing new
    assert loop.observe(OBS).command is None
    assert loop.tick([]).command.fault
    refusal, decision = loop.rearm()
    assert 'still reports engaged' in refusal and levels(decision) == ['warning']
    assert loop.estop_message(False).command is None
    assert loop.tick([]).command.fault  # released, not re-armed
    assert loop.rearm()[0] == ''
    assert not loop.observe(OBS).command.fault
    assert loop.counters['commands'] == 2


def test_a_missing_heartbeat_or_an_unheard_publisher_latches_the_estop():
    clock = FakeClock()
    loop = make_loop(clock, estop_timeout_s=0.5, observation_timeout_s=5.0)
    loop.observe(OBS)
    clock.advance(0.4)
    assert not loop.tick([]).command.fault
    loop.estop_message(False)
    clock.advance(0.55)
    lost = loop.tick([])
    assert lost.command.fault and 'heartbeat lost' in lost.notes[0].text
    assert loop.tick([]).notes == [] and loop.tick([]).command.fault
    assert 'no e-stop message' in loop.rearm()[0]

    loop = make_loop(FakeClock())
    unheard = loop.estop_unheard('DURABILITY')
    assert loop.estop.engaged and 'estop offers incompatible QoS (policy DURABILITY)' in \
        unheard.notes[0].text
    loop.observe(OBS)
    assert loop.tick([]).command.fault


@pytest.mark.parametrize('output', [VELOCITY, POSITION], ids=['velocity', 'position'])
def test_stop_and_fail_send_the_fault_command_and_nothing_follows(output):
    clock = FakeClock()
    loop = make_loop(clock, output=output, trigger='observation')
    moving = values(loop.observe(OBS))
    safe = [0.0, 0.0] if output.velocity else moving
    stopped = loop.stop('deactivated')
    assert values(stopped) == safe and stopped.notes[0].text.startswith('deactivated: ')
    assert not loop.active and loop.observe(OBS).command is None and loop.tick([]) == Decision()
    again = loop.stop('cleaned up')  # cleanup after deactivate: the fault again, no log line
    assert values(again) == safe and again.notes == []

    loop = make_loop(clock, output=output, trigger='observation')
    loop.observe(OBS)
    loop.policy.act = lambda obs: 1 / 0
    with pytest.raises(ZeroDivisionError):
        loop.observe(OBS)  # the node catches it and asks the loop what to do
    failed = loop.fail(ZeroDivisionError('division by zero'))
    assert failed.deactivate and failed.command.fault and values(failed) == safe
    assert 'control loop failed (ZeroDivisionError' in failed.notes[0].text
    assert not loop.active and not loop.fail(RuntimeError('late')).deactivate
    assert loop.counters['loop_errors'] == 2
    loop.release()
    assert loop.stop('stopping') == Decision()  # nothing configured: nothing to send


def test_a_position_output_has_nothing_to_hold_before_its_first_command():
    loop = make_loop(FakeClock(), output=POSITION)
    assert loop.tick([]).command is None and loop.stop('deactivated').command is None
    assert loop.counters['safe_commands'] == 0


def test_another_writer_refuses_activation_or_makes_the_loop_yield():
    clock = FakeClock()
    loop = make_loop(clock, activate=False)
    refused = loop.activate(['/ns/commands'])
    assert not loop.active and refused.command is None and "['/ns/commands']" in \
        refused.notes[0].text
    assert levels(loop.activate([])) == ['info'] and loop.active
    loop.observe(OBS)
    yielded = loop.tick(['/ns/commands'])
    assert yielded.deactivate and yielded.command.fault and not loop.active
    assert loop.tick([]) == Decision()


def test_invalid_observations_and_actions_never_command_nor_feed_the_watchdog():
    clock = FakeClock()
    loop = make_loop(clock, trigger='observation')
    loop.observe(OBS)
    rejected = [loop.observe(bad) for bad in ([np.nan, 0, 0], [0, 0], [0, 0, 0, 0])]
    assert all(d.command is None for d in rejected)
    assert [levels(d) for d in rejected] == [['error'], [], []]  # logged once a second
    clock.advance(1.0)
    assert levels(loop.observe([np.inf, 0, 0])) == ['error']
    assert loop.counters['rejected_observations'] == 4 and loop.counters['observations'] == 1
    assert loop.tick([]).command.fault  # the last valid observation is 1 s old: stale

    loop = make_loop(clock, trigger='observation')
    loop.policy.act = lambda obs: np.array([[np.nan, 0.0]])
    nan = loop.observe(OBS)
    assert nan.command.fault and levels(nan) == ['error'] and loop.counters['commands'] == 0


def test_lockstep_acts_once_per_requested_step_and_asks_for_resets_when_stale():
    clock = FakeClock()
    loop = make_loop(clock, output=SIM, input_mode='vec_step', trigger='observation',
                     sim_reset_service='/sim_bridge/reset')
    assert loop.resets
    assert loop.observe_step(500, 1, 3, OBS) == Decision()  # the bridge's start-up step
    waiting = loop.tick([])
    assert waiting.reset and waiting.command is None and waiting.notes == []
    assert loop.reset_due(pending=False)
    loop.reset_requested()
    assert not loop.reset_due(pending=True)
    first = loop.observe_step(700, 1, 3, OBS, from_reset=True)
    assert first.command.step_id == 701 and values(first) == pytest.approx([0.4, 0.5])
    assert loop.observe_step(700, 1, 3, OBS).command is None  # the topic copy of the reset
    assert loop.observe_step(701, 1, 3, OBS).command.step_id == 702
    assert loop.observe_step(702, 1, 5, [0.0] * 5).command is None
    assert loop.counters['rejected_observations'] == 1
    clock.advance(0.3)
    stale = loop.tick([])
    assert stale.reset and stale.command is None and 'requesting a simulator reset' in \
        stale.notes[0].text
    assert loop.reset_due(pending=True)  # the pending request had its timeout
    assert loop.counters['safe_commands'] == 0  # the simulator gets no fault action
    loop.reset_requested()
    restart = loop.observe_step(42, 1, 3, OBS, from_reset=True)
    assert restart.command.step_id == 43  # the stop still restarts the ramp from rest:
    assert values(restart) == pytest.approx([0.4, 0.5])


def test_joint_state_input_needs_fresh_task_inputs_and_maps_joints_by_name():
    clock = FakeClock()
    mapping = "{joint_state: {names: [a, b], obs_indices: ['0:2']}, extra: {obs_indices: [2]}}"
    loop = make_loop(clock, trigger='observation', input_mode='joint_state',
                     observation_mapping=mapping)
    joints = SimpleNamespace(name=['b', 'a'], position=[0.9, 0.2], velocity=[], effort=[])
    assert loop.observe_joints(joints) == Decision()  # no task inputs yet
    loop.observe_extra([0.0])
    assert values(loop.observe_joints(joints)) == pytest.approx([0.4, 0.5])
    clock.advance(0.3)
    assert loop.observe_joints(joints) == Decision()  # the task inputs went stale
    assert loop.counters['observations'] == 1


def test_configure_checks_parameters_against_the_policy():
    for overrides in ({'input_mode': 'vec_step'}, {'action_min': [0.0, 0.1, 0.2]},
                      {'input_mode': 'joint_state', 'observation_mapping': '[1, 2]'}):
        loop = DeployLoop({**make_loop(FakeClock()).params, **overrides}, FakeClock())
        with pytest.raises(DeployConfigError):
            loop.configure(FakePolicy(), VELOCITY)
        assert not loop.configured
    loop = make_loop(FakeClock(), action_min=[-3.0], action_max=[3.0], max_delta=[9.0],
                     trigger='observation')
    assert values(loop.observe(OBS)) == pytest.approx([0.4, 1.5])  # the policy's bound


def test_a_discrete_policy_commands_its_index_and_has_no_fault_command():
    policy = SimpleNamespace(obs_dim=3, action_dim=5, discrete=True, action_low=None,
                             validate=FakePolicy().validate, act=lambda obs: np.array([3]))
    clock = FakeClock()
    loop = make_loop(clock, policy=policy, trigger='observation')
    assert values(loop.observe(OBS)) == [3.0]
    clock.advance(1.0)
    assert loop.tick([]).command is None and loop.counters['safe_commands'] == 0


def test_status_reports_state_armed_estop_stale_and_latency():
    clock = FakeClock()
    loop = DeployLoop(make_loop(clock).params, clock)
    level, message, report = loop.status('unconfigured')
    assert (level, message, report['armed'], report['last_latency_ms']) == (
        'WARN', 'unconfigured', 'False', '-')
    loop.configure(FakePolicy(), VELOCITY)
    loop.activate([])
    assert loop.status('active')[:2] == ('WARN', 'stale observations')
    loop.observe(OBS)
    clock.advance(0.002)
    loop.tick([])
    level, message, report = loop.status('active')
    assert (level, message, report['armed'], report['last_latency_ms']) == (
        'OK', 'armed', 'True', '2.000')
    assert (report['commands'], report['policy']) == ('1', 'policy.onnx')
    loop.estop_message(True)
    level, message, report = loop.status('active')
    assert (level, message, report['estop_topic_engaged'], report['armed']) == (
        'ERROR', 'e-stopped', 'True', 'False')
