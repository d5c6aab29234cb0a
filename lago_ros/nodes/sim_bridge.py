# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Sim bridge node: hosts a vector env and exchanges one VecStep per VecAction with the trainer.

Topics (relative to the node, so a namespace or name remap moves them all):
  ~/action (lago_interfaces/VecAction, in, reliable), ~/step (lago_interfaces/VecStep, out,
  reliable), ~/joint_states (sensor_msgs/JointState of the simulated arm of env 0, at
  joint_state_rate), ~/image (sensor_msgs/Image of env 0, at camera_rate, off by default).
Services: ~/reset (lago_interfaces/ResetEnvs), ~/step_once (lago_interfaces/StepEnvs).

Step ids: a reset answers with a fresh sequence start; every action must carry the previous id
plus one (or 0, meaning "the next one", for hand-written tools). An action that does not continue
the sequence is refused, so a trainer that lost its bridge can never mix the episodes of a
restarted bridge into a rollout. Continuous actions outside the action space are clipped to it
(the envs would clip them too), with a throttled warning; malformed actions are refused. The env
side is an `EnvBackend`: the vector env by default (`backend: vector`), or one robot behind
ROS topics (`backend: topics`, `lago_ros.nodes.topic_backend`, configured by the YAML file
`robot_config`; docs/robot.md). A backend that cannot take a step or reset now raises
`BackendUnavailableError`: the step is logged and not answered, a reset answers ok false. Messages
are packed and unpacked by `lago_ros.nodes.codec`.
"""

from dataclasses import dataclass
import random
import sys
from typing import Any, List, Optional, Protocol, Sequence, Tuple

import gymnasium as gym
from lago_interfaces.msg import VecAction, VecStep
from lago_interfaces.srv import ResetEnvs, StepEnvs
import numpy as np
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, JointState

from lago_ros.nodes.backend_errors import BackendUnavailableError
from lago_ros.nodes.codec import (ActionMessageError, decode_vec_action as decode_action,
                                  encode_vec_step, StepResult)
from lago_ros.nodes.params import declare_parameters, Param, spin_node

# Sawyer arm joints and gripper fingers in Meta-World's MuJoCo model.
SAWYER_JOINT_PREFIXES = ['right_j', 'r_close', 'l_close']
STEP_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
BACKENDS = ('vector', 'topics')

PARAMETERS = (
    Param('backend', 'vector', "'vector': simulated envs in this process; 'topics': one robot "
          'behind ROS topics, configured by robot_config', choices=BACKENDS),
    Param('robot_config', '', 'backend topics: the robot config YAML (see docs/robot.md)'),
    Param('task', 'reach-v3', 'registry task name of the hosted envs'),
    Param('num_envs', 8, 'number of envs in the vector env (the trainer must use the same)',
          1, 1024),
    Param('seed', 0, 'seed of the vector env (env i gets seed + i); resets may pass their own'),
    Param('split', 'train', 'instruction/goal split of the envs', choices=('train', 'test')),
    Param('max_episode_steps', 0, 'episode length limit; 0 keeps the task default', 0, 100000),
    Param('joint_state_rate', 20.0, 'Hz of ~/joint_states for the arm of env 0; 0 disables',
          0.0, 1000.0),
    Param('arm_joint_prefixes', SAWYER_JOINT_PREFIXES,
          'MuJoCo joint-name prefixes of the arm published on ~/joint_states'),
    Param('camera_rate', 0.0, 'Hz of ~/image rendered from env 0; 0 (default) disables',
          0.0, 60.0),
    Param('frame_id', 'world', 'frame_id of published headers'),
)


@dataclass
class JointSample:
    """Joint names with positions and velocities, for sensor_msgs/JointState."""

    names: List[str]
    positions: List[float]
    velocities: List[float]


class EnvBackend(Protocol):
    """What the bridge needs from whatever produces experience (simulator or real robot)."""

    task: str
    num_envs: int
    obs_dim: int
    action_type: str
    action_dim: int
    action_low: float = -1.0
    """Bounds of continuous actions (every task's action space is [-1, 1])."""
    action_high: float = 1.0

    def reset(self, seed: Optional[int]) -> StepResult:
        """Start new episodes in every env."""

    def step(self, actions: np.ndarray) -> StepResult:
        """Apply actions, (N, action_dim) float32 or (N,) int64, and return the outcome."""

    # Defaults for backends that subclass this protocol: no arm, no camera, nothing to release.
    def joint_state(self) -> Optional[JointSample]:
        """Joint state of the arm, or None where there is no arm."""
        return None

    def image(self) -> Optional[np.ndarray]:
        """Return an (H, W, 3) uint8 camera image, or None where there is none."""
        return None

    def close(self) -> None:
        """Release the envs."""


def _mujoco_handles(env: Any) -> Optional[Tuple[Any, Any]]:
    """(model, data) of a MuJoCo-based env, looking through wrappers; None if there is none."""
    import mujoco

    candidate = env
    while candidate is not None:
        candidate = candidate.unwrapped
        model, data = getattr(candidate, 'model', None), getattr(candidate, 'data', None)
        if isinstance(model, mujoco.MjModel) and isinstance(data, mujoco.MjData):
            return model, data
        candidate = getattr(candidate, '_env', None)
    return None


class VectorEnvBackend:
    """The default backend: `make_vec_env(task, num_envs, seed)` from the task registry."""

    def __init__(self, task: str, num_envs: int, seed: int, split: str = 'train',
                 max_episode_steps: int = 0, render: bool = False,
                 arm_joint_prefixes: Sequence[str] = SAWYER_JOINT_PREFIXES) -> None:
        """Make the vector env and find the arm joints of env 0's MuJoCo model."""
        from lago_ros.envs.registry import get_task, make_vec_env

        spec = get_task(task)
        options = {}
        if max_episode_steps:
            options['max_episode_steps'] = max_episode_steps
        if render:
            options['render_mode'] = 'rgb_array'
        self.task = task
        self.num_envs = num_envs
        self.obs_dim = spec.obs_dim
        self.action_type = spec.action_type
        self.action_dim = spec.action_dim
        self.envs = make_vec_env(task, num_envs, seed, split, **options)
        space = self.envs.single_action_space
        if isinstance(space, gym.spaces.Box):
            self.action_low, self.action_high = space.low, space.high
        self._render = render
        self._joints: List[Tuple[str, int, int]] = []
        handles = _mujoco_handles(self.envs.envs[0])
        self._data = None
        if handles is not None:
            import mujoco

            model, self._data = handles
            for j in range(model.njnt):
                name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j) or ''
                if name.startswith(tuple(arm_joint_prefixes)):
                    self._joints.append((name, int(model.jnt_qposadr[j]),
                                         int(model.jnt_dofadr[j])))

    def reset(self, seed: Optional[int]) -> StepResult:
        """Reset every env (env i with seed + i when a seed is given)."""
        obs, info = self.envs.reset(seed=seed)
        false = np.zeros(self.num_envs, dtype=bool)
        return StepResult(np.asarray(obs, np.float32), np.zeros_like(obs, dtype=np.float32),
                          np.zeros(self.num_envs, np.float32), false, false.copy(),
                          false.copy(), [str(s) for s in info['instruction']])

    def step(self, actions: np.ndarray) -> StepResult:
        """Advance every env once; an ended env restarts within this call (SAME_STEP autoreset)."""
        obs, rewards, terminated, truncated, info = self.envs.step(actions)
        final = np.zeros((self.num_envs, self.obs_dim), np.float32)
        success = np.asarray(info.get('success', np.zeros(self.num_envs, bool)), bool).copy()
        final_info = info.get('final_info', {})
        for i in np.flatnonzero(np.logical_or(terminated, truncated)):
            final[i] = info['final_obs'][i]
            if '_success' in final_info and final_info['_success'][i]:
                success[i] = bool(final_info['success'][i])
        return StepResult(np.asarray(obs, np.float32), final,
                          np.asarray(rewards, np.float32), np.asarray(terminated, bool),
                          np.asarray(truncated, bool), success,
                          [str(s) for s in info['instruction']])

    def joint_state(self) -> Optional[JointSample]:
        """Positions and velocities of the arm joints of env 0 (None without an arm)."""
        if not self._joints:
            return None
        return JointSample([name for name, _, _ in self._joints],
                           [float(self._data.qpos[q]) for _, q, _ in self._joints],
                           [float(self._data.qvel[d]) for _, _, d in self._joints])

    def image(self) -> Optional[np.ndarray]:
        """Return an RGB frame of env 0 when rendering was requested."""
        return self.envs.envs[0].render() if self._render else None

    def close(self) -> None:
        """Close the vector env."""
        self.envs.close()


