# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
docs/RESULTS.md and its plots, generated from the kept results under docs/evidence/ alone.

Nothing here reads a run folder, a checkpoint or the clock: the same kept files always give the
same report (the bootstrap is seeded by the protocol), which test/test_evidence_report.py checks
against the committed RESULTS.md.
"""

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

SUCCESS_KEY = 'charts/success_rate'


def load_runs(keep: Path, folder: str = 'runs') -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Kept runs grouped by (task, arm), each with its summary and training-success curve."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for summary_path in sorted((keep / folder).glob('*/*/seed*/summary.json')):
        run = json.loads(summary_path.read_text(encoding='utf-8'))
        steps, success = [], []
        with open(summary_path.parent / 'metrics.csv', encoding='utf-8') as handle:
            for row in csv.DictReader(handle):
                if row.get(SUCCESS_KEY) not in (None, '', 'nan'):
                    steps.append(float(row['global_step']))
                    success.append(float(row[SUCCESS_KEY]))
        run['curve'] = (np.array(steps), np.array(success))
        task, arm = summary_path.parts[-4], summary_path.parts[-3]
        groups.setdefault((task, arm), []).append(run)
    for runs in groups.values():
        runs.sort(key=lambda r: r['seed'])
    return groups


def at_fraction(run: dict[str, Any], fraction: float, budget: int) -> float:
    """Training success (rolling, stochastic policy) at `fraction` of the budget (last logged)."""
    steps, success = run['curve']
    before = np.flatnonzero(steps <= fraction * budget + 1e-9)
    return float(success[before[-1]]) if len(before) else 0.0


def auc(run: dict[str, Any], budget: int) -> float:
    """Area under the training-success curve over [0, budget], normalised to [0, 1]."""
    steps, success = run['curve']
    if len(steps) == 0:
        return 0.0
    grid = np.linspace(0, budget, 101)
    return float(np.interp(grid, steps, success, left=0.0).mean())


def _interval(scores: dict[str, np.ndarray], func: Any, stats: dict[str, Any]) -> tuple:
    """
    Return point estimates and stratified-bootstrap percentile CIs, as rliable computes them.

    Runs are resampled with replacement within each task (column), `bootstrap_reps` times, from
    a numpy Generator seeded by the protocol: rliable's own entry point goes through `arch`,
    whose draws differed from process to process, which a regenerated report must not.
    """
    reps, level = int(stats['bootstrap_reps']), float(stats['ci'])
    points, intervals = {}, {}
    for arm, matrix in scores.items():
        rng = np.random.default_rng(int(stats['bootstrap_seed']))
        runs, tasks = matrix.shape
        draws = np.stack([func(matrix[rng.integers(0, runs, size=(runs, tasks)),
                                      np.arange(tasks)]) for _ in range(reps)])
        tail = 100 * (1 - level) / 2
        points[arm] = func(matrix)
        intervals[arm] = np.percentile(draws, [tail, 100 - tail], axis=0)
    return points, intervals


def _mean_iqm(matrix: np.ndarray) -> np.ndarray:
    from rliable import metrics

    return np.array([metrics.aggregate_mean(matrix), metrics.aggregate_iqm(matrix)])


def _fmt(point: float, low: float, high: float) -> str:
    return f'{point:.3f} [{low:.3f}, {high:.3f}]'


def task_table(groups: dict, protocol: dict[str, Any]) -> list[str]:
    """One row per task and arm: per-seed final success, mean and IQM with CIs, curve points."""
    stats, budget = protocol['statistics'], protocol['rl']['budget']
    fractions = stats['budget_fractions']
    lines = ['| task | arm | seeds | final success per seed | mean [95% CI] | IQM [95% CI] | '
             + ' | '.join(f'train success @{int(f * 100)}%' for f in fractions)
             + ' | AUC | env steps | wall s/run |',
             '|---|---|---|---|---|---|' + '---|' * len(fractions) + '---|---|---|']
    for task in protocol['tasks']:
        for arm in protocol['rl']['arms']:
            runs = groups.get((task, arm))
            if not runs:
                continue
            final = np.array([[r['eval']['success_rate']] for r in runs])
            point, ci = _interval({arm: final}, _mean_iqm, stats)
            curve = [np.mean([at_fraction(r, f, budget) for r in runs]) for f in fractions]
            lines.append(
                f'| {task} | {arm} | {len(runs)} | '
                + ', '.join(f'{r["eval"]["success_rate"]:.2f}' for r in runs) + ' | '
                + _fmt(point[arm][0], ci[arm][0][0], ci[arm][1][0]) + ' | '
                + _fmt(point[arm][1], ci[arm][0][1], ci[arm][1][1]) + ' | '
                + ' | '.join(f'{c:.2f}' for c in curve)
                + f' | {np.mean([auc(r, budget) for r in runs]):.3f}'
                + f' | {int(np.mean([r["global_step"] for r in runs])):,}'
                + f' | {np.mean([r["train_seconds"] for r in runs]):.0f} |')
    return lines


def complete_tasks(groups: dict, protocol: dict[str, Any]) -> list[str]:
    """Tasks on which every arm has all its final seeds."""
    seeds = len(protocol['rl']['seeds']['final'])
    return [t for t in protocol['tasks']
            if all(len(groups.get((t, arm), [])) == seeds for arm in protocol['rl']['arms'])]


def suite_table(groups: dict, protocol: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """Suite mean/IQM per arm and each LaGO arm against PPO, over the completed tasks."""
    stats = protocol['statistics']
    tasks = complete_tasks(groups, protocol)
    if not tasks:
        return ['No task has every arm on every final seed yet.'], {}
    arms = list(protocol['rl']['arms'])
    scores = {arm: np.array([[r['eval']['success_rate'] for r in groups[(t, arm)]]
                             for t in tasks]).T for arm in arms}
    point, ci = _interval(scores, _mean_iqm, stats)
    lines = [f'Tasks: {", ".join(tasks)} ({len(tasks)} of {len(protocol["tasks"])}); '
             f'{scores[arms[0]].shape[0]} seeds each.', '',
             '| arm | suite mean [95% CI] | suite IQM [95% CI] | vs PPO: ratio of means | '
             'difference of means [95% CI] |', '|---|---|---|---|---|']
    figures: dict[str, Any] = {'tasks': tasks}
    base = 'ppo'
    for arm in arms:
        row = (f'| {arm} | {_fmt(point[arm][0], ci[arm][0][0], ci[arm][1][0])} | '
               f'{_fmt(point[arm][1], ci[arm][0][1], ci[arm][1][1])} | ')
        if arm == base:
            lines.append(row + '- | - |')
            continue
        width = len(tasks)
        pair = {arm: np.concatenate([scores[arm], scores[base]], axis=1)}
        d_point, d_ci = _interval(
            pair, lambda m, w=width: np.array([m[:, :w].mean() - m[:, w:].mean()]), stats)
        ratio = (point[arm][0] / point[base][0]) if point[base][0] > 0 else float('inf')
        figures[arm] = {'mean': point[arm][0], 'ratio': ratio, 'diff': d_point[arm][0],
                        'diff_ci': [d_ci[arm][0][0], d_ci[arm][1][0]]}
        lines.append(row + f'{ratio:.2f}x | '
                     + _fmt(d_point[arm][0], d_ci[arm][0][0], d_ci[arm][1][0]) + ' |')
    figures[base] = {'mean': point[base][0]}
    return lines, figures


def prior_table(keep: Path, protocol: dict[str, Any]) -> list[str]:
    """Tabulate the quality harness: suite means per prior and condition, success per task."""
    reports = {name: json.loads(p.read_text(encoding='utf-8'))
               for name in protocol['priors']
               if (p := keep / 'priors' / f'{name}.json').exists()}
    if not reports:
        return ['No prior has been through the harness yet.']
    lines = ['| prior | NLL train | NLL test | NLL mismatch | MSE train | MSE test | '
             'success train | success test | success mismatch |',
             '|---|---|---|---|---|---|---|---|---|']
    for name, rep in reports.items():
        m = rep['mean']
        lines.append(f'| {name} | {m["train"]["nll"]:.3f} | {m["test"]["nll"]:.3f} | '
                     f'{m["mismatch"]["nll"]:.3f} | {m["train"]["mse"]:.4f} | '
                     f'{m["test"]["mse"]:.4f} | {m["train"]["success"]:.3f} | '
                     f'{m["test"]["success"]:.3f} | {m["mismatch"]["success"]:.3f} |')
    tasks = protocol['tasks']
    lines += ['', 'Prior-as-policy success per task (held-out goals; train / test / mismatch '
              'instructions):', '', '| prior | ' + ' | '.join(tasks) + ' |',
              '|---|' + '---|' * len(tasks)]
    for name, rep in reports.items():
        cells = ['/'.join(f'{rep["tasks"][t][c]["success"]:.2f}'
                          for c in ('train', 'test', 'mismatch')) for t in tasks]
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    return lines


def plot_curves(groups: dict, protocol: dict[str, Any], images: Path) -> list[Path]:
    """One PNG per task: mean training success over seeds per arm, band = min..max."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    paths = []
    budget = protocol['rl']['budget']
    grid = np.linspace(0, budget, 60)
    for task in protocol['tasks']:
        arms = [a for a in protocol['rl']['arms'] if groups.get((task, a))]
        if not arms:
            continue
        fig, ax = plt.subplots(figsize=(6, 3.6))
        for arm in arms:
            ys = np.array([np.interp(grid, *r['curve'], left=0.0) for r in groups[(task, arm)]])
            ax.plot(grid, ys.mean(0), label=f'{arm} (n={len(ys)})')
            ax.fill_between(grid, ys.min(0), ys.max(0), alpha=0.15)
        ax.set_xlabel('env steps')
        ax.set_ylabel('training success (rolling)')
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(task)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = images / f'evidence_{task}.png'
        fig.savefig(path, dpi=80, metadata={'Software': None})
        plt.close(fig)
        paths.append(path)
    return paths


