# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Core-facing adapters over the ROS graph, used by the trainer node.

`RemoteVecEnv` gives PPO the gymnasium vector-env API over a sim bridge's topics and services;
`PriorServiceClient` is a prior callable over QueryPrior that returns None (no guidance) while the
prior service is absent. Both spin the node's executor in the calling thread while they wait, so
PPO stays a plain synchronous loop.
"""

import time
from typing import Any, Dict, Optional, Sequence, Tuple

import gymnasium as gym
from lago_interfaces.msg import VecAction, VecStep
from lago_interfaces.srv import QueryPrior, ResetEnvs
import numpy as np
from rclpy.executors import Executor
from rclpy.node import Node
from rclpy.task import Future

from lago_ros.nodes.codec import (decode_prior_reply, decode_vec_step, encode_query,
                                  encode_vec_action, PriorReplyError, reply_fields, StepResult)
from lago_ros.nodes.sim_bridge import STEP_QOS

StepTuple = Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Dict[str, Any]]
"""(observations, rewards, terminated, truncated, info), as a gymnasium vector env returns."""
MAX_IN_FLIGHT = 8
"""Prior requests sent at once: below the service's default queue depth of 10."""


class BridgeUnavailableError(RuntimeError):
    """The sim bridge did not answer in time (absent, dead or restarted)."""


class BridgeMismatchError(ValueError):
    """The bridge hosts a different task, number of envs or observation size than expected."""


def _spin_until(executor: Executor, future: Future, timeout: float) -> bool:
    """Spin `executor` until `future` is done or `timeout` seconds pass; return done."""
    executor.spin_until_future_complete(future, timeout_sec=timeout)
    return future.done()


