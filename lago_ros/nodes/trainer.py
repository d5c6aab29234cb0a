# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Trainer node: prior-guided PPO on the experience of a sim (or robot) bridge.

The run is a `TrainConfig` (lago_ros.rl.experiment): its fields are this node's parameters, with
the PPO section under `ppo.` (`ppo.beta`, `ppo.num_steps`, ...), generated from the dataclasses so
the YAML of `lago train` and the ROS parameters cannot drift apart. The envs are a RemoteVecEnv
over the bridge and the prior a PriorServiceClient over the prior service.

Failure handling: a missing prior service means an unguided rollout (logged once per change);
a bridge that stops answering aborts the rollout (it is never used half-collected), the trainer
waits for the bridge to come back, resets the envs and collects that rollout again. After each
update a TrainingMetrics message goes out on ~/metrics; at the end the policy is evaluated and
`eval: success_rate=... mean_return=... episodes=N` is logged. Ctrl-C writes a checkpoint first.
"""

import ast
import dataclasses
import inspect
import logging
import sys
import textwrap
import typing
from typing import Any, Dict, List, Optional, Tuple

from lago_interfaces.msg import TrainingMetrics
import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from lago_ros.nodes.params import declare_parameters, Param
from lago_ros.nodes.remote import BridgeUnavailableError, PriorServiceClient, RemoteVecEnv
from lago_ros.ros_env import configure_ros_environment

NODE_PARAMETERS = (
    Param('bridge', '/sim_bridge', 'fully qualified node name of the sim/robot bridge'),
    Param('prior_service', '/prior_service/query',
          "QueryPrior service of the prior; '' trains without guidance"),
    Param('prior_chunk_size', 256, 'states per QueryPrior request (<= its max_batch_size)',
          1, 65536),
    Param('prior_timeout', 30.0, 's to wait for the prior of one rollout before going unguided',
          0.1, 3600.0),
    Param('step_timeout', 10.0, 's to wait for one bridge step before aborting the rollout',
          0.1, 3600.0),
    Param('bridge_wait_timeout', 120.0, 's to wait for an absent bridge before giving up',
          0.1, 86400.0),
)
# TrainConfig fields the graph replaces: the prior (backend, int8) lives in the service,
# the envs in the bridge.
GRAPH_MANAGED = ('prior', 'prior_backend', 'prior_int8', 'vector_env', 'eval_split')


def _field_docs(cls: type) -> Dict[str, str]:
    """Map each dataclass field to the docstring under it (house style documents fields so)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs = {}
    for node, following in zip(body, body[1:], strict=False):
        if isinstance(node, ast.AnnAssign) and isinstance(following, ast.Expr) \
                and isinstance(following.value, ast.Constant):
            docs[node.target.id] = ' '.join(str(following.value.value).split())
    return docs


def config_parameters(cls: type, prefix: str = '') -> List[Tuple[Param, Any]]:
    """
    ROS parameter rows for every field of TrainConfig (PPOConfig nested under `ppo.`).

    Returns (row, type hint) pairs. ROS has no null: an Optional field's default None becomes ''
    or 0, and reading '' or 0 back means None.
    """
    hints, docs = typing.get_type_hints(cls), _field_docs(cls)
    defaults = cls()
    rows = []
    for field in dataclasses.fields(cls):
        if field.name in GRAPH_MANAGED or field.name == 'seed' and prefix:
            continue
        value, hint = getattr(defaults, field.name), hints[field.name]
        if dataclasses.is_dataclass(value):
            rows += config_parameters(type(value), f'{prefix}{field.name}.')
            continue
        if value is None:
            inner = next(a for a in typing.get_args(hint) if a is not type(None))
            value = inner()
        if isinstance(value, tuple):
            value = list(value)
        rows.append((Param(prefix + field.name, value, docs.get(field.name, '')), hint))
    return rows


def build_train_config(values: Dict[str, Any], rows: List[Tuple[Param, Any]]) -> Any:
    """Build the TrainConfig from declared parameter values (validated by load_config)."""
    import yaml

    from lago_ros.rl.experiment import load_config

    overrides = []
    for row, hint in rows:
        value = values[row.name]
        if type(None) in typing.get_args(hint) and value in ('', 0, 0.0):
            value = None
        text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...')
        overrides.append(f'{row.name}={text.strip()}')
    return load_config(None, overrides)


def parameter_table() -> Tuple[Param, ...]:
    """Return every parameter of the trainer: graph wiring, then the TrainConfig fields."""
    from lago_ros.rl.experiment import TrainConfig

    return NODE_PARAMETERS + tuple(row for row, _ in config_parameters(TrainConfig))


