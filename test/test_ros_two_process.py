# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Two nodes in two processes exchange a message and a lago_interfaces service call over DDS."""

import os
from pathlib import Path
import time

from lago_interfaces.srv import QueryPrior
from node_process import dds_discovery, NodeProcess
import pytest
import rclpy
from std_msgs.msg import String

pytestmark = pytest.mark.ros

PEER = Path(__file__).parent / 'peers' / 'echo_peer.py'


@pytest.fixture
def peer_process():
    peer = NodeProcess('', argv=[str(PEER)])
    try:
        peer.wait_for(r'(?m)^ready$', 120)
        yield peer.process
    finally:
        peer.stop()


def test_message_and_service_cross_processes(peer_process):
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('lago_test_client', context=context)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)
    received = []
    node.create_subscription(String, '/lago_test/pong', lambda m: received.append(m.data), 10)
    ping = node.create_publisher(String, '/lago_test/ping', 10)
    client = node.create_client(QueryPrior, '/lago_test/query_prior')
    try:
        assert client.wait_for_service(timeout_sec=120.0), 'peer service never appeared'
        deadline = time.monotonic() + 120.0
        while not received and time.monotonic() < deadline:
            ping.publish(String(data='hello'))
            executor.spin_once(timeout_sec=0.1)
        assert received and received[0] == 'pong:hello'

        request = QueryPrior.Request(instruction='reach the goal', batch_size=2, obs_dim=3,
                                     observations=[0.5, -1.0, 2.0, 3.0, 4.0, -0.25])
        future = client.call_async(request)
        executor.spin_until_future_complete(future, timeout_sec=120.0)
        reply = future.result()
        assert reply.ok
        assert list(reply.logits) == [1.0, -2.0, 4.0, 6.0, 8.0, -0.5]

        bad = QueryPrior.Request(batch_size=2, obs_dim=3, observations=[1.0])
        future = client.call_async(bad)
        executor.spin_until_future_complete(future, timeout_sec=120.0)
        assert not future.result().ok
        assert 'expected 6' in future.result().error
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)


def test_the_peer_really_discovers_on_localhost_only(peer_process):
    """The test graph's traffic stays local: the peer binds no multicast discovery port."""
    assert dds_discovery(peer_process.pid) == ({int(os.environ['ROS_DOMAIN_ID'])}, False)
