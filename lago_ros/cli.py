# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The `lago` command: experiments from YAML configs, export, and the pip-only graph launcher.

Each subcommand is a thin parser over a core function; heavy modules are imported only by the
subcommand that needs them, so `lago tasks` answers instantly.
"""

import argparse
import logging
import os
import sys
from typing import Callable, Optional, Sequence

from lago_ros.ros_env import configure_ros_environment
from lago_ros.utils import configure_logging

LOG = logging.getLogger('lago')


def _cmd_tasks(args: argparse.Namespace) -> int:
    from lago_ros.envs.families import family_of
    from lago_ros.envs.tasks import get_task, list_tasks
    from lago_ros.prior.describe import task_instructions

    for name in [args.task] if args.task else list_tasks():
        spec = get_task(name)
        line = (f'{name:18s} {spec.family:9s} obs={spec.obs_dim:3d} {spec.action_type:10s} '
                f'actions={spec.action_dim} steps={spec.max_episode_steps}')
        if not args.task:
            print(f'{line}  e.g. {task_instructions(name)[0]!r}')
            continue
        print(line)
        for split in ('train', 'test'):
            print(f'instructions, {split}:')
            print('\n'.join(f'  {text}' for text in task_instructions(name, split)))
        layout = family_of(name).action_layout(spec)
        print('actions:')
        for index, axis in enumerate(layout.get('fields', [])):
            print(f"  {index} {axis['name']} [{axis['low']}, {axis['high']}] {axis['unit']}: "
                  f"{axis['description']}")
        for key, value in layout.items():
            if key != 'fields':
                print(f'  {key}: {value}')
    return 0


def _cmd_collect_demos(args: argparse.Namespace) -> int:
    options = {'split': args.split, 'keep_failed': args.keep_failed,
               'overwrite': args.overwrite, 'steps_after_success': args.steps_after_success}
    if args.bridge:
        return _collect_through_bridge(args, options)
    if args.minari:
        from lago_ros.data.minari_collect import collect_minari_demos

        out = collect_minari_demos(args.task, args.episodes, args.seed, args.minari, **options)
    else:
        from lago_ros.data.demos import collect_demos

        out = collect_demos(args.task, args.episodes, args.seed, args.out, **options)
    print(f'demonstrations written to {out}')
    return 0


def _collect_through_bridge(args: argparse.Namespace, options: dict) -> int:
    """Record the expert acting on a bridge's env (e.g. a robot behind the topic backend)."""
    if args.minari:
        raise ValueError('--bridge writes a demo folder (--out); convert it with lago '
                         'demos-to-minari')
    from lago_ros.data.demos import collect_demos
    from lago_ros.nodes.bridge_env import open_bridge_env
    from lago_ros.nodes.remote import BridgeMismatchError, BridgeUnavailableError

    try:
        with open_bridge_env(args.bridge, args.task, args.step_timeout,
                             args.bridge_wait_timeout) as env:
            out = collect_demos(args.task, args.episodes, args.seed, args.out, env=env,
                                bridge=env.remote.bridge, **options)
    except (BridgeUnavailableError, BridgeMismatchError) as error:
        print(f'lago collect-demos: error: {error}', file=sys.stderr)
        return 2
    print(f'demonstrations written to {out}')
    return 0


def _cmd_demos_to_minari(args: argparse.Namespace) -> int:
    from lago_ros.data.minari_collect import demos_to_minari
    from lago_ros.data.minari_io import datasets_root

    dataset_id = demos_to_minari(args.folder, args.dataset_id, overwrite=args.overwrite)
    print(f'Minari dataset {dataset_id} written under {datasets_root()}')
    return 0


