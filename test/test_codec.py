# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The wire formats round-trip: decode(encode(x)) == x for every valid x, in Python and over CDR.

Strategies draw only valid inputs (sizes that agree, whole-number discrete actions in range,
non-blank instructions); each must be accepted and come back with equal values, also after
`serialize_message`/`deserialize_message` (the bytes DDS carries). The refusals of malformed
input are R1's property tests in test_fuzz_requests.py.
"""

from types import SimpleNamespace

from hypothesis import given, settings, strategies as st
from lago_interfaces.srv import QueryPrior
import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message

from lago_ros.nodes.codec import (ActionMessageError, decode_prior_reply, decode_query,
                                  decode_vec_action, decode_vec_step, encode_prior_reply,
                                  encode_query, encode_vec_action, encode_vec_step,
                                  PriorReplyError, StepMessageError, StepResult)

ROUND_TRIP = settings(max_examples=150, deadline=None)
ANY_FLOAT32 = st.floats(width=32)
FINITE32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
# ROS strings are C strings on the wire: NUL ends them, so valid text holds none.
TEXT = st.text(st.characters(codec='utf-8', exclude_characters='\x00'), max_size=20)
INSTRUCTION = TEXT.filter(lambda text: text.strip())


def over_the_wire(msg):
    """Return the message after CDR and back, as a subscriber receives it."""
    return deserialize_message(serialize_message(msg), type(msg))


def arrays(shape, elements):
    return st.lists(elements, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))).map(
        lambda values: np.asarray(values, np.float32).reshape(shape))


@st.composite
def step_results(draw):
    """Draw StepResults of 1-4 envs with 1-6 observation values (any float32, NaN/Inf too)."""
    n, dim = draw(st.integers(1, 4)), draw(st.integers(1, 6))
    flags = st.lists(st.booleans(), min_size=n, max_size=n).map(lambda v: np.asarray(v, bool))
    return StepResult(observations=draw(arrays((n, dim), ANY_FLOAT32)),
                      final_observations=draw(arrays((n, dim), ANY_FLOAT32)),
                      rewards=draw(arrays((n,), ANY_FLOAT32)), terminated=draw(flags),
                      truncated=draw(flags), success=draw(flags),
                      instructions=draw(st.lists(TEXT, min_size=n, max_size=n)))


@ROUND_TRIP
@given(step_results(), st.integers(0, 2 ** 64 - 1), TEXT)
def test_vec_step_round_trips(result, step_id, task):
    for msg in (encode_vec_step(result, step_id, task),
                over_the_wire(encode_vec_step(result, step_id, task))):
        got_id, got_task, got = decode_vec_step(msg)
        assert (got_id, got_task) == (step_id, task)
        for name in ('observations', 'final_observations', 'rewards', 'terminated',
                     'truncated', 'success'):
            expected = getattr(result, name)
            np.testing.assert_array_equal(getattr(got, name), expected)
            assert getattr(got, name).dtype == expected.dtype
        assert got.instructions == result.instructions


def test_vec_step_with_arrays_that_disagree_is_refused():
    msg = encode_vec_step(StepResult(np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32),
                                     np.zeros(2, np.float32), np.zeros(2, bool),
                                     np.zeros(2, bool), np.zeros(2, bool), ['a', 'b']), 7, 'x')
    msg.rewards = [0.0]
    with pytest.raises(StepMessageError, match='rewards has 1 values; expected 2'):
        decode_vec_step(msg)


@st.composite
def vec_actions(draw):
    """(space, actions) pairs: finite float32 (N, dim) or whole numbers in [0, n) of shape (N,)."""
    n = draw(st.integers(1, 4))
    if draw(st.booleans()):
        dim = draw(st.integers(1, 6))
        return (SimpleNamespace(task='c', num_envs=n, action_type='continuous', action_dim=dim),
                draw(arrays((n, dim), FINITE32)))
    choices = draw(st.integers(1, 64))
    values = draw(st.lists(st.integers(0, choices - 1), min_size=n, max_size=n))
    return (SimpleNamespace(task='d', num_envs=n, action_type='discrete', action_dim=choices),
            np.asarray(values, np.int64))


@ROUND_TRIP
@given(vec_actions(), st.integers(0, 2 ** 64 - 1))
def test_vec_action_round_trips(space_actions, step_id):
    space, actions = space_actions
    for msg in (encode_vec_action(actions, step_id),
                over_the_wire(encode_vec_action(actions, step_id))):
        assert msg.step_id == step_id
        decoded = decode_vec_action(msg, space)
        assert decoded.dtype == actions.dtype and decoded.shape == actions.shape
        np.testing.assert_array_equal(decoded, actions)


def test_vec_action_for_other_envs_is_refused():
    space = SimpleNamespace(task='reach-v3', num_envs=2, action_type='continuous', action_dim=4)
    with pytest.raises(ActionMessageError, match='num_envs=1, action_dim=4; this bridge hosts'):
        decode_vec_action(encode_vec_action(np.zeros((1, 4), np.float32), 1), space)


@st.composite
def queries(draw):
    """(observations (B, D) finite float32, instructions): one shared text or B non-blank ones."""
    batch, dim = draw(st.integers(1, 8)), draw(st.integers(1, 6))
    observations = draw(arrays((batch, dim), FINITE32))
    shared = draw(st.booleans())
    texts = ([draw(INSTRUCTION)] * batch if shared
             else draw(st.lists(INSTRUCTION, min_size=batch, max_size=batch)))
    return observations, texts


@ROUND_TRIP
@given(queries())
def test_query_round_trips(query):
    observations, texts = query
    batch, dim = observations.shape
    for request in (encode_query(observations, texts),
                    over_the_wire(encode_query(observations, texts))):
        got, instructions = decode_query(request, obs_dim=dim, max_batch_size=batch)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, observations)
        assert (instructions * batch if len(instructions) == 1 else instructions) == texts
        assert len(instructions) == (1 if len(set(texts)) == 1 else batch)


@st.composite
def prior_outputs(draw):
    """(action_type, output) with (B, A) finite float32 logits, or mean and positive std."""
    batch, width = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    if draw(st.booleans()):
        return 'discrete', SimpleNamespace(logits=draw(arrays((batch, width), FINITE32)))
    std = draw(arrays((batch, width), st.floats(2.0 ** -20, 2.0 ** 20, width=32)))
    return 'continuous', SimpleNamespace(mean=draw(arrays((batch, width), FINITE32)), std=std)


@ROUND_TRIP
@given(prior_outputs(), st.floats(0, 1e6))
def test_prior_reply_round_trips(typed_output, inference_ms):
    action_type, output = typed_output
    response = encode_prior_reply(QueryPrior.Response(), output, action_type, inference_ms)
    for reply in (response, over_the_wire(response)):
        assert reply.ok and reply.action_type == action_type
        assert reply.inference_ms == inference_ms
        decoded = decode_prior_reply(reply)
        assert sorted(decoded) == sorted(vars(output))
        for name, values in decoded.items():
            np.testing.assert_array_equal(values, getattr(output, name))


def test_prior_reply_with_short_arrays_is_refused():
    reply = encode_prior_reply(QueryPrior.Response(), SimpleNamespace(
        mean=np.zeros((2, 4), np.float32), std=np.ones((2, 4), np.float32)), 'continuous', 1.0)
    reply.std = reply.std[:7]
    with pytest.raises(PriorReplyError, match='std has 7 values; expected 8'):
        decode_prior_reply(reply)
