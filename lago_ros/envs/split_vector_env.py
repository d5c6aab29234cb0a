# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
A vector env for two CPU cores: a worker process steps half the envs while this one steps the rest.

Why: a Meta-World step is mostly the simulator's own Python, so a second core nearly halves the
stepping time. gymnasium's AsyncVectorEnv runs one process per env, and on two cores its four
processes fight over them (measured slower than SyncVectorEnv on reach-v3). Here only one extra
process exists, it idles in a pipe read while the learner runs the policy, and one round trip
per vector step carries all of its envs' results. It pays only with a core to spare: on a machine
already busy with other work, the per-step hand-offs wait for CPU time and SyncVectorEnv wins.

The results equal SyncVectorEnv's with autoreset SAME_STEP: each env comes from the same factory
with the same seed, and infos (`final_obs`, `final_info`) are merged in env order with gymnasium's
own `_add_info`.
"""

import multiprocessing
import signal
from typing import Any, Callable, NoReturn, Optional, Sequence

import gymnasium as gym
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array, iterate
import numpy as np

EnvFn = Callable[[], gym.Env]

# One env's step result: obs, reward, terminated, truncated, info, and for an episode that just
# ended {'final_obs', 'final_info'} (its info then belongs to the next episode's reset).
StepResult = tuple[Any, float, bool, bool, dict, Optional[dict]]


class VectorEnvError(RuntimeError):
    """A sub-env raised, or the worker process that steps some of the envs died."""


class _EnvFailure(Exception):
    """An exception of env `index`, described in text (the worker's exception may not pickle)."""

    def __init__(self, index: int, error: BaseException) -> None:
        super().__init__(f'env {index} raised {type(error).__name__}: {error}')


def step_same_step(env: gym.Env, action: Any) -> StepResult:
    """Step `env`; at an episode end reset it at once, as autoreset SAME_STEP does."""
    obs, reward, terminated, truncated, info = env.step(action)
    final = None
    if terminated or truncated:
        final = {'final_obs': obs, 'final_info': info}
        obs, info = env.reset()
    return obs, reward, terminated, truncated, info, final


def _run_each(envs: Sequence[gym.Env], first: int, call: Callable[[gym.Env, Any], Any],
              args: Sequence[Any]) -> list:
    """Apply `call(env, arg)` to each env in order; name the failing env's global index."""
    results = []
    for offset, (env, arg) in enumerate(zip(envs, args, strict=True)):
        try:
            results.append(call(env, arg))
        except Exception as err:
            raise _EnvFailure(first + offset, err) from err
    return results


def _reset(options: Optional[dict]) -> Callable[[gym.Env, Optional[int]], tuple]:
    return lambda env, seed: env.reset(seed=seed, options=options)


def _worker(conn: Any, env_fns: Sequence[EnvFn]) -> None:
    """Serve 'step' and 'reset' requests for envs 0..len(env_fns)-1 until 'close' or EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    envs: list = []
    try:
        try:
            envs.extend(_run_each([None] * len(env_fns), 0, lambda _, fn: fn(), env_fns))
            conn.send(('ok', None))
        except _EnvFailure as err:
            conn.send(('error', str(err)))
            return
        while True:
            command, payload = conn.recv()
            if command == 'close':
                return
            try:
                if command == 'step':
                    result = _run_each(envs, 0, step_same_step, payload)
                else:
                    seeds, options = payload
                    result = _run_each(envs, 0, _reset(options), seeds)
                conn.send(('ok', result))
            except _EnvFailure as err:
                conn.send(('error', str(err)))
    except (EOFError, OSError):
        pass  # the parent went away: just exit
    finally:
        for env in envs:
            env.close()
        conn.close()


class SplitVectorEnv(VectorEnv):
    """
    `num_envs` envs: the first `num_envs // 2` in one worker process, the rest in this one.

    Env i is `env_fns[i]()`; the factories must pickle (e.g. functools.partial of a module-level
    function), since the worker is spawned. An env that raises, or a worker that dies, gives a
    VectorEnvError naming the env or the worker's exit code; `close()` ends the worker.
    """

    def __init__(self, env_fns: Sequence[EnvFn]) -> None:
        """Start the worker, make the local envs meanwhile, and wait until both are ready."""
        self.num_envs = len(env_fns)
        if self.num_envs < 1:
            raise ValueError('SplitVectorEnv needs at least one env factory')
        self._split = self.num_envs // 2
        self._process: Any = None
        self._conn: Any = None
        self._local: list = []
        self._local_results: Optional[list] = None  # between step_async and step_wait
        self._worker_ok = False
        if self._split:
            # spawn, not fork: the parent may hold threads (torch, ROS executors) that fork breaks
            context = multiprocessing.get_context('spawn')
            self._conn, child = context.Pipe()
            process = context.Process(target=_worker, args=(child, env_fns[:self._split]),
                                      name='SplitVectorEnv-worker', daemon=True)
            try:
                process.start()
            finally:
                child.close()
            self._process, self._worker_ok = process, True
        try:
            self._local = _run_each([None] * (self.num_envs - self._split), self._split,
                                    lambda _, fn: fn(), env_fns[self._split:])
            self._receive()
        except _EnvFailure as err:
            self.close()
            raise VectorEnvError(str(err)) from err.__cause__
        except BaseException:
            self.close()
            raise
        first = self._local[0]
        self.metadata = {**first.metadata, 'autoreset_mode': AutoresetMode.SAME_STEP}
        self.render_mode = first.render_mode
        self.spec = first.spec
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

    def reset(self, *, seed: Optional[int | Sequence[Optional[int]]] = None,
              options: Optional[dict] = None) -> tuple[Any, dict]:
        """Reset every env; an int `seed` gives env i the seed `seed + i`, like SyncVectorEnv."""
        if seed is None:
            seeds: Sequence[Optional[int]] = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(f'{len(seeds)} seeds given; expected num_envs={self.num_envs}')
        if options and 'reset_mask' in options:
            raise ValueError("SplitVectorEnv resets all envs; options['reset_mask'] is not "
                             'supported')
        results = self._run(('reset', (seeds[:self._split], options)), _reset(options),
                            seeds[self._split:])
        infos: dict = {}
        for i, (_, info) in enumerate(results):
            infos = self._add_info(infos, info, i)
        return self._batch([obs for obs, _ in results]), infos

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Step every env (worker and local ones at the same time) and merge in env order."""
        self.step_async(actions)
        return self.step_wait()

    def step_async(self, actions: Any) -> None:
        """
        Send the worker its actions and step the local envs; `step_wait` collects the results.

        The worker usually finishes a little after the local envs: a caller can use that time.
        """
        actions = list(iterate(self.action_space, actions))
        self._local_results = self._start(('step', actions[:self._split]), step_same_step,
                                          actions[self._split:])

    def step_wait(self) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Return the results of the `step_async` call before, like SyncVectorEnv's step."""
        if self._local_results is None:
            raise VectorEnvError('step_wait() without a step_async() before it')
        local, self._local_results = self._local_results, None
        results = self._receive() + local
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminations = np.zeros(self.num_envs, dtype=np.bool_)
        truncations = np.zeros(self.num_envs, dtype=np.bool_)
        infos: dict = {}
        for i, (_, reward, terminated, truncated, info, final) in enumerate(results):
            rewards[i], terminations[i], truncations[i] = reward, terminated, truncated
            if final is not None:
                infos = self._add_info(infos, final, i)
            infos = self._add_info(infos, info, i)
        return (self._batch([result[0] for result in results]), rewards, terminations,
                truncations, infos)

    def _batch(self, observations: list) -> Any:
        out = create_empty_array(self.single_observation_space, self.num_envs)
        return concatenate(self.single_observation_space, observations, out)

    def _run(self, request: tuple, call: Callable[[gym.Env, Any], Any],
             local_args: Sequence[Any]) -> list:
        """Send the worker its part, run the local part meanwhile, then join the results."""
        local = self._start(request, call, local_args)
        return self._receive() + local

    def _start(self, request: tuple, call: Callable[[gym.Env, Any], Any],
               local_args: Sequence[Any]) -> list:
        """Send the worker its part and return the local part's results."""
        if self.closed:
            raise VectorEnvError('SplitVectorEnv is closed')
        if self._local_results is not None:
            raise VectorEnvError('step_async() called again before step_wait()')
        if self._split:
            try:
                self._conn.send(request)
            except (BrokenPipeError, ConnectionError, OSError):
                self._worker_died()
        try:
            return _run_each(self._local, self._split, call, local_args)
        except _EnvFailure as err:
            self._receive()  # keep the pipe in step before raising
            raise VectorEnvError(str(err)) from err.__cause__

    def _receive(self) -> list:
        """Return the worker's reply (an empty list without a worker); raise on error or death."""
        if not self._split:
            return []
        try:
            status, payload = self._conn.recv()
        except (EOFError, ConnectionError, OSError):
            self._worker_died()
        if status == 'error':
            raise VectorEnvError(f'{payload} (in the worker process)')
        return payload or []

    def _worker_died(self) -> NoReturn:
        self._worker_ok = False
        self._process.join(timeout=5)
        raise VectorEnvError(f'the worker process stepping envs 0-{self._split - 1} died '
                             f'(exit code {self._process.exitcode}); close this vector env and '
                             'make a new one') from None

    def close_extras(self, **kwargs: Any) -> None:
        """Ask the worker to exit (terminate it if it does not), then close the local envs."""
        if self._process is not None:
            if self._worker_ok and self._process.is_alive():
                try:
                    self._conn.send(('close', None))
                except (BrokenPipeError, ConnectionError, OSError):
                    pass
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join()
            self._conn.close()
            self._process = None
        for env in self._local:
            env.close()
        self._local = []

    def __del__(self) -> None:
        """Close on garbage collection, so a forgotten env does not leave its worker behind."""
        if not getattr(self, 'closed', True) and hasattr(self, '_local'):
            self.close()
