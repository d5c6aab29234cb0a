# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The main job behind `make run`: demos -> prior (stage 1) -> LaGO through the ROS 2 graph.

Each stage writes into the work folder and is skipped when its output is already there, so the
job can be re-run cheaply after a change to a later stage. Every key is checked before the first
stage starts (the prior and bc sections as typed dataclasses, the launch section against
train.launch.xml's arguments), so a typo costs no demo collection or prior training.
"""

import logging
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from lago_ros.config import build, coerce, ConfigError, load_yaml

LOG = logging.getLogger('lago.run')
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / 'config' / 'run.yaml'
LAUNCH_FILE = 'train.launch.xml'
SECTIONS = {'task', 'seed', 'work_dir', 'demos', 'recipe', 'prior', 'bc', 'launch'}
DEMO_KEYS = {'episodes', 'steps_after_success'}


def load_job_config(path: Optional[str], overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Read the main-job YAML (default config/run.yaml, else the installed copy) + overrides."""
    if path is None:
        path = DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else _installed_config()
    data = load_yaml(path, overrides)
    unknown = sorted(set(data) - SECTIONS)
    if unknown:
        raise ConfigError(f'unknown key(s) {unknown} in {path}; valid: {sorted(SECTIONS)}')
    return data


class JobPlan:
    """The main job's settings, every key checked: what each stage will run with."""

    def __init__(self, cfg: Dict[str, Any]) -> None:
        """Check every section; raise ConfigError (one line) on the first bad key or value."""
        from lago_ros.launcher import LaunchFile, resolve_launch_file
        from lago_ros.prior.model import PriorConfig
        from lago_ros.prior.train import BCConfig

        self.task = coerce('task', cfg.get('task', 'reach-v3'), str)
        self.seed = coerce('seed', cfg.get('seed', 0), int)
        self.work = Path(coerce('work_dir', cfg.get('work_dir', 'runs/main'), str)).resolve()
        demos = cfg.get('demos', {})
        if not isinstance(demos, dict) or set(demos) - DEMO_KEYS:
            raise ConfigError(f'demos must be a mapping with keys {sorted(DEMO_KEYS)}, '
                              f'got {demos!r}')
        self.episodes = coerce('demos.episodes', demos.get('episodes', 10), int)
        self.steps_after_success = coerce('demos.steps_after_success',
                                          demos.get('steps_after_success', 0), int)
        if self.episodes < 1:
            raise ConfigError(f'demos.episodes is {self.episodes}; expected a positive integer')
        if self.steps_after_success < 0:
            raise ConfigError(f'demos.steps_after_success is {self.steps_after_success}; '
                              'expected >= 0')
        # The prior recipe (config/prior.yaml) is the base; this file's prior/bc only override.
        recipe = _recipe(cfg.get('recipe'))
        self.prior = build(PriorConfig, {'task': self.task, **_mapping(recipe, 'prior'),
                                         **_mapping(cfg, 'prior')}, 'prior.')
        self.bc = build(BCConfig, {'seed': self.seed, **_mapping(recipe, 'bc'),
                                   **_mapping(cfg, 'bc')}, 'bc.')
        self.demos_dir = self.work / f'demos-{self.task}'
        self.prior_dir = self.work / f'prior-{self.task}'
        self.launch_arguments = {
            'task': self.task, 'seed': str(self.seed), 'prior_path': str(self.prior_dir),
            'run_dir': str(self.work / f'train-{self.task}-seed{self.seed}'),
            **{str(k): str(v) for k, v in _mapping(cfg, 'launch').items()}}
        try:  # parse the graph now: an unknown launch argument fails before any stage runs
            LaunchFile(resolve_launch_file(LAUNCH_FILE), self.launch_arguments)
        except ValueError as err:
            raise ConfigError(f'launch: {err}') from err


def _mapping(cfg: Dict[str, Any], name: str) -> Dict[str, Any]:
    value = cfg.get(name) or {}
    if not isinstance(value, dict):
        raise ConfigError(f'{name} must be a mapping of keys, got {value!r}')
    return value


def _installed_config(name: str = 'run.yaml') -> Path:
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory('lago_ros')) / 'config' / name


def _recipe(path: Optional[str]) -> Dict[str, Any]:
    """Read the prior recipe's prior/bc sections (None: none); config/ falls back to the share."""
    if path is None:
        return {}
    file = Path(path)
    if not file.is_absolute():
        source = DEFAULT_CONFIG.parents[1] / file
        file = source if source.is_file() else _installed_config(file.name)
    if not file.is_file():
        raise ConfigError(f'recipe {path} does not exist; expected e.g. config/prior.yaml')
    data = load_yaml(file)
    unknown = sorted(set(data) - {'prior', 'bc'})
    if unknown:
        raise ConfigError(f'recipe {path} has unknown section(s) {unknown}; expected prior, bc')
    return data


def run_main_job(config: Optional[str] = None, overrides: Sequence[str] = ()) -> int:
    """Run the three stages; return the launcher's exit code (0 when training finished)."""
    from lago_ros.data.demos import collect_demos, load_demos
    from lago_ros.launcher import main as launch
    from lago_ros.prior.train import train_prior

    plan = JobPlan(load_job_config(config, overrides))
    if not (plan.demos_dir / 'metadata.json').exists():
        LOG.info('stage 0: collecting expert demonstrations of %s', plan.task)
        collect_demos(plan.task, plan.episodes, seed=plan.seed + 10_000, out_dir=plan.demos_dir,
                      overwrite=True, steps_after_success=plan.steps_after_success)
    if not (plan.prior_dir / 'config.json').exists():
        LOG.info('stage 1: fitting the action prior on %s', plan.demos_dir)
        train_prior(load_demos(plan.demos_dir), plan.prior, plan.bc, out_dir=plan.prior_dir)
    LOG.info('stage 2: LaGO training through the ROS 2 graph (launch/%s)', LAUNCH_FILE)
    return launch([LAUNCH_FILE] + [f'{k}:={v}' for k, v in plan.launch_arguments.items()])