class Trainer(Node):
    """Owns the PPO run: wiring only; the loop is PPO.learn, publishing after each update."""

    def __init__(self, executor: SingleThreadedExecutor, **kwargs: Any) -> None:
        """Declare parameters, build the TrainConfig, the remote envs, the prior client and PPO."""
        from lago_ros.rl.experiment import TrainConfig

        super().__init__('trainer', **kwargs)
        self.executor_ = executor
        self.config_rows = config_parameters(TrainConfig)
        self.params = declare_parameters(self, parameter_table())
        self.cfg = build_train_config(self.params, self.config_rows)
        executor.add_node(self)
        p = self.params
        self.envs = RemoteVecEnv(self, executor, self.cfg.task, self.cfg.num_envs, p['bridge'],
                                 p['step_timeout'])
        self.prior = (PriorServiceClient(self, executor, p['prior_service'],
                                         p['prior_chunk_size'], p['prior_timeout'])
                      if p['prior_service'] else None)
        self.metrics_pub = self.create_publisher(TrainingMetrics, '~/metrics', 10)
        self.run_dir = self.cfg.resolved_run_dir()
        self.agent = None

    def _wait_for_bridge(self) -> None:
        timeout = self.params['bridge_wait_timeout']
        self.get_logger().info(f'waiting up to {timeout} s for bridge {self.envs.bridge}')
        if not self.envs.wait_for_bridge(timeout):
            raise BridgeUnavailableError(
                f'bridge {self.envs.bridge} did not appear within {timeout} s; start it '
                '(sim_bridge) with the same task and num_envs')

    def _build_agent(self) -> Any:
        from lago_ros.rl.ppo import CHECKPOINT_NAME, PPO

        checkpoint = self.run_dir / CHECKPOINT_NAME
        if checkpoint.exists():
            agent = PPO.load(checkpoint, self.envs, self.prior, self.run_dir)
            self.get_logger().info(f'resuming {checkpoint} at step {agent.global_step}')
            return agent
        return PPO(self.cfg.ppo, self.envs, self.prior, self.run_dir, task=self.cfg.task)

    def publish_metrics(self, agent: Any, stats: dict) -> None:
        """Publish one update's scalars on ~/metrics (PPO.learn's per-update callback)."""
        stats = dict(stats)
        msg = TrainingMetrics(global_step=int(stats.pop('global_step', agent.global_step)),
                              update=agent.update_index)
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.names = list(stats)
        msg.values = [float(v) for v in stats.values()]
        self.metrics_pub.publish(msg)
        self._completed_step = agent.global_step

    def train(self) -> None:
        """
        Run PPO over the whole budget, surviving bridge outages.

        A rollout cut short by a lost bridge is discarded (its steps are not counted), and
        training resumes on freshly reset envs once a bridge answers again.
        """
        self._wait_for_bridge()
        self.agent = self._build_agent()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._completed_step = self.agent.global_step
        while self.agent.global_step < self.cfg.total_timesteps:
            try:
                self.agent.learn(self.cfg.total_timesteps, self.cfg.checkpoint_every,
                                 callback=self.publish_metrics)
            except BridgeUnavailableError as err:
                self.agent.global_step = self._completed_step
                self.get_logger().error(f'{err}: discarding the partial rollout')
                self._wait_for_bridge()
                self.agent.reset_envs()

    def evaluate(self) -> Any:
        """Deterministic evaluation on the bridge's envs; logs the `eval:` line."""
        from lago_ros.rl.evaluate import evaluate
        from lago_ros.rl.experiment import EVAL_SEED_OFFSET
        from lago_ros.rl.ppo import CHECKPOINT_NAME

        result = evaluate(self.agent.predict, self.envs, self.cfg.eval_episodes,
                          self.cfg.seed + EVAL_SEED_OFFSET)
        self.get_logger().info(
            f'eval: success_rate={result.success_rate:.3f} '
            f'mean_return={result.mean_return:.3f} episodes={len(result.returns)} '
            f'checkpoint={self.run_dir / CHECKPOINT_NAME}')
        return result

    def checkpoint(self) -> None:
        """Write run_dir/checkpoint.pt now (used on Ctrl-C)."""
        from lago_ros.rl.ppo import CHECKPOINT_NAME

        if self.agent is not None:
            path = self.agent.save(self.run_dir / CHECKPOINT_NAME)
            self.get_logger().info(f'checkpoint written to {path}')

    def destroy_node(self) -> None:
        """Close the metrics writers and the remote env with the node."""
        if self.agent is not None:
            self.agent.close()
        self.envs.close()
        super().destroy_node()


def main(args: Optional[List[str]] = None) -> int:
    """Console script `trainer`: train, evaluate, exit 0; Ctrl-C checkpoints and exits 0."""
    configure_ros_environment()
    logging.basicConfig(level=logging.INFO, format='[%(name)s] %(message)s')
    rclpy.init(args=args)
    executor = SingleThreadedExecutor()
    node = None
    code = 0
    try:
        node = Trainer(executor)
        node.train()
        node.evaluate()
    except (KeyboardInterrupt, ExternalShutdownException):
        if node is not None:
            node.checkpoint()
    except (ValueError, BridgeUnavailableError) as err:
        rclpy.logging.get_logger('trainer').fatal(str(err))
        code = 2
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == '__main__':
    sys.exit(main())
