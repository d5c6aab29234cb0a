# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
R1: property tests of the pure validation functions behind the nodes' inputs.

Each function gets arbitrary (mostly malformed) input and must either accept it with the
documented guarantees or raise a ValueError subclass with a message; any other exception type
(AttributeError, TypeError, OverflowError, ...) would crash a node callback or a CLI. The
explicit cases below are the bugs this fuzzing found (ill-typed deploy mappings, NaN commands,
non-finite config numbers); they were fixed and stay as regression tests.
"""

import contextlib
import functools
import io
from types import SimpleNamespace

import gymnasium as gym
from hypothesis import example, given, HealthCheck, settings, strategies as st
from lago_interfaces.msg import VecAction
from lago_interfaces.srv import QueryPrior
import numpy as np
import pytest
import yaml

from lago_ros.control.guards import CommandShaper, DeployConfigError, ObservationAssembler
from lago_ros.launcher import main as launcher_main
from lago_ros.nodes.codec import ActionMessageError, decode_query, decode_vec_action, QueryError
from lago_ros.nodes.sim_bridge import EnvBackend
from lago_ros.rl.experiment import ConfigError, load_config, TrainConfig
from lago_ros.rl.guidance import GuidanceConfig, PriorGuidance
from lago_ros.rl.ppo import PPO, PPOConfig

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
FLOATS32 = st.floats(width=32, allow_nan=True, allow_infinity=True)
TEXT = st.text(max_size=12) | st.sampled_from(['reach the goal', '', ' ', '\t', 'push'])


# -- codec.decode_query (the prior service's request check)

@st.composite
def query_requests(draw, obs_dim=5, max_batch=8):
    """Draw requests near the valid ones: sizes off by one, NaN/Inf, odd instructions."""
    batch = draw(st.integers(0, max_batch + 2) | st.sampled_from([2 ** 32 - 1, 2 ** 20]))
    dim = draw(st.sampled_from([obs_dim, obs_dim, 0, 1, obs_dim + 1, 2 ** 32 - 1]))
    count = min(batch * dim, 64) + draw(st.sampled_from([0, 0, 0, -1, 1]))
    values = draw(st.lists(FLOATS32, min_size=max(count, 0), max_size=max(count, 0)))
    n_instr = draw(st.sampled_from([0, 1, batch, batch + 1, 2]))
    instructions = draw(st.lists(TEXT, min_size=min(n_instr, 16), max_size=min(n_instr, 16)))
    return QueryPrior.Request(instruction=draw(TEXT), instructions=instructions,
                              batch_size=batch, obs_dim=dim, observations=values)


@FUZZ
@given(query_requests())
def test_parse_request_accepts_only_well_formed_queries(request):
    try:
        observations, instructions = decode_query(request, obs_dim=5, max_batch_size=8)
    except QueryError as err:
        assert isinstance(err, ValueError) and str(err)
        return
    batch = request.batch_size
    assert 1 <= batch <= 8 and request.obs_dim == 5
    assert observations.shape == (batch, 5) and np.isfinite(observations).all()
    assert len(instructions) in (1, batch) and all(text.strip() for text in instructions)


FINITE32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
INSTRUCTION = st.text(st.characters(codec='utf-8', exclude_characters='\x00'),
                      max_size=12).filter(str.strip)


@st.composite
def valid_query_requests(draw, obs_dim=5, max_batch=8):
    """Draw requests as a client builds them by hand: every one is well formed."""
    batch = draw(st.integers(1, max_batch))
    values = draw(st.lists(FINITE32, min_size=batch * obs_dim, max_size=batch * obs_dim))
    count = draw(st.sampled_from([0, 1, batch]))
    instructions = draw(st.lists(INSTRUCTION, min_size=count, max_size=count))
    shared = draw(INSTRUCTION if count == 0 else st.just('') | INSTRUCTION)
    return QueryPrior.Request(instruction=shared, instructions=instructions, batch_size=batch,
                              obs_dim=obs_dim, observations=values)


@FUZZ
@given(valid_query_requests())
def test_parse_request_accepts_every_well_formed_query_with_its_values(request):
    observations, instructions = decode_query(request, obs_dim=5, max_batch_size=8)
    expected = np.asarray(request.observations, np.float32).reshape(request.batch_size, 5)
    np.testing.assert_array_equal(observations, expected)
    assert observations.dtype == np.float32
    assert instructions == (list(request.instructions) or [request.instruction])


# -- codec.decode_vec_action (the sim bridge's action check)

BACKENDS = {
    'continuous': SimpleNamespace(task='reach-v3', num_envs=3, action_type='continuous',
                                  action_dim=4),
    'discrete': SimpleNamespace(task='clevr-robot', num_envs=3, action_type='discrete',
                                action_dim=40),
}
ACTION_VALUES = FLOATS32 | st.integers(-2, 45).map(float) | st.sampled_from([0.5, 39.0, 40.0])


@st.composite
def vec_actions(draw):
    """Draw actions for 3 envs with the right or a wrong shape and arbitrary values."""
    num_envs = draw(st.sampled_from([3, 3, 0, 2, 4, 2 ** 32 - 1]))
    action_dim = draw(st.sampled_from([1, 4, 4, 0, 5, 40]))
    count = draw(st.sampled_from([3, 12, 0, 11, 13]))
    return VecAction(step_id=draw(st.integers(0, 2 ** 64 - 1)), num_envs=num_envs,
                     action_dim=action_dim,
                     actions=draw(st.lists(ACTION_VALUES, min_size=count, max_size=count)))


@FUZZ
@given(vec_actions(), st.sampled_from(sorted(BACKENDS)))
def test_decode_action_accepts_only_actions_the_envs_can_take(msg, kind):
    backend = BACKENDS[kind]
    try:
        actions = decode_vec_action(msg, backend)
    except ActionMessageError as err:
        assert isinstance(err, ValueError) and str(err)
        return
    if kind == 'continuous':
        assert actions.shape == (3, 4) and actions.dtype == np.float32
        assert np.isfinite(actions).all()
        np.testing.assert_array_equal(actions, np.asarray(msg.actions, np.float32).reshape(3, 4))
    else:
        assert actions.shape == (3,) and actions.dtype == np.int64
        assert ((actions >= 0) & (actions < 40)).all()
        np.testing.assert_array_equal(actions, np.asarray(msg.actions))


@st.composite
def valid_vec_actions(draw, kind):
    """Draw actions the 3 envs of BACKENDS[kind] can take: all must be accepted."""
    backend = BACKENDS[kind]
    if kind == 'continuous':
        values = st.lists(FINITE32, min_size=12, max_size=12)
        action_dim = backend.action_dim
    else:
        values = st.lists(st.integers(0, backend.action_dim - 1).map(float), min_size=3,
                          max_size=3)
        action_dim = 1  # one index per env
    return VecAction(step_id=draw(st.integers(0, 2 ** 64 - 1)), num_envs=3,
                     action_dim=action_dim, actions=draw(values))


@FUZZ
@given(st.data(), st.sampled_from(sorted(BACKENDS)))
def test_decode_action_accepts_every_action_the_envs_can_take_with_its_values(data, kind):
    msg = data.draw(valid_vec_actions(kind))
    actions = decode_vec_action(msg, BACKENDS[kind])
    if kind == 'continuous':
        assert actions.dtype == np.float32
        np.testing.assert_array_equal(actions, np.asarray(msg.actions, np.float32).reshape(3, 4))
    else:
        assert actions.dtype == np.int64
        np.testing.assert_array_equal(actions, np.asarray(msg.actions).astype(np.int64))


class _FakeBackend(EnvBackend):
    """Two envs with 3-number observations and 2-number actions; counts the steps taken."""

    task, num_envs, obs_dim, action_type, action_dim = 'fake', 2, 3, 'continuous', 2

    def __init__(self) -> None:
        self.steps = 0
        self.actions = None

    def _result(self):
        from lago_ros.nodes.sim_bridge import StepResult

        flags = np.zeros(2, bool)
        return StepResult(np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32),
                          np.zeros(2, np.float32), flags, flags, flags, ['a', 'b'])

    def reset(self, seed):
        return self._result()

    def step(self, actions):
        self.steps += 1
        self.actions = actions
        return self._result()


@pytest.fixture(scope='module')
def bridge_node():
    """Make a SimBridge on the fake backend in this process (no messages leave it)."""
    import rclpy

    from lago_ros.nodes.sim_bridge import SimBridge

    context = rclpy.Context()
    rclpy.init(context=context)
    node = SimBridge(backend=_FakeBackend(), context=context)
    yield node
    node.destroy_node()
    rclpy.shutdown(context=context)


@FUZZ
@given(st.lists(st.sampled_from(['next', 'zero', 'repeat', 'skip', 'back'])
                | st.integers(1, 2 ** 64 - 1), max_size=25))
def test_bridge_steps_only_on_the_next_step_id(bridge_node, moves):
    reset = bridge_node._reset(None)
    last, steps = reset.step_id, bridge_node.backend.steps
    for move in moves:
        step_id = {'next': last + 1, 'zero': 0, 'repeat': last, 'skip': last + 2,
                   'back': last - 1}.get(move, move)
        action = VecAction(step_id=step_id, num_envs=2, action_dim=2, actions=[0.1] * 4)
        try:
            reply = bridge_node._step(action)
        except ActionMessageError as err:
            assert step_id not in (0, last + 1) and 'sequence' in str(err)
            continue
        assert step_id in (0, last + 1) and reply.step_id == last + 1
        last, steps = last + 1, steps + 1
        assert bridge_node.backend.steps == steps
    assert bridge_node.backend.steps == steps


@FUZZ
@given(st.lists(st.floats(-1e6, 1e6, width=32), min_size=4, max_size=4))
@example([5.0, -0.3, -7.5, 1.0])
def test_bridge_clips_continuous_actions_to_the_action_space(bridge_node, values):
    last, clipped = bridge_node._reset(None).step_id, bridge_node.clipped_values
    bridge_node._step(VecAction(step_id=last + 1, num_envs=2, action_dim=2, actions=values))
    expected = np.clip(np.asarray(values, np.float32).reshape(2, 2), -1.0, 1.0)
    np.testing.assert_array_equal(bridge_node.backend.actions, expected)
    outside = int(np.count_nonzero(np.abs(np.asarray(values, np.float32)) > 1.0))
    assert bridge_node.clipped_values == clipped + outside


# -- control.guards (the deploy node): ObservationAssembler and CommandShaper

INDEX_ITEMS = st.integers(-2, 7) | st.builds('{}:{}'.format, st.integers(-1, 7), st.integers(0, 8))
INDICES = st.lists(INDEX_ITEMS, max_size=6)
MAPPINGS = st.fixed_dictionaries({}, optional={
    'joint_state': st.fixed_dictionaries({}, optional={
        'names': st.lists(st.sampled_from(['j0', 'j1', 'j2', 'j3']), max_size=4),
        'field': st.sampled_from(['position', 'velocity', 'effort', 'torque']),
        'obs_indices': INDICES}),
    'extra': st.fixed_dictionaries({}, optional={'obs_indices': INDICES}),
    'previous': st.fixed_dictionaries({}, optional={'obs_indices': INDICES,
                                                    'from_indices': INDICES}),
    'unknown': st.just({})})


@FUZZ
@given(MAPPINGS, st.lists(st.sampled_from(['j0', 'j1', 'j2', 'j9']), max_size=4),
       st.lists(st.floats(-10, 10), max_size=5), st.lists(st.floats(-10, 10), max_size=5))
@example({'joint_state': {'names': ['j0', 'j1'], 'obs_indices': [0, 1]},
          'extra': {'obs_indices': ['2:4']}}, ['j1', 'j0'], [1.0, 2.0], [3.0, 4.0])
def test_observation_assembler_checks_mappings_and_messages(mapping, names, values, extra):
    try:
        assembler = ObservationAssembler(4, mapping)
    except DeployConfigError as err:
        assert str(err)
        return
    covered = assembler.joint_idx + assembler.extra_idx + assembler.prev_idx
    assert sorted(covered) == [0, 1, 2, 3]
    try:
        obs = assembler.assemble(names, values[:len(names)], extra)
    except ValueError as err:
        assert str(err)
        return
    assert obs.shape == (4,)
    lookup = dict(zip(names, values, strict=False))
    for name, index in zip(assembler.joint_names, assembler.joint_idx, strict=True):
        assert obs[index] == lookup[name]
    np.testing.assert_array_equal(obs[assembler.extra_idx], extra)


@pytest.mark.parametrize('mapping', [
    {'joint_state': ['j0'], 'extra': {'obs_indices': [0, 1, 2, 3]}},
    {'extra': {'obs_indices': 4}},
    {'extra': {'obs_indices': ['0:two']}},
])
def test_observation_assembler_refuses_ill_typed_mappings(mapping):
    with pytest.raises(DeployConfigError, match='obs_indices|joint_state'):
        ObservationAssembler(4, mapping)


LIMITS = st.tuples(st.floats(-5, 0), st.floats(0, 5), st.floats(0.01, 2))


@FUZZ
@given(LIMITS, st.booleans(),
       st.lists(st.lists(st.floats(-100, 100), min_size=2, max_size=2), min_size=1, max_size=6))
def test_command_shaper_clamps_and_rate_limits_finite_actions(limits, velocity, actions):
    low, high, delta = limits
    shaper = CommandShaper(np.full(2, low), np.full(2, high), np.full(2, delta), velocity)
    last = np.zeros(2) if velocity else None
    for action in actions:
        command = shaper.shape(np.asarray(action))
        assert ((command >= low) & (command <= high)).all()
        if last is not None:
            assert (np.abs(command - last) <= delta + 1e-9).all()
        last = command


@pytest.mark.parametrize('velocity', [True, False])
def test_command_shaper_never_commands_nan(velocity):
    shaper = CommandShaper(np.full(2, -1.0), np.full(2, 1.0), np.full(2, 0.5), velocity)
    shaper.shape(np.array([0.1, 0.1]))
    with pytest.raises(ValueError, match=r'must be 2 finite'):
        shaper.shape(np.array([np.nan, 0.2]))
    # The refused action left the remembered command alone: the next one is shaped as usual.
    np.testing.assert_allclose(shaper.shape(np.array([0.2, 0.2])), [0.2, 0.2])


# -- launcher argument parsing

ARG_ITEMS = (st.builds('{}:={}'.format, st.sampled_from(['task', 'num_envs', 'beta', 'nope', '']),
                       TEXT | st.just('$(var task)'))
             | st.text(max_size=10).filter(lambda s: not s.startswith('-')))


@FUZZ
@given(st.lists(ARG_ITEMS, max_size=4))
def test_launcher_arguments_are_parsed_or_refused_cleanly(items):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = launcher_main(['train.launch.xml', *items, '--show'])
    assert code in (0, 2)
    if code == 2:
        assert err.getvalue().startswith('lago launch: ') and len(err.getvalue()) > 14
        return
    for item in items:
        name, sep, _ = item.partition(':=')
        assert sep and name in ('task', 'num_envs', 'beta')
    assert 'lago_ros.nodes.trainer' in out.getvalue() or 'trainer' in out.getvalue()


# -- PriorGuidance.to_params

@functools.lru_cache(maxsize=None)
def _agent(discrete: bool) -> PriorGuidance:
    space = gym.spaces.Discrete(4) if discrete else gym.spaces.Box(-1, 1, (3,), np.float32)
    envs = SimpleNamespace(num_envs=2, single_action_space=space,
                           single_observation_space=gym.spaces.Box(-np.inf, np.inf, (5,),
                                                                   np.float32))
    guidance = PriorGuidance(GuidanceConfig(), None)
    PPO(PPOConfig(num_steps=4, hidden_sizes=(8,)), envs, guidance)
    return guidance


ARRAYS = st.builds(
    lambda rows, cols, fill, kind: (np.full((rows, cols), fill, np.float64) if kind == 'float'
                                    else np.full((rows, cols), 'x') if kind == 'str'
                                    else [[fill] * cols, [fill]] if kind == 'ragged'
                                    else None),
    st.sampled_from([6, 6, 5, 0]), st.sampled_from([3, 4, 4, 3, 1]),
    st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, 1e-9, -1.0]),
    st.sampled_from(['float', 'float', 'float', 'str', 'ragged', 'none']))


@FUZZ
@given(st.booleans(), ARRAYS, ARRAYS, ARRAYS)
def test_prior_params_accepts_only_finite_outputs_of_the_right_shape(discrete, a, b, c):
    agent = _agent(discrete)
    output = SimpleNamespace(logits=a, mean=b, std=c)
    try:
        params = agent.to_params(output, 6)
    except ValueError as err:
        assert str(err)
        return
    width = 4 if discrete else 3
    assert all(tuple(p.shape) == (6, width) and bool(p.isfinite().all()) for p in params)
    if not discrete:
        assert float(params[1].min()) >= agent.config.min_prior_std


# -- load_config overrides

KEYS = ['task', 'seed', 'total_timesteps', 'num_envs', 'ppo', 'prior', 'run_dir',
        'checkpoint_every', 'ppo.beta', 'ppo.num_steps', 'ppo.hidden_sizes', 'ppo.kl_direction',
        'ppo.target_kl', 'ppo.anneal_lr', 'ppo.seed', 'ppo.beta_schedule', 'nope', 'ppo.nope',
        'ppo.beta.x', '', ' ']
YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 40, 2 ** 40) | st.floats()
    | st.text(max_size=8) | st.sampled_from(['1e400', 'nan', '-inf']),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.text(max_size=5) | st.integers(0, 3), inner, max_size=3),
    max_leaves=6)
RAW_VALUES = st.builds(lambda v: yaml.safe_dump(v, default_flow_style=True).strip(), YAML_VALUES)


@FUZZ
@given(st.lists(st.builds('{}={}'.format, st.sampled_from(KEYS), RAW_VALUES | TEXT)
                | st.text(max_size=12), max_size=3))
def test_load_config_overrides_give_a_config_or_config_error(overrides):
    try:
        cfg = load_config(None, overrides)
    except ConfigError as err:
        assert str(err)
        return
    assert isinstance(cfg, TrainConfig) and cfg.ppo.seed == cfg.seed


@pytest.mark.parametrize('override', ['ppo.num_steps=.inf', 'total_timesteps=1e400',
                                      'ppo.num_steps=.nan', 'ppo={1: 2}'])
def test_load_config_refuses_non_finite_numbers_and_non_string_keys(override):
    with pytest.raises(ConfigError, match=r'num_steps|total_timesteps|ppo'):
        load_config(None, [override])


def test_load_config_refuses_nan_beta():
    with pytest.raises(ConfigError, match='beta'):
        load_config(None, ['ppo.beta=.nan'])
