# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The pre-registered LaGO vs PPO study (docs/evidence/PROTOCOL.md, settings in protocol.yaml).

Stages, each skipped when its output exists, so an interrupted study resumes:
1. expert demonstrations per task (and held-out-goal expert episodes);
2. every prior of the protocol fitted on the same multi-task demos (the language prior's recipe
   is config/prior.yaml; the baselines change only what the protocol says);
3. the prior-quality harness on each prior (lago_ros.rl.prior_quality): kept as JSON;
4. PPO and LaGO runs, task by task, `--jobs` processes at a time with one thread each; each
   finished run's summary.json and metrics.csv are copied under docs/evidence/runs/ (and
   committed with --commit) as it lands.
`--report-only` regenerates docs/RESULTS.md and its plots from docs/evidence/ alone.

    python -m bench.evidence --priors-only       # stages 1-3
    python -m bench.evidence --commit            # everything, final seeds
    python -m bench.evidence --runs-only --commit  # stage 4 alongside a --priors-only process
    python -m bench.evidence --seeds tuning      # the same on the tuning seeds (kept apart)
    python -m bench.evidence --report-only
"""

import argparse
import dataclasses
import json
import logging
import os
from pathlib import Path
import shutil
import subprocess
import sys
import time
from typing import Any

import yaml

LOG = logging.getLogger('evidence')
ROOT = Path(__file__).resolve().parents[1]
KEPT = ROOT / 'docs' / 'evidence'
PROTOCOL = KEPT / 'protocol.yaml'
KEPT_FILES = ('summary.json', 'metrics.csv')


def load_protocol(path: Path = PROTOCOL) -> dict[str, Any]:
    """Read the protocol; refuse one without the sections the study needs."""
    protocol = yaml.safe_load(path.read_text(encoding='utf-8'))
    missing = {'tasks', 'demos', 'heldout_demos', 'prior_eval', 'recipe', 'priors', 'rl',
               'statistics'} - set(protocol)
    if missing:
        raise ValueError(f'{path} lacks {sorted(missing)}')
    return protocol


def _demo_dirs(work: Path, task: str) -> tuple[Path, Path]:
    return work / 'demos' / task, work / 'heldout' / task


def prepare_demos(protocol: dict[str, Any], work: Path) -> None:
    """Collect each task's demonstrations and held-out-goal expert episodes."""
    from lago_ros.data.demos import collect_demos

    for index, task in enumerate(protocol['tasks']):
        fitted, held = _demo_dirs(work, task)
        extra = protocol['demos']['steps_after_success']
        for folder, spec in ((fitted, protocol['demos']), (held, protocol['heldout_demos'])):
            if not (folder / 'metadata.json').exists():
                collect_demos(task, spec['episodes'], spec['seed'] + index, folder,
                              progress=False, steps_after_success=extra, overwrite=True)


def _load_demos(protocol: dict[str, Any], work: Path) -> tuple[dict, dict]:
    from lago_ros.data.demos import load_demos

    fitted, held = {}, {}
    for task in protocol['tasks']:
        fitted_dir, held_dir = _demo_dirs(work, task)
        fitted[task], held[task] = load_demos(fitted_dir), load_demos(held_dir)
    return fitted, held


def prior_config(protocol: dict[str, Any], name: str, work: Path) -> tuple[Any, Any]:
    """Return prior `name`'s (prior config, BC config): the recipe plus the protocol's changes."""
    from lago_ros.config import build
    from lago_ros.prior.backbone import tiny_random_backbone
    from lago_ros.prior.mlp import MLPPriorConfig
    from lago_ros.prior.model import PriorConfig
    from lago_ros.prior.train import BCConfig

    recipe = yaml.safe_load((ROOT / protocol['recipe']).read_text(encoding='utf-8'))
    change = protocol['priors'][name]
    bc = build(BCConfig, {**recipe.get('bc', {}), **change.get('bc', {}), 'progress': False},
               'bc.')
    if change.get('kind') == 'mlp':
        tasks = list(protocol['tasks']) if change.get('one_hot') else None
        return MLPPriorConfig(task='suite', task_names=tasks), bc
    fields = {**recipe.get('prior', {}), **change.get('prior', {}), 'task': 'suite'}
    if fields.get('backbone') == 'tiny':
        fields['backbone'] = str(tiny_random_backbone(work / 'tiny_backbone'))
    return build(PriorConfig, fields, 'prior.'), bc