class RemoteVecEnv:
    """A SyncVectorEnv look-alike (autoreset SAME_STEP) whose envs live in a sim bridge."""

    def __init__(self, node: Node, executor: Executor, task: str, num_envs: int,
                 bridge: str = '/sim_bridge', step_timeout: float = 10.0) -> None:
        """Connect to the bridge at namespace-qualified node name `bridge`."""
        from lago_ros.envs.registry import get_task

        spec = get_task(task)
        self.task, self.num_envs, self.obs_dim = task, num_envs, spec.obs_dim
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, (spec.obs_dim,),
                                                       np.float32)
        if spec.action_type == 'discrete':
            self.single_action_space = gym.spaces.Discrete(spec.action_dim)
            self._action_width = 1
        else:
            self.single_action_space = gym.spaces.Box(-1.0, 1.0, (spec.action_dim,), np.float32)
            self._action_width = spec.action_dim
        self.node, self.executor, self.bridge = node, executor, bridge.rstrip('/')
        self.step_timeout = step_timeout
        self._step_id = 0
        self._pending: Optional[Future] = None
        self._action_pub = node.create_publisher(VecAction, f'{self.bridge}/action', STEP_QOS)
        self._step_sub = node.create_subscription(VecStep, f'{self.bridge}/step',
                                                  self._on_step, STEP_QOS)
        self._reset_client = node.create_client(ResetEnvs, f'{self.bridge}/reset')

    def connected(self) -> bool:
        """Return True once the bridge's reset service, action and step topics are matched."""
        return (self._reset_client.service_is_ready()
                and self._action_pub.get_subscription_count() > 0
                and self._step_sub.get_publisher_count() > 0)

    def wait_for_bridge(self, timeout: float) -> bool:
        """Spin until the bridge is connected or `timeout` seconds pass; return connected."""
        deadline = time.monotonic() + timeout
        while not self.connected() and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)
        return self.connected()

    def _on_step(self, msg: VecStep) -> None:
        if self._pending is not None and not self._pending.done() \
                and msg.step_id == self._step_id:
            self._pending.set_result(msg)

    def _check(self, msg: VecStep) -> None:
        if msg.task != self.task or msg.num_envs != self.num_envs or msg.obs_dim != self.obs_dim:
            raise BridgeMismatchError(
                f'bridge {self.bridge} hosts {msg.num_envs} x {msg.task} (obs_dim '
                f'{msg.obs_dim}); the trainer expects {self.num_envs} x {self.task} '
                f'(obs_dim {self.obs_dim}): set the same task and num_envs on both nodes')

    def reset(self, seed: Optional[int] = None,
              options: Optional[dict] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
        """Reset every env through ~/reset; raise BridgeUnavailableError on timeout."""
        request = ResetEnvs.Request(use_seed=seed is not None,
                                    seed=0 if seed is None else int(seed))
        if not self._reset_client.wait_for_service(timeout_sec=self.step_timeout):
            raise BridgeUnavailableError(f'bridge reset service {self.bridge}/reset is absent')
        future = self._reset_client.call_async(request)
        if not _spin_until(self.executor, future, self.step_timeout):
            self._reset_client.remove_pending_request(future)
            raise BridgeUnavailableError(
                f'bridge {self.bridge} did not answer a reset within {self.step_timeout} s')
        reply = future.result()
        if not reply.ok:
            raise BridgeUnavailableError(f'bridge {self.bridge} could not reset: {reply.error}')
        msg = reply.step
        self._check(msg)
        self._step_id, _, result = decode_vec_step(msg)
        return result.observations, {
            'instruction': np.asarray(result.instructions, dtype=object),
            '_instruction': np.ones(self.num_envs, bool)}

    def step(self, actions: np.ndarray) -> StepTuple:
        """Send one VecAction and wait for the VecStep with the same step id."""
        actions = np.asarray(actions, np.float32).reshape(self.num_envs, self._action_width)
        self._step_id += 1
        self._pending = Future()
        msg = encode_vec_action(actions, self._step_id)
        msg.header.stamp = self.node.get_clock().now().to_msg()
        if self._action_pub.get_subscription_count() == 0:
            raise BridgeUnavailableError(f'no bridge subscribes to {self.bridge}/action')
        self._action_pub.publish(msg)
        if not _spin_until(self.executor, self._pending, self.step_timeout):
            raise BridgeUnavailableError(
                f'bridge {self.bridge} did not answer step {self._step_id} within '
                f'{self.step_timeout} s')
        _, _, result = decode_vec_step(self._pending.result())
        return self._unpack(result)

    def _unpack(self, result: StepResult) -> StepTuple:
        """Convert a step to (obs, rewards, terminated, truncated, info) like SyncVectorEnv."""
        n = self.num_envs
        terminated, truncated, success = result.terminated, result.truncated, result.success
        done = terminated | truncated
        info: Dict[str, Any] = {'instruction': np.asarray(result.instructions, dtype=object),
                                '_instruction': np.ones(n, bool),
                                'success': np.where(done, False, success),
                                '_success': ~done}
        if done.any():
            final = result.final_observations
            info['final_obs'] = np.array([final[i] if done[i] else None for i in range(n)],
                                         dtype=object)
            info['_final_obs'] = done
            info['final_info'] = {'success': np.where(done, success, False), '_success': done}
            info['_final_info'] = done
        return (result.observations, np.asarray(result.rewards, np.float64),
                terminated, truncated, info)

    def close(self) -> None:
        """Destroy the publisher, subscription and client (the bridge keeps running)."""
        self.node.destroy_publisher(self._action_pub)
        self.node.destroy_subscription(self._step_sub)
        self.node.destroy_client(self._reset_client)


class PriorServiceClient:
    """
    `prior(observations, instructions) -> PriorOutput | None` over a QueryPrior service.

    Splits a rollout into chunks of at most `chunk_size` states (keep it <= the service's
    max_batch_size), sends them MAX_IN_FLIGHT at a time and reassembles the replies. Returns
    None, so PPO trains unguided, while the service is absent, slow or refusing; logs each change
    once.
    """

    def __init__(self, node: Node, executor: Executor, service: str = '/prior_service/query',
                 chunk_size: int = 256, timeout: float = 30.0) -> None:
        """Create the client; nothing waits for the service here."""
        if chunk_size < 1:
            raise ValueError(f'chunk_size is {chunk_size}; expected a positive integer')
        self.node, self.executor, self.service = node, executor, service
        self.chunk_size, self.timeout = chunk_size, timeout
        self._client = node.create_client(QueryPrior, service)
        self._available: Optional[bool] = None

    def _report(self, available: bool, reason: str) -> None:
        """Log guidance switching on or off, once per change."""
        if available != self._available:
            log = self.node.get_logger()
            if available:
                log.info(f'prior service {self.service} is available: guidance on')
            else:
                log.warning(f'prior unavailable ({reason}): training unguided until it returns')
        self._available = available

    def __call__(self, observations: np.ndarray, instructions: Sequence[str]) -> Any:
        """Distributions for every state, or None when the service cannot provide them."""
        from lago_ros.prior.model import PriorOutput

        if not self._client.service_is_ready():
            self._report(False, f'service {self.service} is absent')
            return None
        observations = np.asarray(observations, np.float32)
        instructions = [str(text) for text in instructions]
        if len(instructions) == 1:
            instructions = instructions * len(observations)
        starts = range(0, len(observations), self.chunk_size)
        deadline = time.monotonic() + self.timeout
        replies = []
        # A service keeps at most 10 pending requests (default QoS depth); more in flight would
        # be dropped silently, so chunks go out in windows of MAX_IN_FLIGHT.
        for first in range(0, len(starts), MAX_IN_FLIGHT):
            futures = [self._client.call_async(encode_query(
                observations[start:start + self.chunk_size],
                instructions[start:start + self.chunk_size]))
                for start in starts[first:first + MAX_IN_FLIGHT]]
            if not all(_spin_until(self.executor, f, max(deadline - time.monotonic(), 0.0))
                       for f in futures):
                for future in futures:
                    self._client.remove_pending_request(future)
                self._report(False, f'no reply from {self.service} within {self.timeout} s')
                return None
            replies += [future.result() for future in futures]
        refused = [reply.error for reply in replies if not reply.ok]
        if refused:
            self._report(False, f'{self.service} refused the request: {refused[0]}')
            return None
        try:
            arrays = [decode_prior_reply(reply) for reply in replies]
        except PriorReplyError as err:
            self._report(False, f'{self.service} sent a malformed reply: {err}')
            return None
        self._report(True, '')
        return PriorOutput(**{name: np.concatenate([a[name] for a in arrays])
                              for name in reply_fields(replies[0].action_type)})
