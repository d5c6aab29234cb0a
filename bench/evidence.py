# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
LaGO vs vanilla PPO on the same tasks, seeds and step budgets; writes docs/RESULTS.md and curves.

Per task: expert demonstrations -> a MiniLM prior (stage 1) -> PPO with beta = 0 and with the KL
pull (stage 2), every seed. On the first task two more priors: a tiny randomly initialised
transformer (the backbone comparison) and MiniLM fine-tuned with LoRA instead of frozen. Runs
execute as separate processes (`--jobs` at a time, one torch thread each) and are skipped when
their summary.json exists, so an interrupted study resumes.

    python -m bench.evidence            # the full study (budgets in STUDY)
    python -m bench.evidence --quick    # a smoke run of the same pipeline in a few minutes
"""

import argparse
import csv
import dataclasses
import json
import logging
import math
import os
from pathlib import Path
import statistics
import subprocess
import sys
import time
from typing import Any

LOG = logging.getLogger('evidence')
ROOT = Path(__file__).resolve().parents[1]

# Tail quantiles t(0.975, n-1) for 95% confidence intervals over seeds.
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306}


@dataclasses.dataclass
class TaskStudy:
    """Budget and settings of one task in the study."""

    task: str
    steps: int
    demo_episodes: int
    ppo: dict
    beta: float
    metric: str


META_PPO = {'num_steps': 512, 'update_epochs': 10, 'minibatch_size': 256,
            'normalize_reward': False, 'reward_scale': 0.1, 'prior_states': 256}
CLEVR_PPO = {'num_steps': 256, 'update_epochs': 4, 'minibatch_size': 256, 'ent_coef': 0.01,
             'normalize_reward': False, 'reward_scale': 1.0, 'normalize_obs': False,
             'prior_states': 256}
STUDY = [
    TaskStudy('reach-v3', 100_000, 10, META_PPO, 0.1,
              'success at any step of a 500-step episode (deterministic policy)'),
    TaskStudy('push-v3', 100_000, 10, META_PPO, 0.1,
              'success at any step of a 500-step episode (deterministic policy)'),
    TaskStudy('clevr-robot', 50_000, 150, CLEVR_PPO, 0.1,
              'plain relation test holding at any step of a 50-step episode '
              '(deterministic policy)'),
]
# The KL pull of LaGO runs: a BC prior is over-confident (its std collapses to the floor on the
# demonstrations), so its std is floored at 0.3 on the PPO side, and beta decays linearly to 0 over
# the budget: guidance early, free exploration late. (A first round with a 0.05 floor and constant
# beta pulled reach-v3 below vanilla PPO: see the note in docs/RESULTS.md.)
LAGO_PPO = {'min_prior_std': 0.3, 'beta_schedule': 'linear', 'beta_final': 0.0}
SEEDS = (0, 1, 2)
EVAL_EPISODES = 20
CURVE_KEYS = ('charts/success_rate', 'charts/episodic_return')
TABLE_HEADER = ('| task | method | prior | env steps | eval success | eval return | '
                'train success | wall time / run |', '|---|---|---|---|---|---|---|---|')


def _run(cmd: list[str], log_path: Path) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONPATH=str(ROOT))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(cmd, stdout=open(log_path, 'w'), stderr=subprocess.STDOUT, env=env,
                            cwd=ROOT)


# Priors compared: backbone ('tiny' = a randomly initialised 2-layer BERT), fine-tuning mode and
# attention. The first round's priors were fitted with full attention (PriorConfig.attention
# 'full'); 'minilm-prefix' is the same prior with the prefix attention that became the default.
PRIORS = {'minilm': ('minilm', 'frozen', 'full'), 'tiny': ('tiny', 'frozen', 'full'),
          'minilm-lora': ('minilm', 'lora', 'full'),
          'minilm-prefix': ('minilm', 'frozen', 'prefix')}
PRIOR_NAMES = {'minilm': 'all-MiniLM-L6-v2 (pretrained, 22.7M), frozen',
               'tiny': 'tiny BERT (random init, 2 layers, 32 wide), frozen',
               'minilm-lora': 'all-MiniLM-L6-v2 (pretrained, 22.7M), LoRA r=8',
               'minilm-prefix': 'all-MiniLM-L6-v2 (pretrained, 22.7M), frozen, prefix '
                                'attention (the default)'}


def prepare_prior(study: TaskStudy, work: Path, prior: str, quick: bool) -> Path:
    """Collect demonstrations and fit the prior for `study.task` unless already on disk."""
    from lago_ros.data.demos import collect_demos, load_demos
    from lago_ros.prior.backbone import tiny_random_backbone
    from lago_ros.prior.model import PriorConfig
    from lago_ros.prior.train import BCConfig, train_prior

    demos = work / study.task / 'demos'
    if not (demos / 'metadata.json').exists():
        collect_demos(study.task, 3 if quick else study.demo_episodes, seed=10_000,
                      out_dir=demos, overwrite=True)
    prior_dir = work / study.task / f'prior_{prior}'
    backbone, mode, attention = PRIORS[prior]
    if not (prior_dir / 'config.json').exists():
        path = None
        if backbone == 'tiny':
            path = str(tiny_random_backbone(work / 'tiny_backbone'))
        start = time.perf_counter()
        _, history = train_prior(load_demos(demos),
                                 PriorConfig(task=study.task, backbone=path, mode=mode,
                                             attention=attention),
                                 BCConfig(epochs=2 if quick else 15, patience=4, seed=0,
                                          select_by='metric'),
                                 out_dir=prior_dir)
        LOG.info('prior %s for %s: %d epochs in %.0f s', prior, study.task, len(history),
                 time.perf_counter() - start)
    return prior_dir


def run_specs(work: Path, quick: bool) -> list[dict[str, Any]]:
    """Every training run of the study: task x method x seed."""
    specs = []
    for index, study in enumerate(STUDY):
        steps = 4096 if quick else study.steps
        methods = [('ppo', None, 0.0), ('lago', 'minilm', study.beta)]
        if index == 0:
            methods += [('lago-tiny', 'tiny', study.beta),
                        ('lago-lora', 'minilm-lora', study.beta),
                        ('lago-prefix', 'minilm-prefix', study.beta)]
        for method, prior, beta in methods:
            for seed in SEEDS[:1] if quick else SEEDS:
                run_dir = work / study.task / f'{method}-seed{seed}'
                overrides = [f'task={study.task}', f'seed={seed}', f'total_timesteps={steps}',
                             f'run_dir={run_dir}', f'eval_episodes={EVAL_EPISODES}',
                             f'ppo.beta={beta}']
                overrides += [f'ppo.{k}={v}' for k, v in study.ppo.items()]
                if prior:
                    overrides.append(f'prior={work / study.task / f"prior_{prior}"}')
                    overrides += [f'ppo.{k}={v}' for k, v in LAGO_PPO.items()]
                    overrides.append(f'ppo.beta_decay_steps={steps}')
                specs.append({'task': study.task, 'method': method, 'seed': seed,
                              'prior': prior, 'run_dir': run_dir,
                              'overrides': overrides})
    return specs


def run_all(specs: list[dict[str, Any]], jobs: int) -> None:
    """Run the specs whose summary.json is missing, `jobs` processes at a time."""
    pending = [s for s in specs if not (s['run_dir'] / 'summary.json').exists()]
    running: list[tuple[dict, subprocess.Popen]] = []
    start, done = time.perf_counter(), 0
    while pending or running:
        while pending and len(running) < jobs:
            spec = pending.pop(0)
            cmd = [sys.executable, '-m', 'lago_ros.rl.experiment', '-', *spec['overrides']]
            running.append((spec, _run(cmd, spec['run_dir'].with_suffix('.log'))))
            LOG.info('started %s %s seed %d', spec['task'], spec['method'], spec['seed'])
        time.sleep(2)
        for spec, proc in list(running):
            if proc.poll() is None:
                continue
            running.remove((spec, proc))
            done += 1
            if proc.returncode != 0:
                raise RuntimeError(f"run {spec['run_dir']} failed; see "
                                   f"{spec['run_dir'].with_suffix('.log')}")
            elapsed = time.perf_counter() - start
            left = len(pending) + len(running)
            LOG.info('finished %s %s seed %d (%d done, %d left, ETA %.0f min)', spec['task'],
                     spec['method'], spec['seed'], done, left, elapsed / done * left / 60)


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and 95% confidence half-width (Student t over seeds; 0 for one value)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, T_975[len(values) - 1] * statistics.stdev(values) / math.sqrt(len(values))


def curve(run_dir: Path, key: str) -> tuple[list[float], list[float]]:
    """Return (steps, values) of one metric from a run's metrics.csv, skipping empty cells."""
    steps, values = [], []
    with open(run_dir / 'metrics.csv') as handle:
        for row in csv.DictReader(handle):
            if row.get(key) not in (None, '', 'nan'):
                steps.append(float(row['global_step']))
                values.append(float(row[key]))
    return steps, values


