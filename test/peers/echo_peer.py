# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
A peer node for the two-process DDS test: echoes a topic and answers QueryPrior requests.

The reply's logits are the request's observations doubled, so the test can check the payload
crossed the process boundary intact.
"""

import sys

from lago_interfaces.srv import QueryPrior
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from std_msgs.msg import String


class EchoPeer(Node):
    """Republishes /lago_test/ping on /lago_test/pong and serves /lago_test/query_prior."""

    def __init__(self) -> None:
        super().__init__('lago_echo_peer')
        self._pong = self.create_publisher(String, '/lago_test/pong', 10)
        self.create_subscription(String, '/lago_test/ping', self._on_ping, 10)
        self.create_service(QueryPrior, '/lago_test/query_prior', self._on_query)

    def _on_ping(self, msg: String) -> None:
        self._pong.publish(String(data=f'pong:{msg.data}'))

    def _on_query(self, request: QueryPrior.Request,
                  response: QueryPrior.Response) -> QueryPrior.Response:
        expected = request.batch_size * request.obs_dim
        if len(request.observations) != expected:
            response.ok = False
            response.error = (f'observations has {len(request.observations)} values, '
                              f'expected {expected}')
            return response
        response.ok = True
        response.action_type = 'discrete'
        response.batch_size = request.batch_size
        response.action_dim = request.obs_dim
        response.logits = [2.0 * v for v in request.observations]
        return response


def main() -> int:
    rclpy.init()
    node = EchoPeer()
    print('ready', flush=True)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
