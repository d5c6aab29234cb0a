# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The experiment YAML files in config/ load into the dataclasses they configure."""

from pathlib import Path
import re

import pytest
import yaml

from lago_ros.envs.registry import get_task
from lago_ros.main_job import JobPlan, load_job_config
from lago_ros.prior.model import PriorConfig
from lago_ros.prior.train import BCConfig
from lago_ros.rl.experiment import ConfigError, load_config

CONFIG = Path(__file__).resolve().parents[1] / 'config'


@pytest.mark.parametrize('name', sorted(p.name for p in CONFIG.glob('train_*.yaml')))
def test_training_configs_load_and_name_registered_tasks(name):
    cfg = load_config(CONFIG / name)
    assert get_task(cfg.task).name == cfg.task
    assert cfg.guidance.beta > 0 and cfg.prior
    assert load_config(CONFIG / name, ['ppo.beta=0']).guidance.beta == 0.0
    with pytest.raises(ConfigError, match='valid keys'):
        load_config(CONFIG / name, ['ppo.betta=0.1'])


def test_prior_config_sections_build_their_dataclasses():
    data = yaml.safe_load((CONFIG / 'prior.yaml').read_text())
    assert set(data) == {'prior', 'bc'}
    assert PriorConfig(**data['prior']).mode in ('frozen', 'lora', 'full')
    assert BCConfig(**data['bc']).epochs > 0


def test_main_job_config_and_its_overrides():
    cfg = load_job_config(str(CONFIG / 'run.yaml'), ['launch.total_timesteps=2048'])
    assert get_task(cfg['task'])
    assert cfg['launch']['total_timesteps'] == 2048
    plan = JobPlan(cfg)  # run.yaml's bc overrides the recipe's (config/prior.yaml)
    assert isinstance(plan.prior, PriorConfig) and isinstance(plan.bc, BCConfig)
    with pytest.raises(ConfigError, match='unknown key'):
        load_job_config(str(CONFIG / 'run.yaml'), ['bogus=1'])


@pytest.mark.parametrize('override, message', [
    ('launch.bogus=1', r"launch: train.launch.xml has no argument\(s\) \['bogus'\]"),
    ('bc.epochs=abc', "bc.epochs must be an integer, got 'abc'"),
    ('prior.mode=huge', "mode is 'huge'"),
    ('demos.episodes=0', 'demos.episodes is 0; expected a positive integer'),
    ('seed=one', 'seed must be an integer'),
])
def test_main_job_checks_every_key_before_any_stage(
        tmp_path, monkeypatch, capsys, override, message):
    import lago_ros.data.demos as demos
    from lago_ros.cli import main

    calls = []
    monkeypatch.setattr(demos, 'collect_demos', lambda *args, **kwargs: calls.append(args))
    args = ['--config', str(CONFIG / 'run.yaml'), f'work_dir={tmp_path / "work"}', override]
    assert main(['run', *args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert re.search(message, err), err
    assert calls == [] and not (tmp_path / 'work').exists()


def test_train_prior_types_its_sections_before_reading_demos(tmp_path, capsys):
    from lago_ros.cli import main

    out = tmp_path / 'prior'
    code = main(['train-prior', '--demos', str(tmp_path / 'none'), '--out', str(out),
                 '--config', str(CONFIG / 'prior.yaml'), 'bc.epochs=abc'])
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == \
        "lago train-prior: error: bc.epochs must be an integer, got 'abc'"
    assert not out.exists()