def _cmd_train_prior(args: argparse.Namespace) -> int:
    from lago_ros.config import build, load_yaml
    from lago_ros.data.demos import load_demos
    from lago_ros.prior.model import PriorConfig
    from lago_ros.prior.train import BCConfig, train_prior

    data = load_yaml(args.config, args.overrides)
    unknown = sorted(set(data) - {'prior', 'bc'})
    if unknown:
        raise ValueError(f'unknown section(s) {unknown}; expected prior: and bc:')
    bc_config = build(BCConfig, data.get('bc', {}), 'bc.')  # typed, before the demos load
    demos = load_demos(args.demos)
    prior_config = build(PriorConfig, {'task': demos.metadata.get('task', ''),
                                       **data.get('prior', {})}, 'prior.')
    _, history = train_prior(demos, prior_config, bc_config, out_dir=args.out)
    print(f'prior written to {args.out} after {len(history)} epochs; last: {history[-1]}')
    return 0


def _cmd_prior_eval(args: argparse.Namespace) -> int:
    from lago_ros.rl.prior_quality import evaluate_prior_folder, write_report

    report = evaluate_prior_folder(args.prior, args.demos, episodes=args.episodes,
                                   heldout_episodes=args.heldout_episodes, seed=args.seed)
    if args.out:
        write_report(report, args.out)
        print(f'report written to {args.out}')
    for condition, metrics in report['mean'].items():
        print(f'{condition}: ' + ' '.join(f'{k}={v:.4g}' for k, v in metrics.items()))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from lago_ros.rl.experiment import load_config, run_training

    summary = run_training(load_config(args.config, args.overrides))
    print(f"eval: success_rate={summary['eval']['success_rate']:.3f} "
          f"mean_return={summary['eval']['mean_return']:.2f} "
          f"episodes={len(summary['eval']['successes'])} checkpoint={summary['checkpoint']}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from lago_ros.rl.experiment import evaluate_checkpoint

    result = evaluate_checkpoint(args.checkpoint, episodes=args.episodes, seed=args.seed)
    print(f'eval: success_rate={result.success_rate:.3f} mean_return={result.mean_return:.2f} '
          f'mean_length={result.mean_length:.1f} episodes={len(result.successes)}')
    if args.video:
        from lago_ros.rl.video import record_checkpoint

        path = record_checkpoint(args.checkpoint, args.video, episodes=args.video_episodes,
                                 seed=args.seed, fps=args.fps)
        print(f'video of {args.video_episodes} episode(s) written to {path}')
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from lago_ros.export.onnx_export import main as export_main

    return export_main(args.rest)


def _cmd_launch(args: argparse.Namespace) -> int:
    from lago_ros.launcher import main as launch_main

    return launch_main(args.rest)


def _cmd_run(args: argparse.Namespace) -> int:
    from lago_ros.main_job import run_main_job

    return run_main_job(args.config, args.overrides)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='lago', description=__doc__.splitlines()[0])
    parser.add_argument('-v', '--verbose', action='store_true', help='debug logging')
    sub = parser.add_subparsers(dest='command', required=True)

    def command(name: str, func: Callable, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = command('tasks', _cmd_tasks, 'list the registered tasks; with a name, its instructions '
                '(what to send the prior) and what each action means')
    p.add_argument('task', nargs='?', help='a task name, e.g. reach-v3')

    p = command('collect-demos', _cmd_collect_demos,
                'record expert demonstrations (Meta-World scripted policies, CLEVR-Robot oracle)')
    p.add_argument('--task', required=True)
    p.add_argument('--episodes', type=int, default=10)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--split', default='train', help='instruction split')
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument('--out', help='demo folder to write')
    where.add_argument('--minari', metavar='DATASET_ID',
                       help='write a Minari dataset instead, e.g. lago/reach-v3/expert-v0 '
                       '(under MINARI_DATASETS_PATH)')
    p.add_argument('--keep-failed', action='store_true', help='keep unsuccessful episodes')
    p.add_argument('--overwrite', action='store_true', help='replace an existing folder')
    p.add_argument('--steps-after-success', type=int, default=0,
                   help='keep acting this many steps past the first success (near-goal states)')
    p.add_argument('--bridge', default=None, metavar='NODE',
                   help='act on the one env of this sim or robot bridge (e.g. /sim_bridge with '
                   'backend topics, docs/robot.md) instead of an in-process env; the bridge '
                   'draws the instructions and goals, --split only records its split')
    p.add_argument('--step-timeout', type=float, default=60.0,
                   help='--bridge: s to wait for one step or reset of the bridge')
    p.add_argument('--bridge-wait-timeout', type=float, default=60.0,
                   help='--bridge: s to wait for the bridge to appear')

    p = command('demos-to-minari', _cmd_demos_to_minari,
                'convert a demo folder to a Minari dataset (HDF5, under MINARI_DATASETS_PATH)')
    p.add_argument('folder', help='demo folder from collect-demos')
    p.add_argument('dataset_id', help='Minari dataset id, e.g. lago/reach-v3/expert-v0')
    p.add_argument('--overwrite', action='store_true', help='replace an existing dataset')

    p = command('train-prior', _cmd_train_prior, 'stage 1: behaviour-clone the action prior')
    p.add_argument('--demos', required=True,
                   help='demo folder from collect-demos, or a Minari dataset (id or folder)')
    p.add_argument('--out', required=True, help='prior folder to write')
    p.add_argument('--config', default=None, help='YAML with prior: and bc: sections')
    p.add_argument('overrides', nargs='*', help='key=value overrides, e.g. prior.mode=lora')

    p = command('prior-eval', _cmd_prior_eval,
                'how good is a prior before RL: NLL/MSE and prior-as-policy success on held-out '
                'goals, with train, held-out and mismatched instructions')
    p.add_argument('prior', help='prior folder (language or MLP prior)')
    p.add_argument('--demos', nargs='+', required=True,
                   help="the prior's demo folders, one per task (their goals are held out)")
    p.add_argument('--episodes', type=int, default=30,
                   help='prior-as-policy episodes per task and condition')
    p.add_argument('--heldout-episodes', type=int, default=10,
                   help='held-out-goal expert episodes per task for NLL/MSE')
    p.add_argument('--seed', type=int, default=70_000, help='base seed of the evaluation envs')
    p.add_argument('--out', default=None, help='write the JSON report here')

    p = command('train', _cmd_train, 'stage 2: PPO with KL guidance toward the prior')
    p.add_argument('--config', default=None, help='training YAML (see config/)')
    p.add_argument('overrides', nargs='*', help='key=value overrides, e.g. ppo.beta=0')

    p = command('evaluate', _cmd_evaluate, 'evaluate a checkpoint over N episodes')
    p.add_argument('--checkpoint', required=True)
    p.add_argument('--episodes', type=int, default=20)
    p.add_argument('--seed', type=int, default=1000)
    p.add_argument('--video', default=None, metavar='FILE',
                   help='also record rollouts with their instruction as a caption (.mp4 or .gif)')
    p.add_argument('--video-episodes', type=int, default=1, help='episodes in the video')
    p.add_argument('--fps', type=int, default=30, help='frames per second of the video')

    # These two hand every argument (-h included) to their own parsers, so their help is theirs.
    for name, func, help_text in (
            ('export', _cmd_export, 'export a checkpoint to ONNX: policy, observation '
             'normalisation and action clipping in one graph, plus a metadata JSON'),
            ('launch', _cmd_launch, "start a launch file's graph without ros2 launch")):
        sub.add_parser(name, help=help_text, add_help=False).set_defaults(func=func, rest=None)

    p = command('run', _cmd_run, 'the main job: demos -> prior -> LaGO training through the graph')
    p.add_argument('--config', default=None, help='main-job YAML (default config/run.yaml)')
    p.add_argument('overrides', nargs='*', help='key=value overrides')
    return parser


def _parse(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """Parse `lago` arguments; export and launch keep theirs (in `rest`) for their own parsers."""
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if hasattr(args, 'rest'):
        args.rest = rest
    elif rest:
        parser.error(f'unrecognized arguments: {" ".join(rest)}')
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the `lago` console script."""
    args = _parse(argv)
    configure_logging(args.verbose)
    configure_ros_environment()
    os.environ.setdefault('MUJOCO_GL', 'egl')
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as error:
        print(f'lago {args.command}: error: {error}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f'lago {args.command}: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
