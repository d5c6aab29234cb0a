# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The main job behind `make run`: demos -> prior (stage 1) -> LaGO through the ROS 2 graph.

Each stage writes into the work folder and is skipped when its output is already there, so the
job can be re-run cheaply after a change to a later stage.
"""

import logging
from pathlib import Path
from typing import Any, Optional, Sequence

import yaml

from lago_ros.rl.experiment import apply_override, ConfigError

LOG = logging.getLogger('lago.run')
DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / 'config' / 'run.yaml'
SECTIONS = {'task', 'seed', 'work_dir', 'demos', 'prior', 'bc', 'launch'}


def load_job_config(path: Optional[str], overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Read the main-job YAML (default config/run.yaml, else the installed copy) + overrides."""
    if path is None:
        path = DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else _installed_config()
    with open(path) as handle:
        data = yaml.safe_load(handle) or {}
    for override in overrides:
        apply_override(data, override)
    unknown = sorted(set(data) - SECTIONS)
    if unknown:
        raise ConfigError(f'unknown key(s) {unknown} in {path}; valid: {sorted(SECTIONS)}')
    return data


def _installed_config() -> Path:
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory('lago_ros')) / 'config' / 'run.yaml'


def run_main_job(config: Optional[str] = None, overrides: Sequence[str] = ()) -> int:
    """Run the three stages; return the launcher's exit code (0 when training finished)."""
    from lago_ros.data.demos import collect_demos, load_demos
    from lago_ros.launcher import main as launch
    from lago_ros.prior.model import PriorConfig
    from lago_ros.prior.train import BCConfig, train_prior

    cfg = load_job_config(config, overrides)
    task, seed = cfg.get('task', 'reach-v3'), int(cfg.get('seed', 0))
    work = Path(cfg.get('work_dir', 'runs/main')).resolve()
    demos_dir, prior_dir = work / f'demos-{task}', work / f'prior-{task}'
    if not (demos_dir / 'metadata.json').exists():
        LOG.info('stage 0: collecting expert demonstrations of %s', task)
        collect_demos(task, int(cfg.get('demos', {}).get('episodes', 10)), seed=seed + 10_000,
                      out_dir=demos_dir, overwrite=True)
    if not (prior_dir / 'config.json').exists():
        LOG.info('stage 1: fitting the action prior on %s', demos_dir)
        prior_config = PriorConfig(task=task, **cfg.get('prior', {}))
        bc_config = BCConfig(seed=seed, **cfg.get('bc', {}))
        train_prior(load_demos(demos_dir), prior_config, bc_config, out_dir=prior_dir)
    LOG.info('stage 2: LaGO training through the ROS 2 graph (launch/train.launch.xml)')
    arguments = {'task': task, 'seed': seed, 'prior_path': prior_dir,
                 'run_dir': work / f'train-{task}-seed{seed}', **cfg.get('launch', {})}
    return launch(['train.launch.xml'] + [f'{k}:={v}' for k, v in arguments.items()])