def fit_priors(protocol: dict[str, Any], work: Path, keep: Path, names: list[str]) -> None:
    """Fit each named prior on the merged demos unless saved; keep its BC history."""
    from lago_ros.data.demos import merge_demos
    from lago_ros.prior.train import train_prior

    fitted, _ = _load_demos(protocol, work)
    merged = merge_demos([fitted[task] for task in protocol['tasks']])
    for name in names:
        out = work / 'priors' / name
        if (out / 'config.json').exists():
            continue
        config, bc = prior_config(protocol, name, work)
        start = time.perf_counter()
        LOG.info('fitting prior %s on %d transitions', name, len(merged))
        _, history = train_prior(merged, config, bc, out)
        seconds = time.perf_counter() - start
        LOG.info('prior %s: %d epochs in %.0f s', name, len(history), seconds)
        _write_json(keep / 'priors' / f'{name}.bc.json',
                    {'prior': name, 'config': _plain(config), 'bc': _plain(bc),
                     'history': history, 'seconds': seconds, 'transitions': len(merged)})


def evaluate_priors(protocol: dict[str, Any], work: Path, keep: Path, names: list[str]) -> None:
    """Run the quality harness on each prior unless its report is kept already."""
    from lago_ros.prior.load import load_prior
    from lago_ros.rl.prior_quality import demo_goals, evaluate_prior, QualityConfig

    fitted, held = _load_demos(protocol, work)
    cfg = QualityConfig(tasks=list(protocol['tasks']), heldout=held,
                        demo_goals={t: demo_goals(fitted[t]) for t in protocol['tasks']},
                        episodes=protocol['prior_eval']['episodes'],
                        seed=protocol['prior_eval']['seed'])
    for name in names:
        path = keep / 'priors' / f'{name}.json'
        if path.exists():
            continue
        LOG.info('prior quality: %s', name)
        report = evaluate_prior(load_prior(work / 'priors' / name), cfg,
                                log=lambda line, n=name: LOG.info('%s %s', n, line))
        report['prior'] = name
        _write_json(path, report)


def run_specs(protocol: dict[str, Any], work: Path, seeds: str) -> list[dict[str, Any]]:
    """Every RL run: task x arm x seed, tasks in the protocol's run order."""
    rl = protocol['rl']
    specs = []
    for task in rl['order']:
        for arm, prior in rl['arms'].items():
            for seed in rl['seeds'][seeds]:
                run_dir = work / 'runs' / seeds / task / arm / f'seed{seed}'
                overrides = [f'task={task}', f'seed={seed}', f'total_timesteps={rl["budget"]}',
                             f'num_envs={rl["num_envs"]}', f'vector_env={rl["vector_env"]}',
                             f'train_split={rl["train_split"]}', f'run_dir={run_dir}',
                             f'eval_episodes={rl["eval"]["episodes"]}',
                             f'eval_split={rl["eval"]["split"]}']
                overrides += [f'ppo.{k}={v}' for k, v in rl['ppo'].items()]
                if prior is None:
                    overrides.append('ppo.beta=0.0')
                else:
                    overrides.append(f'prior={work / "priors" / prior}')
                    overrides += [f'ppo.{k}={v}' for k, v in rl['guidance'].items()]
                specs.append({'task': task, 'arm': arm, 'seed': seed, 'prior': prior,
                              'prior_dir': work / 'priors' / str(prior), 'seeds': seeds,
                              'run_dir': run_dir, 'overrides': overrides})
    return specs


def kept_dir(keep: Path, spec: dict[str, Any]) -> Path:
    """Where a run's kept files live in git."""
    folder = keep / 'runs' / spec['task'] / spec['arm'] / f'seed{spec["seed"]}'
    return folder if spec['seeds'] == 'final' else keep / 'tuning' / folder.relative_to(keep)


def keep_run(spec: dict[str, Any], keep: Path, commit: bool) -> None:
    """Copy a finished run's summary and curve into git (and commit them if asked)."""
    target = kept_dir(keep, spec)
    target.mkdir(parents=True, exist_ok=True)
    for name in KEPT_FILES:
        shutil.copyfile(spec['run_dir'] / name, target / name)
    summary = json.loads((target / 'summary.json').read_text())
    for key in ('run_dir', 'checkpoint', 'prior'):  # machine-specific paths
        summary.pop(key, None)
    summary['arm'], summary['prior_name'] = spec['arm'], spec['prior']
    _write_json(target / 'summary.json', summary)
    if commit:
        repo = keep
        while not (repo / '.git').exists() and repo != repo.parent:
            repo = repo.parent
        message = f'evidence: {spec["task"]} {spec["arm"]} seed {spec["seed"]} ({spec["seeds"]})'
        for _ in range(10):  # others may hold the index lock for a moment
            added = subprocess.run(['git', 'add', str(target)], cwd=repo, capture_output=True)
            done = added.returncode == 0 and subprocess.run(
                ['git', 'commit', '-q', '-m', message, '--', str(target)], cwd=repo,
                capture_output=True).returncode == 0
            if done:
                return
            time.sleep(3)
        LOG.warning('could not commit %s; it stays on disk and is committed with the next run',
                    target)


