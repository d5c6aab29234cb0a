# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Documented node interfaces no other test drives, over real DDS with the nodes in this process.

The sim bridge's ~/step_once (one vector step per request, in the step-id sequence) and
~/joint_states (the simulated arm of env 0, what MuJoCo holds); the prior service's lifecycle
deactivate (~/query leaves the graph, ~/describe stays, the prior stays loaded) and activate
(answers again), through the standard ~/change_state service a lifecycle tool calls.
"""

import threading

from lago_interfaces.msg import VecAction
from lago_interfaces.srv import DescribePrior, QueryPrior, ResetEnvs, StepEnvs
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from node_process import wait_until
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState

pytestmark = pytest.mark.ros

TIMEOUT = 60.0


@pytest.fixture
def graph():
    """Spin a context's executor in a thread; yield (context, add, client node)."""
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    nodes = []

    def add(node):
        nodes.append(node)
        executor.add_node(node)
        return node

    client = add(rclpy.create_node('services_test_client', context=context))
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    yield context, add, client
    executor.shutdown()
    for node in reversed(nodes):
        node.destroy_node()
    rclpy.shutdown(context=context)
    thread.join(timeout=30)


def _call(client, request, timeout=TIMEOUT):
    """Call a ready service and wait, with a deadline, for its reply."""
    assert client.wait_for_service(timeout_sec=timeout), f'{client.srv_name} never appeared'
    future = client.call_async(request)
    wait_until(future.done, timeout, f'a reply from {client.srv_name}')
    return future.result()


def test_bridge_step_once_steps_in_sequence_and_joint_states_show_the_arm(graph):
    from lago_ros.nodes.sim_bridge import SimBridge

    context, add, client = graph
    bridge = add(SimBridge(context=context, namespace='/svc', parameter_overrides=[
        Parameter('num_envs', value=1), Parameter('joint_state_rate', value=50.0)]))
    joints = []
    client.create_subscription(JointState, '/svc/sim_bridge/joint_states', joints.append, 10)
    step_once = client.create_client(StepEnvs, '/svc/sim_bridge/step_once')
    reset = client.create_client(ResetEnvs, '/svc/sim_bridge/reset')
    start = _call(reset, ResetEnvs.Request(use_seed=True, seed=4))
    first = start.step.step_id
    before = bridge.backend.joint_state()
    replies = [_call(step_once, StepEnvs.Request(action=VecAction(
        num_envs=1, action_dim=4, step_id=step_id, actions=[1.0, 0.0, 0.0, 0.0])))
        for step_id in (first + 1, 0, first + 7)]
    assert [(r.ok, r.step.step_id) for r in replies[:2]] == [(True, first + 1), (True, first + 2)]
    assert not replies[2].ok and 'does not continue' in replies[2].error
    observations = [np.asarray(r.step.observations) for r in (start, *replies[:2])]
    assert all(o.shape == (39,) and np.isfinite(o).all() for o in observations)
    assert not np.array_equal(observations[0], observations[2])
    # The refused request took no step: the sequence continues from the second reply.
    assert _call(step_once, StepEnvs.Request(action=VecAction(
        num_envs=1, action_dim=4, step_id=first + 3, actions=[0.0] * 4))).ok
    after = bridge.backend.joint_state()
    assert after.names == before.names and after.names[0].startswith('right_j')
    assert after.positions != before.positions  # two steps of +x moved the arm
    seen = wait_until(lambda: [m for m in list(joints) if list(m.position) == after.positions],
                      TIMEOUT, '~/joint_states with the stepped arm')
    assert list(seen[-1].name) == after.names
    np.testing.assert_allclose(seen[-1].velocity, after.velocities)


@pytest.fixture
def prior_dir(tmp_path):
    from lago_ros.prior.backbone import tiny_random_backbone
    from lago_ros.prior.model import ActionPrior, PriorConfig

    config = PriorConfig(obs_dim=39, action_type='continuous', action_dim=4, task='reach-v3',
                         backbone=str(tiny_random_backbone(tmp_path / 'backbone')),
                         projector_hidden=8, head_hidden=8)
    return ActionPrior(config).save_pretrained(tmp_path / 'prior')


def test_prior_service_deactivate_withdraws_query_and_activate_restores_it(graph, prior_dir):
    from lago_ros.nodes.prior_service import PriorService

    context, add, client = graph
    service = add(PriorService(context=context, namespace='/svc', parameter_overrides=[
        Parameter('prior_path', value=str(prior_dir)), Parameter('backend', value='torch'),
        Parameter('diagnostics_rate', value=0.0)]))
    query = client.create_client(QueryPrior, '/svc/prior_service/query')
    describe = client.create_client(DescribePrior, '/svc/prior_service/describe')
    change = client.create_client(ChangeState, '/svc/prior_service/change_state')
    state = client.create_client(GetState, '/svc/prior_service/get_state')
    request = QueryPrior.Request(instruction='reach the goal', batch_size=1, obs_dim=39,
                                 observations=[0.0] * 39)
    assert _call(query, request).ok
    assert _call(state, GetState.Request()).current_state.label == 'active'

    assert _call(change, ChangeState.Request(
        transition=Transition(id=Transition.TRANSITION_DEACTIVATE))).success
    assert _call(state, GetState.Request()).current_state.label == 'inactive'
    wait_until(lambda: not query.service_is_ready(), TIMEOUT, '~/query leaving the graph')
    described = _call(describe, DescribePrior.Request())
    assert described.ok and described.task == 'reach-v3'  # still loaded, still described
    assert service.prior is not None and service.diagnostic_status().message == 'loaded'

    assert _call(change, ChangeState.Request(
        transition=Transition(id=Transition.TRANSITION_ACTIVATE))).success
    reply = _call(query, request)
    assert reply.ok and len(reply.mean) == 4
    expected = service.prior.predict(np.zeros((1, 39), np.float32), ['reach the goal'])
    np.testing.assert_allclose(reply.mean, expected.mean.ravel(), atol=1e-5)
