# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
One env of a sim or robot bridge as a gymnasium Env, for tools that act one step at a time.

`BridgeEnv` turns a `RemoteVecEnv` of one env (SAME_STEP autoreset) back into the plain
`reset`/`step` API that `lago_ros.data.demos` rolls its expert out in: a step that ends the
episode returns that episode's last observation and flags, and the next `reset()` returns the
episode the bridge already started inside that step instead of resetting the scene again (a
robot's reset is slow, and with the topic backend it moves the arm). A `reset(seed=...)`, or one
after an episode the caller cut short, asks the bridge for a new episode.

`open_bridge_env` makes the ROS side (a context of its own, a node, an executor) and closes it.
"""

from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional, Tuple

import gymnasium as gym
import numpy as np

from lago_ros.nodes.remote import BridgeUnavailableError, RemoteVecEnv


class BridgeEnv(gym.Env):
    """A bridge's one env: info carries `instruction` and `success`, as the registry's envs."""

    def __init__(self, remote: RemoteVecEnv) -> None:
        """Wrap `remote`, a RemoteVecEnv with num_envs 1."""
        if remote.num_envs != 1:
            raise ValueError(f'BridgeEnv drives one env; the RemoteVecEnv has {remote.num_envs}')
        self.remote = remote
        self.observation_space = remote.single_observation_space
        self.action_space = remote.single_action_space
        self.instruction = ''
        self._started: Optional[Tuple[np.ndarray, str]] = None
        """(first observation, instruction) of the episode the bridge began in the last step."""

    def reset(self, *, seed: Optional[int] = None,
              options: Optional[dict] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
        """Return the episode the bridge autoreset into, or reset it through ~/reset."""
        super().reset(seed=seed)
        started, self._started = self._started, None
        if started is not None and seed is None:
            obs, self.instruction = started
        else:
            observations, info = self.remote.reset(seed=seed)
            obs, self.instruction = observations[0], str(info['instruction'][0])
        return np.array(obs, np.float32), {'instruction': self.instruction, 'success': False}

    def step(self, action: Any) -> Tuple[np.ndarray, float, bool, bool, Dict[str, Any]]:
        """Step the bridge's env once; an ended episode's next one waits for `reset()`."""
        observations, rewards, terminated, truncated, info = self.remote.step(
            np.asarray(action)[None])
        done = bool(terminated[0] or truncated[0])
        instruction = self.instruction
        if done:
            obs = np.array(info['final_obs'][0], np.float32)
            success = bool(info['final_info']['success'][0])
            self._started = (np.array(observations[0], np.float32), str(info['instruction'][0]))
        else:
            obs, success = np.array(observations[0], np.float32), bool(info['success'][0])
        return obs, float(rewards[0]), bool(terminated[0]), bool(truncated[0]), \
            {'instruction': instruction, 'success': success}


@contextmanager
def open_bridge_env(bridge: str, task: str, step_timeout: float = 60.0,
                    wait_timeout: float = 60.0) -> Iterator[BridgeEnv]:
    """
    Connect to the bridge node `bridge` hosting one env of `task`; yield it as a BridgeEnv.

    Raises BridgeUnavailableError when the bridge does not appear within `wait_timeout` s, and
    (from a step or reset) when it does not answer within `step_timeout` s. The ROS context is
    this function's own and Ctrl-C stays a KeyboardInterrupt.
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    from lago_ros.ros_env import configure_ros_environment

    configure_ros_environment()
    context = rclpy.Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    node = executor = remote = None
    try:
        node = rclpy.create_node('lago_bridge_client', context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        remote = RemoteVecEnv(node, executor, task, 1, bridge, step_timeout)
        if not remote.wait_for_bridge(wait_timeout):
            raise BridgeUnavailableError(
                f'bridge {remote.bridge} did not appear within {wait_timeout} s; start a '
                f'sim_bridge with task {task} and num_envs 1 under that name')
        yield BridgeEnv(remote)
    finally:
        if remote is not None:
            remote.close()
        if executor is not None:
            executor.shutdown()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown(context=context)
