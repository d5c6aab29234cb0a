# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Env numbers stay as recorded: observations, rewards, instructions, expert actions and splits.

`env_reference.json` beside this file was written by `record()` from the code before the envs
were restructured; any change of seeding, goal or instruction draws, observation clipping or
instruction splits shows up here. Floats are compared to 1e-6 (a changed draw moves them by
far more); everything else exactly. Regenerate only for a deliberate change of env numbers:
`python test/test_env_numbers.py`.
"""

import hashlib
import json
from pathlib import Path
import sys
from typing import Any

import numpy as np
import pytest

REFERENCE = Path(__file__).with_name('env_reference.json')
METAWORLD_CASES = (('reach-v3', 5), ('push-v3', 7), ('drawer-open-v3', 2))
CLEVR_SEED = 4
STEPS = 4


def _floats(array: Any) -> list[float]:
    return np.asarray(array, dtype=np.float32).ravel().tolist()


def _episode(env: Any, expert: Any, seed: Any, split_env: Any) -> dict[str, Any]:
    """Reset (constructor seed, then `seed`), take STEPS expert steps, note the test split."""
    first_obs, first_info = env.reset()
    obs, info = env.reset(seed=seed)
    record = {'first_obs': _floats(first_obs), 'first_instruction': first_info['instruction'],
              'obs': [_floats(obs)], 'instructions': [info['instruction']], 'actions': [],
              'rewards': [], 'success': []}
    for _ in range(STEPS):
        action = expert(obs)
        obs, reward, _, _, info = env.step(action)
        record['actions'].append(_floats(action))
        record['obs'].append(_floats(obs))
        record['rewards'].append(float(reward))
        record['success'].append(bool(info['success']))
        record['instructions'].append(info['instruction'])
    record['test_split_instructions'] = [split_env.reset(seed=s)[1]['instruction']
                                         for s in range(6)]
    return record


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def record() -> dict[str, Any]:
    """Compute the numbers the reference pins, from the code as it is now."""
    from lago_ros.envs import clevr_language as lang
    from lago_ros.envs.instructions import instructions_for
    from lago_ros.envs.registry import list_tasks, make_env, make_expert, make_vec_env, \
        METAWORLD_TASKS

    result: dict[str, Any] = {'tasks': list_tasks()}
    for task, seed in METAWORLD_CASES:
        env = make_env(task, seed=seed)
        result[task] = _episode(env, make_expert(task, env), seed + 10,
                                make_env(task, seed=seed, split='test'))
    env = make_env('clevr-robot', seed=CLEVR_SEED)
    result['clevr-robot'] = _episode(env, make_expert('clevr-robot', env), CLEVR_SEED + 10,
                                     make_env('clevr-robot', seed=CLEVR_SEED, split='test'))
    for task in ('reach-v3', 'clevr-robot'):
        vec = make_vec_env(task, 2, seed=3)
        obs, info = vec.reset(seed=3)
        result[f'{task} vec'] = {'obs': _floats(obs), 'instructions': list(info['instruction'])}
        vec.close()
    result['metaworld_splits'] = _digest({task: {split: instructions_for(task, split)
                                                 for split in ('train', 'test')}
                                          for task in METAWORLD_TASKS})
    result['clevr_splits'] = _digest({split: [list(part) for part in lang.split_contents(split)]
                                      for split in lang.SPLITS})
    return result


@pytest.fixture(scope='module')
def numbers():
    return record()


@pytest.fixture(scope='module')
def reference():
    return json.loads(REFERENCE.read_text())


def _assert_same(actual: Any, expected: Any, where: str) -> None:
    if isinstance(expected, dict):
        assert sorted(actual) == sorted(expected), f'{where}: keys differ'
        for key in expected:
            _assert_same(actual[key], expected[key], f'{where}.{key}')
    elif isinstance(expected, list) and expected and isinstance(expected[0], float):
        np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-6, err_msg=where)
    elif isinstance(expected, list):
        assert len(actual) == len(expected), f'{where}: length differs'
        for i, (got, want) in enumerate(zip(actual, expected, strict=True)):
            _assert_same(got, want, f'{where}[{i}]')
    elif isinstance(expected, float):
        assert actual == pytest.approx(expected, rel=0, abs=1e-6), where
    else:
        assert actual == expected, where


@pytest.mark.filterwarnings('ignore:Constant.*may be too high:UserWarning')
@pytest.mark.parametrize('key', ['tasks', *(t for t, _ in METAWORLD_CASES), 'clevr-robot',
                                 'reach-v3 vec', 'clevr-robot vec', 'metaworld_splits',
                                 'clevr_splits'])
def test_env_numbers_match_the_reference(numbers, reference, key):
    _assert_same(numbers[key], reference[key], key)


def test_reference_covers_moves_and_both_splits(reference):
    for task in [t for t, _ in METAWORLD_CASES] + ['clevr-robot']:
        entry = reference[task]
        assert entry['obs'][0] != entry['obs'][-1], f'{task}: the expert never moved anything'
        assert set(entry['test_split_instructions']).isdisjoint(entry['instructions'])


if __name__ == '__main__':
    REFERENCE.write_text(json.dumps(record(), indent=1) + '\n')
    print(f'wrote {REFERENCE}', file=sys.stderr)
