# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Trainer node: prior-guided PPO on the experience of a sim (or robot) bridge.

The run is a `TrainConfig` (lago_ros/rl/train_config.py): its fields are this node's parameters
(`ppo.beta`, `ppo.num_steps`, ...), declared from the dataclasses through lago_ros.config, with
their docstrings and allowed values, and handed back typed: the YAML of `lago train` and the ROS
parameters cannot drift apart. The run itself is the run service's (lago_ros/rl/run.py), shared
with `lago train`: the same resume check (a checkpoint trained with other settings is refused at
start-up), final evaluation and run-folder files. The envs are a RemoteVecEnv over the bridge and
the prior a PriorServiceClient over the prior service.

Failure handling: a prior service still starting gets `prior_timeout` s before the first
rollout; a missing prior service means an unguided rollout (logged once per change);
a bridge that stops answering aborts the rollout (it is never used half-collected), the trainer
waits for the bridge to come back, resets the envs and collects that rollout again. After each
update a TrainingMetrics message goes out on ~/metrics; at the end the policy is evaluated and
`eval: success_rate=... mean_return=... episodes=N` is logged. Ctrl-C writes a checkpoint first.

`ppo.beta` is tunable at runtime (`ros2 param set /trainer ppo.beta 0.05`): the next PPO update
uses it and later checkpoints record it (resume with that value). Every other parameter is read
once at start-up.
"""

import sys
import typing
from typing import Any, Dict, List, Optional, Tuple

from lago_interfaces.msg import TrainingMetrics
from lago_interfaces.srv import QueryPrior
import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from lago_ros.config import build, flat_fields, Leaf, unflatten
from lago_ros.nodes.params import declare_parameters, on_runtime_change, Param
from lago_ros.nodes.remote import BridgeUnavailableError, PriorServiceClient, RemoteVecEnv
from lago_ros.ros_env import configure_ros_environment
from lago_ros.utils import configure_logging

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
METRICS_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
"""~/metrics keeps the last 100 updates for late subscribers (a monitor, a test) to read."""
# TrainConfig fields the graph replaces: the prior (backend, int8) lives in the service,
# the envs in the bridge.
GRAPH_MANAGED = ('prior', 'prior_backend', 'prior_int8', 'vector_env', 'eval_split',
                 'train_split')
TUNABLE = {'ppo.beta': 'finite, >= 0; the next PPO update uses it (a decaying schedule starts '
                       'from it), later checkpoints record it; refused with adaptation '
                       'target_kl, which adapts beta itself'}
"""TrainConfig fields `ros2 param set` may change while training, with what a change does."""


def _optional(hint: Any) -> bool:
    return type(None) in typing.get_args(hint)


def config_parameters() -> List[Tuple[Param, Leaf]]:
    """
    ROS parameter rows for every TrainConfig leaf the graph does not manage, with the leaf.

    ROS has no null: an Optional field's default None becomes '' or 0, and reading '' or 0
    back means None.
    """
    from lago_ros.rl.train_config import TrainConfig

    rows = []
    for leaf in flat_fields(TrainConfig):
        if leaf.name in GRAPH_MANAGED:
            continue
        default = leaf.default
        if default is None:
            default = next(a for a in typing.get_args(leaf.hint) if a is not type(None))()
        if isinstance(default, tuple):
            default = list(default)
        rows.append((Param(leaf.name, default, leaf.doc, choices=leaf.choices,
                           tunable=TUNABLE.get(leaf.name, '')), leaf))
    return rows


def build_train_config(values: Dict[str, Any], rows: List[Tuple[Param, Leaf]]) -> Any:
    """Build the TrainConfig from declared parameter values, typed, through the config layer."""
    from lago_ros.rl.train_config import TrainConfig

    flat = {}
    for row, leaf in rows:
        value = values[row.name]
        if _optional(leaf.hint) and value in ('', 0, 0.0):
            value = None
        flat[row.name] = value
    return build(TrainConfig, unflatten(flat))


def parameter_table() -> Tuple[Param, ...]:
    """Return every parameter of the trainer: graph wiring, then the TrainConfig fields."""
    return NODE_PARAMETERS + tuple(row for row, _ in config_parameters())


class Trainer(Node):
    """Wires the bridge, the prior service and the run service together; the loop is PPO's."""

    def __init__(self, executor: SingleThreadedExecutor, **kwargs: Any) -> None:
        """Declare parameters, build the TrainConfig and check a resume; make envs and prior."""
        from lago_ros.rl.run import TrainingRun

        super().__init__('trainer', **kwargs)
        self.executor_ = executor
        self.config_rows = config_parameters()
        table = parameter_table()
        self.params = declare_parameters(self, table)
        self.cfg = build_train_config(self.params, self.config_rows)
        p = self.params
        self.run = TrainingRun(self.cfg, managed=GRAPH_MANAGED,
                               prior_source=p['prior_service'] or None)
        self.run_dir = self.run.run_dir
        executor.add_node(self)
        self.envs = RemoteVecEnv(self, executor, self.cfg.task, self.cfg.num_envs, p['bridge'],
                                 p['step_timeout'])
        self.prior = (PriorServiceClient(self, executor, p['prior_service'],
                                         p['prior_chunk_size'], p['prior_timeout'])
                      if p['prior_service'] else None)
        self.metrics_pub = self.create_publisher(TrainingMetrics, '~/metrics', METRICS_QOS)
        on_runtime_change(self, table, self._tune)

    @property
    def agent(self) -> Any:
        """The PPO agent once training started, else None."""
        return self.run.agent

    def _tune(self, changes: Dict[str, Any]) -> str:
        """Take a new ppo.beta for the next update (`ros2 param set`); '' or why it is refused."""
        from lago_ros.rl.guidance import with_beta

        beta, old = changes['ppo.beta'], self.cfg.guidance.beta
        try:
            self.cfg.guidance = with_beta(self.cfg.guidance, beta)  # what a run not started uses
        except ValueError as err:
            self.get_logger().warning(f'refused ppo.beta={beta}: {err}')
            return f'ppo.beta: {err}'
        if self.agent is not None and self.agent.guidance is not None:
            self.agent.guidance.set_beta(beta)
        self.get_logger().info(f'ppo.beta {old} -> {beta}: the next PPO update uses it')
        return ''

    def _wait_for_bridge(self) -> None:
        timeout = self.params['bridge_wait_timeout']
        self.get_logger().info(f'waiting up to {timeout} s for bridge {self.envs.bridge}')
        if not self.envs.wait_for_bridge(timeout):
            raise BridgeUnavailableError(
                f'bridge {self.envs.bridge} did not appear within {timeout} s; start it '
                '(sim_bridge) with the same task and num_envs')

    def _wait_for_prior(self) -> None:
        """Give a prior service still starting `prior_timeout` s to appear before training."""
        name, timeout = self.params['prior_service'], self.params['prior_timeout']
        client = self.create_client(QueryPrior, name)
        try:
            if not client.wait_for_service(timeout_sec=timeout):
                self.get_logger().warning(f'prior service {name} did not appear within {timeout} '
                                          's; the first rollouts train unguided')
        finally:
            self.destroy_client(client)

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
        if self.prior is not None:
            self._wait_for_prior()
        self.run.start(self.envs, self.prior)
        self._completed_step = self.agent.global_step
        while self.agent.global_step < self.cfg.total_timesteps:
            try:
                self.run.learn(callback=self.publish_metrics)
            except BridgeUnavailableError as err:
                self.agent.global_step = self._completed_step
                if not self.context.ok():  # Ctrl-C ended the step wait: not an outage
                    raise ExternalShutdownException() from err
                self.get_logger().error(f'{err}: discarding the partial rollout')
                self._wait_for_bridge()
                self.agent.reset_envs()

    def evaluate(self) -> Dict[str, Any]:
        """Evaluate on the bridge's envs, write the run's summary; logs the `eval:` line."""
        summary = self.run.finish(self.envs)
        result = summary['eval']
        self.get_logger().info(
            f"eval: success_rate={result['success_rate']:.3f} "
            f"mean_return={result['mean_return']:.3f} episodes={len(result['returns'])} "
            f"checkpoint={summary['checkpoint']}")
        return summary

    def checkpoint(self) -> None:
        """Write run_dir/checkpoint.pt now (Ctrl-C); a half-collected rollout is not kept."""
        if self.agent is not None:
            self.agent.global_step = getattr(self, '_completed_step', self.agent.global_step)
            path = self.agent.save(self.run.checkpoint)
            self.get_logger().info(f'checkpoint written to {path}')

    def destroy_node(self) -> None:
        """Close the metrics writers and the remote env (those built before a failure)."""
        for part in (getattr(self, 'run', None), getattr(self, 'envs', None)):
            if part is not None:
                part.close()
        super().destroy_node()


def main(args: Optional[List[str]] = None) -> int:
    """Console script `trainer`: train, evaluate, exit 0; Ctrl-C checkpoints and exits 0."""
    configure_ros_environment()
    configure_logging(fmt='[%(name)s] %(message)s')  # the project's loggers only
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
    except Exception as err:
        if node is not None and not node.context.ok():  # a signal hit mid-call: shut down
            node.checkpoint()
        elif isinstance(err, (ValueError, BridgeUnavailableError)):
            rclpy.logging.get_logger('trainer').fatal(str(err))
            if node is not None:
                node.run.discard_if_unused()
            code = 2
        else:
            raise
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == '__main__':
    sys.exit(main())