def plot_curves(specs: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """One PNG per task: training success rate and return vs env steps, mean over seeds."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np

    paths = []
    for task in dict.fromkeys(s['task'] for s in specs):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        for method in dict.fromkeys(s['method'] for s in specs if s['task'] == task):
            runs = [s for s in specs if s['task'] == task and s['method'] == method]
            for ax, key in zip(axes, CURVE_KEYS, strict=True):
                series = [curve(s['run_dir'], key) for s in runs]
                series = [s for s in series if s[0]]
                if not series:
                    continue
                grid = np.linspace(0, min(s[0][-1] for s in series), 50)
                ys = np.array([np.interp(grid, s[0], s[1]) for s in series])
                ax.plot(grid, ys.mean(0), label=f'{method} (n={len(series)})')
                ax.fill_between(grid, ys.min(0), ys.max(0), alpha=0.2)
                ax.set_xlabel('env steps')
                ax.set_ylabel(key.split('/')[-1])
        axes[0].legend()
        fig.suptitle(f'{task}: training curves (mean, band = min..max over seeds)')
        fig.tight_layout()
        path = out_dir / f'results_{task}.png'
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


def summary_rows(specs: list[dict[str, Any]]) -> list[str]:
    """Markdown table rows, one per (task, method): means and 95% CIs over seeds."""
    rows = []
    for key in dict.fromkeys((s['task'], s['method']) for s in specs):
        runs = [s for s in specs if (s['task'], s['method']) == key]
        sums = [json.loads((s['run_dir'] / 'summary.json').read_text()) for s in runs]
        success = mean_ci([x['eval']['success_rate'] for x in sums])
        ret = mean_ci([x['eval']['mean_return'] for x in sums])
        train_success = mean_ci([x['train_success_rate'] or 0.0 for x in sums])
        wall = statistics.fmean(x['train_seconds'] for x in sums)
        name = PRIOR_NAMES.get(runs[0]['prior'], '-')
        rows.append(f'| {key[0]} | {key[1]} | {name} | {sums[0]["global_step"]:,} | '
                    f'{success[0]:.2f} ± {success[1]:.2f} | {ret[0]:.1f} ± {ret[1]:.1f} | '
                    f'{train_success[0]:.2f} ± {train_success[1]:.2f} | {wall:.0f} s |')
    return rows


def earlier_specs(folder: Path) -> list[dict[str, Any]]:
    """Specs of the finished runs in an earlier round's folder (<task>/<method>-seed<n>)."""
    specs = []
    for summary in sorted(folder.glob('*/*-seed*/summary.json')):
        run_dir = summary.parent
        method = run_dir.name.rsplit('-seed', 1)[0]
        specs.append({'task': run_dir.parent.name, 'method': method, 'run_dir': run_dir,
                      'prior': {'ppo': None, 'lago-tiny': 'tiny'}.get(method, 'minilm')})
    return specs


def write_report(specs: list[dict[str, Any]], out: Path, quick: bool,
                 earlier: list[tuple[Path, str]] = ()) -> None:
    """Aggregate summaries into a Markdown table with 95% CIs, plus curves."""
    images = out.parent / 'images'
    images.mkdir(parents=True, exist_ok=True)
    plots = plot_curves(specs, images)
    study = {s.task: s for s in STUDY}
    lines = ['# Results: LaGO vs vanilla PPO', '',
             f'Generated by `python -m bench.evidence{" --quick" if quick else ""}` on '
             f'{time.strftime("%Y-%m-%d")} ({os.cpu_count()} CPU cores, no GPU). Every number '
             'comes from the run folders under the study\'s work directory.', '',
             f'Seeds {list(SEEDS[:1] if quick else SEEDS)}, evaluation over {EVAL_EPISODES} '
             'episodes per seed with the deterministic policy; ± is the 95% confidence '
             'half-width over seeds (Student t). "Train success" is the rolling success rate '
             'of the last training episodes (stochastic policy, success at any step).', '',
             *TABLE_HEADER]
    lines += summary_rows(specs)
    lines += ['', 'Success metric per task:', '']
    tasks = dict.fromkeys(s['task'] for s in specs)
    lines += [f'- {task}: {study[task].metric}' for task in tasks]
    lines += ['', 'Settings: PPO ' + ', '.join(f'{k}={v}' for k, v in META_PPO.items())
              + ' (Meta-World), ' + ', '.join(f'{k}={v}' for k, v in CLEVR_PPO.items())
              + ' (CLEVR-Robot), 4 envs; LaGO adds beta=' + str(STUDY[0].beta) + ', '
              + ', '.join(f'{k}={v}' for k, v in LAGO_PPO.items())
              + ', beta_decay_steps=budget; priors: k=4 soft tokens, '
              'behaviour cloning on the demonstrations listed per task '
              f'({", ".join(f"{s.task}: {s.demo_episodes} episodes" for s in STUDY)}).']
    for folder, description in earlier:
        lines += ['', f'## Earlier round: {description}', '', f'Runs in `{folder}`.', '',
                  *TABLE_HEADER]
        lines += summary_rows(earlier_specs(folder))
    lines += ['', '## Curves', ''] + [f'![{p.stem}](images/{p.name})' for p in plots]
    with open(out, 'w') as handle:
        handle.write('\n'.join(lines) + '\n')
    LOG.info('wrote %s', out)


def main(argv: list[str] | None = None) -> int:
    """Run (or resume) the study and write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--quick', action='store_true', help='tiny budgets: a smoke run')
    parser.add_argument('--work', type=Path, default=ROOT / 'runs' / 'evidence')
    parser.add_argument('--out', type=Path, default=ROOT / 'docs' / 'RESULTS.md')
    parser.add_argument('--jobs', type=int, default=2, help='runs in parallel')
    parser.add_argument('--report-only', action='store_true', help='aggregate existing runs')
    parser.add_argument('--earlier', nargs=2, action='append', default=[],
                        metavar=('FOLDER', 'DESCRIPTION'),
                        help='also tabulate an earlier round of runs (FOLDER/<task>/<run>)')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(message)s')
    os.environ.setdefault('MUJOCO_GL', 'egl')
    work = args.work / 'quick' if args.quick else args.work
    specs = run_specs(work, args.quick)
    if not args.report_only:
        for prior in dict.fromkeys(s['prior'] for s in specs if s['prior']):
            for study in STUDY:
                if any(s['prior'] == prior and s['task'] == study.task for s in specs):
                    prepare_prior(study, work, prior, args.quick)
        run_all(specs, args.jobs)
    write_report(specs, args.out, args.quick, [(Path(f), d) for f, d in args.earlier])
    return 0


if __name__ == '__main__':
    sys.exit(main())