def _spawn(cmd: list[str], log_path: Path) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONPATH=str(ROOT))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(cmd, stdout=open(log_path, 'w'), stderr=subprocess.STDOUT, env=env,
                            cwd=ROOT)


def run_all(specs: list[dict[str, Any]], jobs: int, keep: Path, commit: bool) -> None:
    """Run the specs whose kept summary is missing, `jobs` processes at a time."""
    pending = [s for s in specs if not (kept_dir(keep, s) / 'summary.json').exists()]
    running: list[tuple[dict, subprocess.Popen]] = []
    start, done = time.perf_counter(), 0
    while pending or running:
        # A LaGO run waits until its prior is fitted (the prior stage may run alongside).
        ready = [s for s in pending
                 if s['prior'] is None or (s['prior_dir'] / 'config.json').exists()]
        while ready and len(running) < jobs:
            spec = ready.pop(0)
            pending.remove(spec)
            if (spec['run_dir'] / 'summary.json').exists():  # finished, not yet kept
                keep_run(spec, keep, commit)
                continue
            cmd = [sys.executable, '-m', 'lago_ros.rl.experiment', '-', *spec['overrides']]
            log = spec['run_dir'].parent / f'{spec["run_dir"].name}.log'
            running.append((spec, _spawn(cmd, log)))
            LOG.info('started %s %s seed %d', spec['task'], spec['arm'], spec['seed'])
        time.sleep(2)
        for spec, proc in list(running):
            if proc.poll() is None:
                continue
            running.remove((spec, proc))
            if proc.returncode != 0:
                raise RuntimeError(f'run {spec["run_dir"]} failed (exit {proc.returncode}); see '
                                   f'{spec["run_dir"]}.log')
            keep_run(spec, keep, commit)
            done += 1
            elapsed = time.perf_counter() - start
            left = len(pending) + len(running)
            LOG.info('finished %s %s seed %d: %d done, %d left, %.1f min/run, ETA %.0f min',
                     spec['task'], spec['arm'], spec['seed'], done, left, elapsed / done / 60,
                     elapsed / done * left / 60 / max(1, jobs) * jobs)


def _plain(obj: Any) -> Any:
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj


def _write_json(path: Path, data: Any) -> None:
    from lago_ros.utils import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, 'w') as handle:
        json.dump(data, handle, indent=2, default=str)
        handle.write('\n')


def main(argv: list[str] | None = None) -> int:
    """Run (or resume) the study, then write the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--work', type=Path, default=ROOT / 'runs' / 'evidence_v2',
                        help='demos, priors and run folders (not kept in git)')
    parser.add_argument('--keep', type=Path, default=KEPT,
                        help='where kept results go (docs/evidence of a checkout)')
    parser.add_argument('--seeds', choices=('final', 'tuning'), default='final')
    parser.add_argument('--tasks', nargs='*', help="only these tasks (default: the protocol's)")
    parser.add_argument('--jobs', type=int, default=2, help='runs in parallel')
    parser.add_argument('--priors-only', action='store_true', help='stop after the harness')
    parser.add_argument('--runs-only', action='store_true',
                        help='skip the prior stages (run them in another process)')
    parser.add_argument('--commit', action='store_true', help='git-commit each kept result')
    parser.add_argument('--report-only', action='store_true', help='only regenerate the report')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(message)s')
    os.environ.setdefault('MUJOCO_GL', 'egl')
    from bench.evidence_report import write_results

    protocol = load_protocol(args.keep / 'protocol.yaml')
    if not args.report_only:
        import torch

        torch.set_num_threads(1)
        # Priors the RL arms need come first (MLPs, quick, before language models).
        arm_priors = set(protocol['rl']['arms'].values())
        names = sorted(protocol['priors'], key=lambda n: (
            n not in arm_priors, protocol['priors'][n].get('kind') != 'mlp'))
        prepare_demos(protocol, args.work)
        if not args.runs_only:
            fit_priors(protocol, args.work, args.keep, names)
            evaluate_priors(protocol, args.work, args.keep, names)
        if not args.priors_only:
            specs = [s for s in run_specs(protocol, args.work, args.seeds)
                     if not args.tasks or s['task'] in args.tasks]
            run_all(specs, args.jobs, args.keep, args.commit)
    write_results(args.keep, ROOT / 'docs' / 'RESULTS.md', ROOT / 'docs' / 'images')
    return 0


if __name__ == '__main__':
    sys.exit(main())