class SimBridge(Node):
    """Steps an EnvBackend on VecAction messages and publishes one VecStep per vector step."""

    def __init__(self, backend: Optional[EnvBackend] = None, **kwargs: Any) -> None:
        """Declare parameters, make the backend (unless given) and create the ROS interfaces."""
        super().__init__('sim_bridge', **kwargs)
        self.params = declare_parameters(self, PARAMETERS)
        p = self.params
        self.backend = backend or self._make_backend()
        self._last_step_id = 0
        self.clipped_values = 0
        """Continuous action values clipped to the action space so far."""
        self._step_pub = self.create_publisher(VecStep, '~/step', STEP_QOS)
        self.create_subscription(VecAction, '~/action', self._on_action, STEP_QOS)
        self.create_service(ResetEnvs, '~/reset', self._on_reset)
        self.create_service(StepEnvs, '~/step_once', self._on_step_once)
        try:
            self._reset(p['seed'])
        except BackendUnavailableError as err:
            self.get_logger().error(f'no first step: {err}; call ~/reset once it can be taken')
        self._joint_pub = self._image_pub = None
        if p['joint_state_rate'] > 0 and self.backend.joint_state() is not None:
            self._joint_pub = self.create_publisher(JointState, '~/joint_states', 10)
            self.create_timer(1.0 / p['joint_state_rate'], self._publish_joint_state)
        if p['camera_rate'] > 0:
            self._image_pub = self.create_publisher(Image, '~/image', qos_profile_sensor_data)
            self.create_timer(1.0 / p['camera_rate'], self._publish_image)
        self.get_logger().info(
            f'hosting {self.backend.num_envs} x {self.backend.task} '
            f'(obs_dim {self.backend.obs_dim}, {self.backend.action_type} actions)')

    def _make_backend(self) -> EnvBackend:
        """Make the backend the parameters select."""
        p = self.params
        if p['backend'] == 'vector':
            return VectorEnvBackend(
                p['task'], p['num_envs'], p['seed'], p['split'], p['max_episode_steps'],
                render=p['camera_rate'] > 0, arm_joint_prefixes=p['arm_joint_prefixes'])
        from lago_ros.control.robot_config import load_robot_config, RobotConfigError
        from lago_ros.nodes.topic_backend import TopicBackend

        config = load_robot_config(p['robot_config']) if p['robot_config'] else None
        if config is None:
            raise RobotConfigError('backend topics needs robot_config, the robot config YAML '
                                   '(see config/robot_backend.yaml)')
        if p['num_envs'] != 1 or p['task'] != config.task:
            raise RobotConfigError(
                f'backend topics hosts 1 x {config.task} (robot_config {p["robot_config"]}); '
                f'the bridge parameters say {p["num_envs"]} x {p["task"]}: set num_envs 1 and '
                f'task {config.task} (the trainer needs the same)')
        return TopicBackend(config, f'{self.get_name()}_robot', self.get_namespace(),
                            seed=p['seed'], context=self.context)

    def _header_stamp(self, msg: Any) -> None:
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self.params['frame_id']

    def _to_msg(self, result: StepResult, step_id: int) -> VecStep:
        msg = encode_vec_step(result, step_id, self.backend.task)
        self._header_stamp(msg)
        return msg

    def _reset(self, seed: Optional[int]) -> VecStep:
        """Reset the envs, start a new step-id sequence and publish the first observations."""
        result = self.backend.reset(seed)
        self._last_step_id = random.SystemRandom().randint(1, 2 ** 31)
        msg = self._to_msg(result, self._last_step_id)
        self._step_pub.publish(msg)
        return msg

    def _step(self, action: VecAction) -> VecStep:
        """Validate and apply one VecAction; publish and return its VecStep."""
        step_id = action.step_id or self._last_step_id + 1
        if step_id != self._last_step_id + 1:
            raise ActionMessageError(
                f"action step_id {action.step_id} does not continue this bridge's sequence "
                f'(expected {self._last_step_id + 1} or 0); call ~/reset to start a new one')
        result = self.backend.step(self._clip(decode_action(action, self.backend)))
        self._last_step_id = step_id
        msg = self._to_msg(result, step_id)
        self._step_pub.publish(msg)
        return msg

    def _clip(self, actions: np.ndarray) -> np.ndarray:
        """Clip continuous actions to the action space; warn (throttled) when that changed any."""
        if self.backend.action_type != 'continuous':
            return actions
        clipped = np.clip(actions, self.backend.action_low, self.backend.action_high)
        outside = int(np.count_nonzero(clipped != actions))
        if outside:
            self.clipped_values += outside
            self.get_logger().warning(
                f'clipped {outside} action values to the action space [{self.backend.action_low}'
                f', {self.backend.action_high}] (largest |value| {np.abs(actions).max():.3g})',
                throttle_duration_sec=1.0)
        return clipped.astype(np.float32)

    def _on_action(self, action: VecAction) -> None:
        try:
            self._step(action)
        except ActionMessageError as err:
            self.get_logger().error(f'refused action, no step taken: {err}')
        except BackendUnavailableError as err:
            self.get_logger().error(f'no step taken, none answered: {err}',
                                    throttle_duration_sec=1.0)

    def _on_step_once(self, request: StepEnvs.Request,
                      response: StepEnvs.Response) -> StepEnvs.Response:
        try:
            response.step = self._step(request.action)
            response.ok = True
        except (ActionMessageError, BackendUnavailableError) as err:
            response.ok, response.error = False, str(err)
        return response

    def _on_reset(self, request: ResetEnvs.Request,
                  response: ResetEnvs.Response) -> ResetEnvs.Response:
        try:
            response.step = self._reset(request.seed if request.use_seed else None)
            response.ok = True
        except BackendUnavailableError as err:
            self.get_logger().error(f'reset failed: {err}')
            response.ok, response.error = False, str(err)
        return response

    def _publish_joint_state(self) -> None:
        sample = self.backend.joint_state()
        msg = JointState(name=sample.names, position=sample.positions,
                         velocity=sample.velocities)
        self._header_stamp(msg)
        self._joint_pub.publish(msg)

    def _publish_image(self) -> None:
        frame = self.backend.image()
        if frame is None:
            return
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        msg = Image(height=frame.shape[0], width=frame.shape[1], encoding='rgb8',
                    is_bigendian=0, step=frame.shape[1] * 3, data=frame.tobytes())
        self._header_stamp(msg)
        self._image_pub.publish(msg)

    def destroy_node(self) -> None:
        """Close the backend with the node."""
        self.backend.close()
        super().destroy_node()


def main(args: Optional[List[str]] = None) -> int:
    """Console script `sim_bridge`."""
    return spin_node(SimBridge, args)


if __name__ == '__main__':
    sys.exit(main())
