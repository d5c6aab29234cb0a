# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The wire formats of the graph in one place: VecStep, VecAction and QueryPrior.

Every message has an `encode_*` (numpy -> message) used by its sender and a `decode_*`
(message -> numpy) used by its receiver, so both ends read one layout. Decoders check what a
receiver cannot trust (sizes, NaN/Inf, discrete ranges) and raise a ValueError subclass with a
one-line reason. Headers (stamp, frame) are left to the nodes, which own the clock. Imports the
message types and numpy only, never rclpy: tests round-trip every format without a ROS graph.
"""

import array
from dataclasses import dataclass
from typing import Dict, List, Protocol, Sequence, Tuple

from lago_interfaces.msg import VecAction, VecStep
from lago_interfaces.srv import QueryPrior
import numpy as np


class StepMessageError(ValueError):
    """A VecStep whose arrays do not match its num_envs and obs_dim."""


class ActionMessageError(ValueError):
    """A VecAction that does not fit the hosted envs (size, values or step sequence)."""


class QueryError(ValueError):
    """A QueryPrior request that cannot be answered as sent."""


class PriorReplyError(ValueError):
    """A QueryPrior response whose arrays do not match its batch_size and action_dim."""


@dataclass
class StepResult:
    """One vector step (or reset) of N envs, as numpy arrays in the VecStep layout."""

    observations: np.ndarray
    """(N, obs_dim) float32; the first observation of the next episode where an env ended."""
    final_observations: np.ndarray
    """(N, obs_dim) float32; the last observation of ended episodes, zeros elsewhere."""
    rewards: np.ndarray
    """(N,) float32."""
    terminated: np.ndarray
    """(N,) bool."""
    truncated: np.ndarray
    """(N,) bool."""
    success: np.ndarray
    """(N,) bool."""
    instructions: List[str]
    """One instruction per env, for the episode its observation belongs to."""


class ActionSpace(Protocol):
    """What decoding a VecAction needs to know about the envs (an EnvBackend has it)."""

    task: str
    num_envs: int
    action_type: str
    action_dim: int


def _floats(values: np.ndarray) -> array.array:
    """Row-major float32 values as the array type message fields store (no per-value copy)."""
    return array.array('f', np.ascontiguousarray(values, np.float32).tobytes())


# -- VecStep: bridge -> trainer / deploy

def encode_vec_step(result: StepResult, step_id: int, task: str) -> VecStep:
    """Pack one vector step; num_envs and obs_dim come from the observations' shape."""
    num_envs, obs_dim = np.shape(result.observations)
    return VecStep(step_id=int(step_id), task=task, num_envs=num_envs, obs_dim=obs_dim,
                   observations=_floats(result.observations),
                   final_observations=_floats(result.final_observations),
                   rewards=_floats(result.rewards),
                   terminated=[bool(v) for v in result.terminated],
                   truncated=[bool(v) for v in result.truncated],
                   success=[bool(v) for v in result.success],
                   instructions=[str(text) for text in result.instructions])


def decode_vec_step(msg: VecStep) -> Tuple[int, str, StepResult]:
    """Return (step_id, task, result); raise StepMessageError if sizes disagree."""
    n, dim = int(msg.num_envs), int(msg.obs_dim)
    sizes = {'observations': n * dim, 'final_observations': n * dim, 'rewards': n,
             'terminated': n, 'truncated': n, 'success': n, 'instructions': n}
    for name, expected in sizes.items():
        if len(getattr(msg, name)) != expected:
            raise StepMessageError(f'VecStep {name} has {len(getattr(msg, name))} values; '
                                   f'expected {expected} (num_envs={n}, obs_dim={dim})')
    return int(msg.step_id), msg.task, StepResult(
        observations=np.asarray(msg.observations, np.float32).reshape(n, dim),
        final_observations=np.asarray(msg.final_observations, np.float32).reshape(n, dim),
        rewards=np.asarray(msg.rewards, np.float32), terminated=np.asarray(msg.terminated, bool),
        truncated=np.asarray(msg.truncated, bool), success=np.asarray(msg.success, bool),
        instructions=list(msg.instructions))


def first_observation(msg: VecStep) -> np.ndarray:
    """Observation of env 0 (what a single-robot consumer acts on), unchecked float32 values."""
    return np.asarray(msg.observations[:msg.obs_dim], np.float32)


# -- VecAction: trainer / deploy -> bridge

def encode_vec_action(actions: np.ndarray, step_id: int) -> VecAction:
    """Pack (N, action_dim) continuous or (N,) / (N, 1) discrete actions."""
    values = np.asarray(actions)
    num_envs = values.shape[0]
    width = values.size // num_envs if num_envs else 0
    return VecAction(step_id=int(step_id), num_envs=num_envs, action_dim=width,
                     actions=_floats(values))


