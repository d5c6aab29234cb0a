# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Prior service node (lifecycle): serves the LaGO action prior as lago_interfaces/QueryPrior.

on_configure loads the prior folder (parameter prior_path; a failure leaves the node unconfigured
with the reason logged); on_activate creates ~/query, on_deactivate removes it, so clients see the
service exactly while it can answer. With autostart (default) the node configures and activates
itself, so no lifecycle tool is needed. Bad requests get ok=False and a reason and the node keeps
serving. /diagnostics carries the load state, latency p50/p99 and throughput. ~/describe
(DescribePrior, always served) tells a client the prior's task, the instructions to send, the
observation size and the action layout, or why no prior is loaded.

Memory stays bounded however many distinct instructions clients send: instructions longer than
max_instruction_tokens are refused, the ONNX Runtime graphs (one per padded prefix length) are
all built at configure time, and the cached instruction keys/values are bounded in bytes.

Instructions: `instructions` (one per state, or one shared) wins over `instruction`; an empty
instruction string is refused, because the prior was trained with one for every state.
"""

from collections import deque
import os
import sys
import time
from typing import Any, List, Optional

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from lago_interfaces.srv import DescribePrior, QueryPrior
import numpy as np
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from lago_ros.nodes.codec import decode_query, encode_prior_reply
from lago_ros.nodes.params import declare_parameters, Param, spin_node

PARAMETERS = (
    Param('prior_path', '', 'folder of a prior saved by ActionPrior.save_pretrained'),
    Param('device', 'cpu', 'torch device the prior runs on', constraints='cpu, cuda, cuda:N'),
    Param('torch_threads', 1, "torch intra-op threads; 0 keeps torch's default (all cores). "
          'More threads than free cores makes inference tens of times slower', 0, 256),
    Param('backend', 'onnxruntime', 'what runs the per-state pass: onnxruntime (same outputs '
          'as torch, ~3x faster single queries; falls back to torch if it fails) or torch',
          constraints='onnxruntime or torch'),
    Param('int8', False, 'int8 weights (dynamic quantisation): faster on CPU, distributions '
          'move slightly (bench/bench_prior.py --int8 measures it)'),
    Param('max_batch_size', 1024, 'largest batch_size a request may carry', 1, 65536),
    Param('max_instruction_tokens', 0, 'longest instruction accepted, in tokens (special tokens '
          "included); longer ones are refused. 0 = the prior's own max_instruction_tokens, "
          'which is also the most allowed (the prior cuts longer ones)', 0, 4096),
    Param('diagnostics_rate', 1.0, 'Hz of /diagnostics messages; 0 disables', 0.0, 100.0),
    Param('autostart', True, 'configure and activate on start-up (no lifecycle tool needed)'),
)
LATENCY_WINDOW = 1000
BACKENDS = ('onnxruntime', 'torch')


class PriorService(LifecycleNode):
    """Lifecycle node answering QueryPrior with ActionPrior.predict."""

    def __init__(self, **kwargs: Any) -> None:
        """Declare parameters, start diagnostics and, with autostart, configure and activate."""
        super().__init__('prior_service', **kwargs)
        self.params = declare_parameters(self, PARAMETERS)
        self.prior = None
        self.predictor: Any = None
        self.limit: Any = None
        self.description: Any = None
        self._service = None
        self._load_state = 'unconfigured'
        self._latencies: deque = deque(maxlen=LATENCY_WINDOW)
        self._window_states = 0
        self._window_start = time.monotonic()
        self._requests = self._errors = 0
        self._diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        if self.params['diagnostics_rate'] > 0:
            self.create_timer(1.0 / self.params['diagnostics_rate'], self.publish_diagnostics)
        self.create_service(DescribePrior, '~/describe', self._on_describe)
        if self.params['autostart'] \
                and self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the prior; stay unconfigured with a clear log when that fails."""
        import torch

        from lago_ros.prior.describe import describe_prior
        from lago_ros.prior.instruction_limit import InstructionLimit
        from lago_ros.prior.model import ActionPrior

        if self.params['torch_threads']:
            torch.set_num_threads(self.params['torch_threads'])
        path = self.params['prior_path']
        try:
            if not path:
                raise ValueError('parameter prior_path is empty; expected a prior folder')
            if self.params['backend'] not in BACKENDS:
                raise ValueError(f"parameter backend is {self.params['backend']!r}; expected "
                                 f'one of {BACKENDS}')
            self.prior = ActionPrior.from_pretrained(path, device=self.params['device'])
            self.limit = InstructionLimit.for_prior(self.prior,
                                                    self.params['max_instruction_tokens'])
            self.description = describe_prior(self.prior.config, self.limit.max_tokens)
            self.predictor = self._predictor()
        except (ValueError, OSError, RuntimeError) as err:
            self._load_state = f'load failed: {err}'
            self.get_logger().error(f'cannot load the prior, staying unconfigured: {err}')
            return TransitionCallbackReturn.FAILURE
        config = self.prior.config
        self._load_state = 'loaded'
        refused = [text for text in self.description.instructions if not self.limit.accepts(text)]
        if refused:
            self.get_logger().warning(
                f'{len(refused)} of the {len(self.description.instructions)} instructions of '
                f'task {config.task} exceed max_instruction_tokens {self.limit.max_tokens} and '
                f'will be refused, e.g. {refused[0]!r}')
        self.get_logger().info(
            f'loaded prior {path} (task {config.task or "?"}, obs_dim {config.obs_dim}, '
            f'{config.action_type} x {config.action_dim})')
        return TransitionCallbackReturn.SUCCESS

    def _predictor(self) -> Any:
        """Return what answers queries: the prior, its int8 version or its ONNX Runtime runner."""
        if self.params['backend'] == 'onnxruntime':
            from lago_ros.prior.model import PriorConfigError
            from lago_ros.prior.onnx_runtime import OnnxPrior, prefix_buckets

            try:
                predictor = OnnxPrior(self.prior, int8=self.params['int8'],
                                      threads=self.params['torch_threads'] or os.cpu_count() or 1,
                                      buckets=prefix_buckets(self.limit.max_tokens))
            except PriorConfigError as err:  # full attention or not on cpu
                self.get_logger().info(f'{err}; serving with torch')
            else:
                try:  # every graph now, so no query pays for an export
                    predictor.warm()
                    return predictor
                except Exception as err:  # export failures come in many types
                    self.get_logger().error(f'cannot export the ONNX Runtime prior ({err}); '
                                            'serving with torch')
        return self.prior.quantize_int8() if self.params['int8'] else self.prior

    def _predict(self, observations: np.ndarray, instructions: list) -> Any:
        """Run the predictor; if ONNX Runtime fails (not on bad input), fall back to torch."""
        from lago_ros.prior.model import PriorInputError

        self.limit.check(instructions)
        try:
            return self.predictor.predict(observations, instructions)
        except PriorInputError:
            raise
        except Exception as err:  # export and ONNX Runtime failures come in many types
            if self.predictor is self.prior:
                raise
            self.get_logger().error(f'the ONNX Runtime prior failed ({err}); serving with torch '
                                    'from now on')
            self.predictor = self.prior
            return self.prior.predict(observations, instructions)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start serving ~/query."""
        self._service = self.create_service(QueryPrior, '~/query', self._on_query)
        self._load_state = 'active'
        self.get_logger().info(f'serving {self._service.service_name}')
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop serving ~/query (the prior stays loaded)."""
        self._stop_serving()
        self._load_state = 'loaded'
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Drop the prior."""
        self.prior, self.predictor, self._load_state = None, None, 'unconfigured'
        self.limit = self.description = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop serving and drop the prior."""
        self._stop_serving()
        self.prior, self.predictor, self._load_state = None, None, 'finalized'
        self.limit = self.description = None
        return TransitionCallbackReturn.SUCCESS

    def _stop_serving(self) -> None:
        if self._service is not None:
            self.destroy_service(self._service)
            self._service = None

    def _on_describe(self, request: DescribePrior.Request,
                     response: DescribePrior.Response) -> DescribePrior.Response:
        described = self.description
        if described is None or self.prior is None:
            response.ok, response.error = False, f'no prior loaded ({self._load_state})'
            return response
        for name in ('task', 'instructions', 'obs_dim', 'action_type', 'action_dim',
                     'action_names', 'action_low', 'action_high', 'action_layout_json',
                     'max_instruction_tokens'):
            setattr(response, name, getattr(described, name))
        response.max_batch_size = self.params['max_batch_size']
        response.backend = type(self.predictor).__name__
        response.ok = True
        return response

    def _on_query(self, request: QueryPrior.Request,
                  response: QueryPrior.Response) -> QueryPrior.Response:
        config = self.prior.config
        self._requests += 1
        response.action_type, response.action_dim = config.action_type, config.action_dim
        start = time.perf_counter()
        try:
            observations, instructions = decode_query(request, config.obs_dim,
                                                      self.params['max_batch_size'])
            output = self._predict(observations, instructions)
        except ValueError as err:
            self._errors += 1
            response.ok, response.error = False, str(err)
            return response
        elapsed_ms = (time.perf_counter() - start) * 1e3
        self._latencies.append(elapsed_ms)
        self._window_states += len(observations)
        return encode_prior_reply(response, output, config.action_type, elapsed_ms)

    def diagnostic_status(self) -> DiagnosticStatus:
        """Load state, request counts, latency p50/p99 and throughput since the last call."""
        now = time.monotonic()
        rate = self._window_states / max(now - self._window_start, 1e-9)
        self._window_states, self._window_start = 0, now
        backend = type(self.predictor).__name__ if self.predictor is not None else '-'
        values = [('state', self._load_state), ('prior_path', self.params['prior_path']),
                  ('backend', backend),
                  ('onnx_graphs', str(getattr(self.predictor, 'graphs', 0))),
                  ('requests', str(self._requests)), ('errors', str(self._errors)),
                  ('throughput_states_per_s', f'{rate:.1f}')]
        if self._latencies:
            p50, p99 = np.percentile(np.asarray(self._latencies), [50, 99])
            values += [('latency_p50_ms', f'{p50:.3f}'), ('latency_p99_ms', f'{p99:.3f}')]
        level = (DiagnosticStatus.OK if self._load_state == 'active'
                 else DiagnosticStatus.ERROR if 'failed' in self._load_state
                 else DiagnosticStatus.WARN)
        return DiagnosticStatus(level=level, name=f'{self.get_fully_qualified_name()}: prior',
                                message=self._load_state, hardware_id='lago_prior',
                                values=[KeyValue(key=k, value=v) for k, v in values])

    def publish_diagnostics(self) -> None:
        """Publish one DiagnosticArray with this node's status."""
        msg = DiagnosticArray(status=[self.diagnostic_status()])
        msg.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics.publish(msg)


def main(args: Optional[List[str]] = None) -> int:
    """Console script `prior_service`."""
    return spin_node(PriorService, args)


if __name__ == '__main__':
    sys.exit(main())
