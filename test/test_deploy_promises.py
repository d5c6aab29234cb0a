# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Deploy-node promises of docs/deploy.md that test_deploy_node.py leaves out, on its fake clock.

The e-stop heartbeat (estop_timeout_s) latches the e-stop when messages stop; joint_state input
assembles the observation from sensor_msgs/JointState plus the extra inputs and commands what
the policy says for it; invalid observations never refresh the watchdog; a deploy process whose
autostart cannot configure exits 2 with one line.
"""

from node_process import NodeProcess
import numpy as np
import pytest
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float32MultiArray
import test_deploy_node as deploy_tests

from lago_ros.export.onnx_policy import OnnxPolicy

pytestmark = pytest.mark.ros
# The deploy node's fixtures and harness, shared with test_deploy_node.py rather than copied.
context, harness, reach = deploy_tests.context, deploy_tests.harness, deploy_tests.reach
observation, SUCCESS, ZERO = deploy_tests.observation, deploy_tests.SUCCESS, deploy_tests.ZERO


def test_a_missing_estop_heartbeat_latches_the_estop_until_rearmed(reach, harness):
    _, path = reach
    h = harness(path, trigger='timer', estop_timeout_s=0.5, observation_timeout_s=5.0)
    h.start()
    expected = OnnxPolicy(path).act(observation())

    def heartbeat():
        sent_at = h.clock()
        h.estop_pub.publish(Bool(data=False))
        assert h.spin_until(lambda: h.node.loop.estop.last_message == sent_at)

    h.clock.advance(0.01)
    heartbeat()
    h.feed(observation())
    np.testing.assert_allclose(h.tick(0.4).data, expected, atol=1e-6)  # 0.4 s: still alive
    heartbeat()
    np.testing.assert_allclose(h.tick(0.45).data, expected, atol=1e-6)
    np.testing.assert_array_equal(h.tick(0.1).data, ZERO)  # 0.55 s without a message
    assert h.node.loop.estop.engaged
    heartbeat()  # the stream is back, but the latch holds until ~/rearm
    h.feed(observation())
    np.testing.assert_array_equal(h.tick(0.01).data, ZERO)
    assert h.call_rearm().success
    np.testing.assert_allclose(h.tick(0.01).data, expected, atol=1e-6)


def test_joint_state_input_commands_the_policy_on_the_assembled_observation(reach, harness):
    _, path = reach
    mapping = ("{joint_state: {names: [j0, j1, j2, j3], obs_indices: ['0:4']}, "
               "extra: {obs_indices: ['4:39']}}")
    h = harness(path, trigger='timer', input_mode='joint_state', observation_mapping=mapping)
    joints = h.peer.create_publisher(JointState, 'joint_states', 10)
    extra = h.peer.create_publisher(Float32MultiArray, 'task_inputs', 10)
    assert h.node.trigger_configure() == SUCCESS and h.node.trigger_activate() == SUCCESS
    assert h.spin_until(lambda: joints.get_subscription_count() > 0
                        and extra.get_subscription_count() > 0)
    obs = observation(seed=7)
    extra.publish(Float32MultiArray(data=obs[4:].tolist()))
    assert h.spin_until(lambda: h.node.loop._extra is not None)
    seen = h.node.counters['observations']
    # Joints in another order than the mapping lists them: matched by name.
    order = [2, 0, 3, 1]
    joints.publish(JointState(name=[f'j{i}' for i in order],
                              position=[float(obs[i]) for i in order]))
    assert h.spin_until(lambda: h.node.counters['observations'] > seen)
    np.testing.assert_allclose(h.tick(0.01).data, OnnxPolicy(path).act(obs), atol=1e-5)
    joints.publish(JointState(name=['j0', 'j1', 'j2'], position=[0.0, 0.0, 0.0]))
    assert h.spin_until(lambda: h.node.counters['rejected_observations'] == 1)


def test_invalid_observations_do_not_keep_the_watchdog_fed(reach, harness):
    _, path = reach
    h = harness(path, trigger='timer')  # observation_timeout_s 0.25
    h.start()
    h.feed(observation())
    assert np.abs(h.tick(0.01).data).max() > 0
    for bad in (np.full(39, np.nan), observation()[:38]):
        h.clock.advance(0.2)
        h.feed(bad)  # arrives in time, but is not an observation the policy may act on
    assert h.node.counters['rejected_observations'] == 2
    np.testing.assert_array_equal(h.tick(0.0).data, ZERO)  # 0.41 s since the last valid one
    assert h.node.counters['stale_episodes'] == 1


def test_autostart_that_cannot_configure_exits_2(tmp_path):
    deploy = NodeProcess('deploy', '-p', f'policy_path:={tmp_path / "absent.onnx"}',
                         '-p', 'autostart:=true')
    try:
        assert deploy.wait(300) == 2, deploy.log[-3000:]
    finally:
        deploy.stop()
    assert 'autostart: trigger_configure failed' in deploy.log, deploy.log[-3000:]