def decode_vec_action(msg: VecAction, space: ActionSpace) -> np.ndarray:
    """
    Return the array the envs step with, or raise ActionMessageError.

    Continuous: (N, action_dim) float32, finite (range is the bridge's business). Discrete:
    (N,) int64 whole numbers in [0, action_dim).
    """
    n = space.num_envs
    width = 1 if space.action_type == 'discrete' else space.action_dim
    if msg.num_envs != n or msg.action_dim != width:
        raise ActionMessageError(
            f'action is for num_envs={msg.num_envs}, action_dim={msg.action_dim}; this bridge '
            f'hosts num_envs={n}, action_dim={width} ({space.task})')
    actions = np.asarray(msg.actions, dtype=np.float32)
    if actions.size != n * width:
        raise ActionMessageError(f'actions has {actions.size} values, expected {n * width} '
                                 f'(num_envs * action_dim)')
    if not np.isfinite(actions).all():
        raise ActionMessageError('actions contain NaN or Inf; expected finite values')
    if space.action_type == 'continuous':
        return actions.reshape(n, width)
    if (actions != np.round(actions)).any() or actions.min() < 0 \
            or actions.max() >= space.action_dim:
        raise ActionMessageError(f'discrete actions must be whole numbers in '
                                 f'[0, {space.action_dim}), got {actions.tolist()}')
    return actions.astype(np.int64)


# -- QueryPrior: client -> prior service -> client

def encode_query(observations: np.ndarray, instructions: Sequence[str]) -> QueryPrior.Request:
    """Pack a (B, obs_dim) batch; one shared `instruction` when all B are equal, else B."""
    observations = np.asarray(observations, np.float32)
    request = QueryPrior.Request(batch_size=observations.shape[0],
                                 obs_dim=observations.shape[1],
                                 observations=_floats(observations))
    texts = [str(text) for text in instructions]
    if len(set(texts)) == 1:
        request.instruction = texts[0]
    else:
        request.instructions = texts
    return request


def decode_query(request: QueryPrior.Request, obs_dim: int,
                 max_batch_size: int) -> Tuple[np.ndarray, List[str]]:
    """Check a request against the prior; return (observations (B, obs_dim), instructions)."""
    batch = request.batch_size
    if batch == 0:
        raise QueryError('batch_size is 0; expected at least one state')
    if batch > max_batch_size:
        raise QueryError(f'batch_size {batch} exceeds max_batch_size {max_batch_size}; '
                         'split the request')
    if request.obs_dim != obs_dim:
        raise QueryError(f'obs_dim is {request.obs_dim}, the prior expects {obs_dim}')
    if len(request.observations) != batch * obs_dim:
        raise QueryError(f'observations has {len(request.observations)} values, expected '
                         f'{batch * obs_dim} (batch_size * obs_dim)')
    observations = np.asarray(request.observations, np.float32).reshape(batch, obs_dim)
    bad = np.flatnonzero(~np.isfinite(observations).all(axis=1))
    if bad.size:
        raise QueryError(f'observations contain NaN or Inf in rows {bad[:10].tolist()}')
    instructions = list(request.instructions) or [request.instruction]
    if len(instructions) not in (1, batch):
        raise QueryError(f'got {len(instructions)} instructions for batch_size {batch}; '
                         'expected 0 (use instruction), 1 or batch_size')
    empty = [i for i, text in enumerate(instructions) if not text.strip()]
    if empty:
        raise QueryError(f'instruction is empty (rows {empty[:10]}); expected the task '
                         'instruction text for every state')
    return observations, instructions


def reply_fields(action_type: str) -> Tuple[str, ...]:
    """Response arrays that carry a distribution of this action type."""
    return ('logits',) if action_type == 'discrete' else ('mean', 'std')


def encode_prior_reply(response: QueryPrior.Response, output: object, action_type: str,
                       inference_ms: float) -> QueryPrior.Response:
    """Fill an ok response from a PriorOutput-like object ((B, action_dim) arrays)."""
    arrays = {name: np.asarray(getattr(output, name)) for name in reply_fields(action_type)}
    first = next(iter(arrays.values()))
    response.ok, response.action_type = True, action_type
    response.batch_size, response.action_dim = first.shape
    response.inference_ms = float(inference_ms)
    for name, values in arrays.items():
        setattr(response, name, _floats(values))
    return response


def decode_prior_reply(reply: QueryPrior.Response) -> Dict[str, np.ndarray]:
    """Return {'logits'} or {'mean', 'std'} as (batch_size, action_dim) float32 arrays."""
    if reply.action_type not in ('discrete', 'continuous'):
        raise PriorReplyError(f'action_type is {reply.action_type!r}; expected discrete or '
                              'continuous')
    rows, width = int(reply.batch_size), int(reply.action_dim)
    out = {}
    for name in reply_fields(reply.action_type):
        values = np.asarray(getattr(reply, name), np.float32)
        if values.size != rows * width:
            raise PriorReplyError(f'reply {name} has {values.size} values; expected '
                                  f'{rows * width} (batch_size * action_dim)')
        out[name] = values.reshape(rows, width)
    return out
