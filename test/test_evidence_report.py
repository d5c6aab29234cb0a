# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The study report is a pure function of the kept results, and its statistics are right."""

import json
from pathlib import Path
import shutil

from bench.evidence import kept_dir, load_protocol, run_specs
from bench.evidence_report import at_fraction, auc, load_runs, render, suite_table
import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
KEPT = ROOT / 'docs' / 'evidence'


def test_committed_results_are_what_the_kept_files_give(tmp_path):
    assert render(KEPT, tmp_path / 'images') == (ROOT / 'docs' / 'RESULTS.md').read_text(
        encoding='utf-8'), 'docs/RESULTS.md is stale: run python -m bench.evidence --report-only'


def _fake_run(keep: Path, task: str, arm: str, seed: int, success: float, budget: int) -> None:
    folder = keep / 'runs' / task / arm / f'seed{seed}'
    folder.mkdir(parents=True)
    summary = {'task': task, 'seed': seed, 'global_step': budget, 'train_seconds': 10.0,
               'eval': {'success_rate': success}}
    (folder / 'summary.json').write_text(json.dumps(summary))
    rows = ['global_step,charts/success_rate'] + [
        f'{step},{success * step / budget}' for step in range(0, budget + 1, budget // 4)]
    (folder / 'metrics.csv').write_text('\n'.join(rows) + '\n')


@pytest.fixture
def fake_keep(tmp_path):
    protocol = yaml.safe_load((KEPT / 'protocol.yaml').read_text())
    protocol['tasks'] = ['push-v3', 'reach-v3', 'drawer-open-v3']
    protocol['rl']['arms'] = {'ppo': None, 'lago-minilm': 'minilm'}
    protocol['rl']['seeds']['final'] = [1, 2, 3]
    protocol['statistics']['bootstrap_reps'] = 500
    (tmp_path / 'protocol.yaml').write_text(yaml.safe_dump(protocol))
    budget = protocol['rl']['budget']
    for task, ppo, lago in (('push-v3', 0.1, 0.3), ('reach-v3', 0.5, 0.7)):
        for seed in (1, 2, 3):
            _fake_run(tmp_path, task, 'ppo', seed, ppo, budget)
            _fake_run(tmp_path, task, 'lago-minilm', seed, lago, budget)
    _fake_run(tmp_path, 'drawer-open-v3', 'ppo', 1, 0.9, budget)  # incomplete: left out
    return tmp_path, protocol


def test_suite_uses_complete_tasks_only_and_gets_ratio_and_difference(fake_keep):
    keep, protocol = fake_keep
    lines, figures = suite_table(load_runs(keep), protocol)
    assert figures['tasks'] == ['push-v3', 'reach-v3']
    assert figures['ppo']['mean'] == pytest.approx(0.3)
    assert figures['lago-minilm']['ratio'] == pytest.approx(0.5 / 0.3)
    assert figures['lago-minilm']['diff'] == pytest.approx(0.2)
    # Every seed of a task has the same score, so resampling seeds cannot move the difference.
    assert figures['lago-minilm']['diff_ci'] == pytest.approx([0.2, 0.2])
    assert any(line.startswith('| lago-minilm |') and '1.67x' in line for line in lines)


def test_curve_points_and_area(fake_keep):
    keep, protocol = fake_keep
    budget = protocol['rl']['budget']
    run = load_runs(keep)[('push-v3', 'lago-minilm')][0]
    assert at_fraction(run, 0.5, budget) == pytest.approx(0.15)
    assert at_fraction(run, 1.0, budget) == pytest.approx(0.3)
    assert auc(run, budget) == pytest.approx(0.15, abs=1e-3)  # a straight line 0 -> 0.3


def test_report_regeneration_is_deterministic(fake_keep, tmp_path):
    keep, _ = fake_keep
    assert render(keep) == render(keep)
    copy = tmp_path / 'copy'
    shutil.copytree(keep, copy)
    assert render(copy) == render(keep)


def test_run_specs_follow_the_protocol():
    protocol = load_protocol()
    specs = run_specs(protocol, Path('/work'), 'final')
    rl = protocol['rl']
    assert len(specs) == len(protocol['tasks']) * len(rl['arms']) * len(rl['seeds']['final'])
    ppo = next(s for s in specs if s['arm'] == 'ppo')
    assert 'ppo.beta=0.0' in ppo['overrides'] and not any(
        o.startswith('prior=') for o in ppo['overrides'])
    lago = next(s for s in specs if s['arm'] == 'lago-minilm')
    assert f'ppo.beta={rl["guidance"]["beta"]}' in lago['overrides']
    assert f'train_split={rl["train_split"]}' in lago['overrides']
    assert kept_dir(KEPT, lago) == KEPT / 'runs' / lago['task'] / 'lago-minilm' / \
        f'seed{lago["seed"]}'
    assert not set(rl['seeds']['final']) & set(rl['seeds']['tuning'])
    # Evaluation goals (seed + 10000) never coincide with demo or prior-evaluation seeds.
    eval_seeds = {s + 10_000 for s in rl['seeds']['final']}
    demo_seeds = {protocol['demos']['seed'] + i for i in range(len(protocol['tasks']))}
    assert not eval_seeds & demo_seeds and not set(rl['seeds']['final']) & demo_seeds
    assert sorted(rl['order']) == sorted(protocol['tasks'])
    assert np.all(np.diff([rl['order'].index(s['task']) for s in specs]) >= 0)
