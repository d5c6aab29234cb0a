# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The prior service's bounds and self-description, on a node in this process over real DDS.

~/describe names the task, its instructions and the action layout (or why no prior is loaded);
instructions over max_instruction_tokens are refused in one line; however many instruction
lengths clients send, the ONNX Runtime graphs stay the ones built at configure time.
"""

import threading
import time

from lago_interfaces.srv import DescribePrior, QueryPrior
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter

from lago_ros.nodes.prior_service import PriorService
from lago_ros.prior.describe import task_instructions

pytestmark = pytest.mark.ros

OBS_DIM = 39


@pytest.fixture(scope='module')
def prior_dir(tmp_path_factory):
    from lago_ros.prior.backbone import tiny_random_backbone
    from lago_ros.prior.model import ActionPrior, PriorConfig

    root = tmp_path_factory.mktemp('limits')
    config = PriorConfig(obs_dim=OBS_DIM, action_type='continuous', action_dim=4,
                         task='reach-v3', backbone=str(tiny_random_backbone(root / 'backbone')),
                         projector_hidden=16, head_hidden=16)
    return ActionPrior(config).save_pretrained(root / 'prior')


@pytest.fixture(scope='module')
def graph():
    """Spin a context's executor in a background thread; yield (context, add)."""
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    nodes = []

    def add(node):
        nodes.append(node)
        executor.add_node(node)
        return node

    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    yield context, add
    executor.shutdown()
    for node in nodes:
        node.destroy_node()
    rclpy.shutdown(context=context)
    thread.join(timeout=10)


@pytest.fixture(scope='module')
def service(graph, prior_dir):
    context, add = graph
    return add(PriorService(context=context, parameter_overrides=[
        Parameter('prior_path', value=str(prior_dir)),
        Parameter('max_instruction_tokens', value=12),
        Parameter('diagnostics_rate', value=0.0)]))


@pytest.fixture(scope='module')
def client(graph):
    context, add = graph
    return add(rclpy.create_node('limits_client', context=context))


def call(client_node, kind, name, request, timeout=60.0):
    client = client_node.create_client(kind, name)
    assert client.wait_for_service(timeout_sec=timeout), f'{name} never appeared'
    future = client.call_async(request)
    deadline = time.monotonic() + timeout
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert future.done(), f'no reply from {name}'
    client_node.destroy_client(client)
    return future.result()


def query(client_node, instruction):
    states = np.zeros((2, OBS_DIM), np.float32)
    return call(client_node, QueryPrior, '/prior_service/query', QueryPrior.Request(
        instruction=instruction, batch_size=2, obs_dim=OBS_DIM,
        observations=states.ravel().tolist()))


def words(count: int) -> str:
    """`count` + 2 tokens with the tiny tokenizer ([CLS] push ... [SEP])."""
    return ' '.join(['push'] * count)


def test_describe_tells_the_task_instructions_and_action_layout(service, client):
    about = call(client, DescribePrior, '/prior_service/describe', DescribePrior.Request())
    assert about.ok, about.error
    assert about.task == 'reach-v3'
    assert list(about.instructions) == list(task_instructions('reach-v3'))
    assert (about.obs_dim, about.action_type, about.action_dim) == (OBS_DIM, 'continuous', 4)
    assert list(about.action_names) == ['dx', 'dy', 'dz', 'gripper']
    assert list(about.action_low) == [-1.0] * 4 and list(about.action_high) == [1.0] * 4
    assert (about.max_instruction_tokens, about.max_batch_size) == (12, 1024)
    assert about.backend == 'OnnxPrior' and '"fields"' in about.action_layout_json


def test_over_long_instructions_are_refused_and_the_service_keeps_serving(service, client):
    assert query(client, words(10)).ok  # 12 tokens, the most accepted
    refused = query(client, words(11))
    assert not refused.ok and 'more than 12 tokens' in refused.error
    huge = query(client, 'x' * 2**20)
    assert not huge.ok and f'has {2**20} characters' in huge.error
    assert query(client, 'reach the goal').ok


def test_graphs_stay_those_built_at_configure_across_many_lengths(service, client):
    assert service.predictor.buckets == (12,) and service.predictor.graphs == 1
    for count in range(1, 11):
        for variant in ('push', 'reach'):
            assert query(client, ' '.join([variant] * count)).ok
    assert service.predictor.graphs == 1


def test_describe_says_why_no_prior_is_loaded(graph, client):
    context, add = graph
    add(PriorService(context=context, namespace='empty', parameter_overrides=[
        Parameter('diagnostics_rate', value=0.0)]))
    about = call(client, DescribePrior, '/empty/prior_service/describe', DescribePrior.Request())
    assert not about.ok
    assert about.error == ('no prior loaded (load failed: parameter prior_path is empty; '
                           'expected a prior folder)')
