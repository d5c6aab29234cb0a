# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The deploy node's ROS-free guards: observation mapping, shaping, e-stop, watchdog, lockstep."""

import numpy as np
import pytest

from lago_ros.control.guards import (CommandShaper, DeployConfigError, EStop,
                                     ObservationAssembler, Watchdog)
from lago_ros.control.lockstep import Lockstep
from lago_ros.export.onnx_policy import ObservationError


def test_observation_assembler_maps_joint_state_extra_and_previous_frame():
    mapping = {'joint_state': {'names': ['x', 'y', 'z', 'grip'], 'obs_indices': ['0:4']},
               'extra': {'obs_indices': ['4:18', '36:39']},
               'previous': {'obs_indices': ['18:36'], 'from_indices': ['0:18']}}
    assembler = ObservationAssembler(39, mapping)
    extra = np.arange(17.0)
    first = assembler.assemble(['grip', 'z', 'y', 'x', 'other'], [4.0, 3.0, 2.0, 1.0, 9.0],
                               extra)
    np.testing.assert_array_equal(first[:4], [1, 2, 3, 4])
    np.testing.assert_array_equal(first[4:18], extra[:14])
    np.testing.assert_array_equal(first[36:], extra[14:])
    np.testing.assert_array_equal(first[18:36], first[:18])
    second = assembler.assemble(['x', 'y', 'z', 'grip'], [5.0, 6.0, 7.0, 8.0], extra)
    np.testing.assert_array_equal(second[18:36], first[:18])
    with pytest.raises(ObservationError, match="joints \\['grip'\\]"):
        assembler.assemble(['x', 'y', 'z'], [1.0, 2.0, 3.0], extra)
    with pytest.raises(ObservationError, match='expects 17'):
        assembler.assemble(['x', 'y', 'z', 'grip'], [1.0] * 4, extra[:3])
    with pytest.raises(DeployConfigError, match='missing \\[36, 37, 38\\]'):
        ObservationAssembler(39, {**mapping, 'extra': {'obs_indices': ['4:18']}})


def test_shaper_clamps_rate_limits_and_knows_the_fault_command():
    shaper = CommandShaper(np.full(2, -1.0), np.full(2, 1.0), np.full(2, 0.25), velocity=True)
    np.testing.assert_allclose(shaper.shape([5.0, -0.1]), [0.25, -0.1])
    np.testing.assert_allclose(shaper.shape([5.0, -0.1]), [0.5, -0.1])
    np.testing.assert_array_equal(shaper.safe(), [0.0, 0.0])
    np.testing.assert_allclose(shaper.shape([-1.0, 1.0]), [-0.25, 0.25])
    position = CommandShaper(np.full(1, -1.0), np.full(1, 1.0), np.full(1, 0.1), velocity=False)
    assert position.safe() is None
    np.testing.assert_allclose(position.shape([0.7]), [0.7])
    np.testing.assert_allclose(position.safe(), [0.7])


def test_estop_latches_on_message_heartbeat_or_engage_and_rearms_only_when_clear():
    estop = EStop(timeout_s=0.5, now=0.0)
    assert not estop.heartbeat_lost(0.4) and estop.heartbeat_lost(0.6) and estop.engaged
    assert 'no e-stop message' in estop.rearm(0.7)
    estop.on_message(False, 0.8)
    assert estop.rearm(0.9) == '' and not estop.engaged
    assert estop.on_message(True, 1.0) and not estop.on_message(True, 1.1)
    assert 'still reports engaged' in estop.rearm(1.2)
    estop.on_message(False, 1.3)
    assert estop.rearm(1.4) == ''
    estop.engage()
    assert estop.engaged and not estop.topic_engaged


def test_watchdog_trips_once_per_stale_period_and_not_before_the_first_observation():
    watchdog = Watchdog(timeout_s=0.25)
    assert watchdog.stale(10.0) and not watchdog.check(10.0)  # waiting is not a trip
    assert not watchdog.feed(10.0)
    assert not watchdog.stale(10.25) and not watchdog.check(10.25)
    assert watchdog.stale(10.3) and watchdog.check(10.3) and not watchdog.check(10.4)
    assert watchdog.feed(10.5) and not watchdog.stale(10.6)
    assert watchdog.check(11.0)
    watchdog.restart()
    assert watchdog.stale(11.0) and not watchdog.check(20.0)


def test_lockstep_acts_once_per_step_of_the_requested_sequence():
    lockstep = Lockstep()
    assert not lockstep.accept(500, from_reset=False)  # the bridge's start-up step: unrequested
    assert lockstep.action_id() == 0
    lockstep.start_reset()
    assert not lockstep.accept(700, from_reset=False)  # the reset step on the topic
    assert lockstep.accept(700, from_reset=True) and lockstep.action_id() == 701
    assert not lockstep.accept(700, from_reset=False)  # its copy, late
    assert not lockstep.accept(700, from_reset=True)  # a second reply: no reset pending
    assert lockstep.accept(701, from_reset=False) and lockstep.action_id() == 702
    assert not lockstep.accept(701, from_reset=False) and not lockstep.accept(703, False)
    lockstep.start_reset()
    assert not lockstep.accept(702, from_reset=False)  # the old sequence's answer
    assert lockstep.accept(42, from_reset=True) and lockstep.action_id() == 43
    assert lockstep.ignored == 7


@pytest.mark.parametrize('arrivals', [('reply', 'topic'), ('topic', 'reply')])
def test_lockstep_sends_one_action_per_step_whatever_order_the_reset_copies_arrive(arrivals):
    """The start-up race of issue 14 item 10: the reply and the topic copy of one reset step."""
    lockstep, actions = Lockstep(), []
    lockstep.start_reset()
    for source in arrivals:
        if lockstep.accept(900, from_reset=source == 'reply'):
            actions.append(lockstep.action_id())
    if lockstep.accept(901, from_reset=False):  # the bridge's answer to the one action
        actions.append(lockstep.action_id())
    assert actions == [901, 902]