def render(keep: Path, images: Path | None = None) -> str:
    """Return the whole RESULTS.md text (plots written to `images` when given)."""
    protocol = yaml.safe_load((keep / 'protocol.yaml').read_text(encoding='utf-8'))
    groups = load_runs(keep)
    suite, _ = suite_table(groups, protocol)
    rl = protocol['rl']
    lines = [
        '# Results: does the language prior guide PPO? (evidence v2)', '',
        'Generated by `python -m bench.evidence --report-only` from the kept results in '
        '`docs/evidence/` (protocol: `docs/evidence/PROTOCOL.md`, settings: '
        '`docs/evidence/protocol.yaml`). Edit neither the numbers nor this file by hand.', '',
        '## 1. Prior quality on held-out goals (before any RL)', '',
        f'{protocol["prior_eval"]["episodes"]} prior-as-policy episodes per task and '
        'condition; NLL/MSE of expert actions on '
        f'{protocol["heldout_demos"]["episodes"]} held-out-goal expert episodes per task. '
        '"train": phrasings the prior was fitted on; "test": held-out paraphrases; "mismatch": '
        "another task's phrasing (a prior that uses the instruction must fail there).", '',
        *prior_table(keep, protocol), '',
        '## 2. LaGO vs PPO on the Meta-World suite', '',
        f'Budget {rl["budget"]:,} env steps, final seeds {rl["seeds"]["final"]}; final success '
        f'= deterministic policy, {rl["eval"]["episodes"]} episodes on held-out goals with '
        f'{rl["eval"]["split"]}-split instructions, success at any step. CIs: '
        f'stratified percentile bootstrap over seeds within each task, as rliable computes '
        f'it, on a seeded numpy Generator ({protocol["statistics"]["bootstrap_reps"]} reps); '
        'IQM from rliable. '
        '"train success @x%" is the rolling success of training episodes at that share of '
        'the budget; AUC is its normalised area.', '',
        f'Runs kept: {sum(len(r) for r in groups.values())} of '
        f'{len(protocol["tasks"]) * len(rl["arms"]) * len(rl["seeds"]["final"])} planned '
        '(an unfinished study resumes with `python -m bench.evidence --commit`).', '',
        '### Suite', '', *suite, '', '### Per task', '', *task_table(groups, protocol), '']
    if images is not None:
        images.mkdir(parents=True, exist_ok=True)
        plots = plot_curves(groups, protocol, images)
        lines += ['### Curves', ''] + [f'![{p.stem}](images/{p.name})' for p in plots] + ['']
    tuning = load_runs(keep, 'tuning/runs')
    if tuning:
        lines += ['## Tuning seeds (not part of the result)', '',
                  *task_table(tuning, protocol), '']
    notes = keep / 'NOTES.md'
    if notes.exists():
        lines += [notes.read_text(encoding='utf-8').rstrip(), '']
    return '\n'.join(lines)


def write_results(keep: Path, out: Path, images: Path | None) -> Path:
    """Write RESULTS.md (and plots) from the kept results."""
    out.write_text(render(keep, images), encoding='utf-8')
    return out
