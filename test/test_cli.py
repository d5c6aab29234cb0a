# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The `lago` command driven as a user would, in this process (`lago_ros.cli.main`).

One chain on reach-v3 with a tiny budget: collect-demos -> train-prior (tiny random backbone)
-> train (guided by that prior) -> evaluate the checkpoint; plus `tasks` and the one-line
errors. Each step checks what the command wrote, not only its exit code.
"""

import json
import re

import numpy as np
import pytest

from lago_ros.cli import main


def _run(capsys, *argv: str) -> str:
    """Run `lago argv...`, require exit 0, return what it printed."""
    code = main(list(argv))
    out = capsys.readouterr()
    assert code == 0, f'lago {" ".join(argv)} exited {code}:\n{out.out}{out.err}'
    return out.out


def test_tasks_lists_every_task_and_explains_one(capsys):
    from lago_ros.envs.tasks import get_task, list_tasks
    from lago_ros.prior.describe import task_instructions

    listing = _run(capsys, 'tasks').splitlines()
    assert [line.split()[0] for line in listing] == list(list_tasks())
    spec = get_task('reach-v3')
    detail = _run(capsys, 'tasks', 'reach-v3').splitlines()
    assert detail[0].split()[:2] == ['reach-v3', spec.family]
    assert re.search(rf'obs=\s*{spec.obs_dim} .* actions={spec.action_dim} ', detail[0])
    train_at, test_at = detail.index('instructions, train:'), detail.index('instructions, test:')
    actions_at = detail.index('actions:')
    assert detail[train_at + 1:test_at] == [f'  {t}' for t in task_instructions('reach-v3')]
    assert detail[test_at + 1:actions_at] == \
        [f'  {t}' for t in task_instructions('reach-v3', 'test')]
    axes = [line for line in detail[actions_at + 1:] if re.match(r'  \d ', line)]
    assert [int(line.split()[0]) for line in axes] == list(range(spec.action_dim))


@pytest.fixture(scope='module')
def demos(tmp_path_factory):
    out = tmp_path_factory.mktemp('cli') / 'demos'
    assert main(['collect-demos', '--task', 'reach-v3', '--episodes', '2', '--seed', '3',
                 '--out', str(out)]) == 0
    return out


@pytest.fixture(scope='module')
def prior(demos, tmp_path_factory):
    from lago_ros.prior.backbone import tiny_random_backbone

    root = tmp_path_factory.mktemp('cli_prior')
    backbone = tiny_random_backbone(root / 'backbone')
    out = root / 'prior'
    assert main(['train-prior', '--demos', str(demos), '--out', str(out),
                 f'prior.backbone={backbone}', 'prior.projector_hidden=8', 'prior.head_hidden=8',
                 'bc.epochs=1', 'bc.progress=false']) == 0
    return out


def test_collect_demos_writes_the_expert_episodes(demos):
    from lago_ros.data.demos import load_demos

    dataset = load_demos(demos)
    assert dataset.metadata['task'] == 'reach-v3' and dataset.num_episodes == 2
    assert dataset.metadata['seed'] == 3


def test_train_prior_writes_a_prior_that_predicts_for_the_task(prior, demos):
    from lago_ros.data.demos import load_demos
    from lago_ros.prior.model import ActionPrior

    loaded = ActionPrior.from_pretrained(prior)
    assert loaded.config.task == 'reach-v3' and loaded.config.obs_dim == 39
    dataset = load_demos(demos)
    states = np.asarray(dataset.observations[:3], np.float32)
    assert loaded.predict(states, ['reach the goal']).mean.shape == (3, 4)


def test_train_then_evaluate_the_checkpoint(prior, tmp_path, capsys):
    run_dir = tmp_path / 'run'
    out = _run(capsys, 'train', 'task=reach-v3', 'num_envs=2', 'vector_env=sync',
               'total_timesteps=128', 'checkpoint_every=1', 'eval_episodes=2',
               f'run_dir={run_dir}', f'prior={prior}', 'ppo.num_steps=32',
               'ppo.minibatch_size=32', 'ppo.update_epochs=1', 'ppo.hidden_sizes=[8]',
               'ppo.beta=0.1', 'ppo.beta_schedule=constant')
    summary = json.loads((run_dir / 'summary.json').read_text())
    assert summary['global_step'] == 128 and summary['prior'] == str(prior)
    eval_line = re.search(r'eval: success_rate=([\d.]+) mean_return=([-\d.]+) episodes=2 '
                          r'checkpoint=(\S+)', out)
    assert eval_line and eval_line.group(3) == str(run_dir / 'checkpoint.pt'), out
    assert float(eval_line.group(1)) == pytest.approx(summary['eval']['success_rate'], abs=1e-3)
    lines = (run_dir / 'metrics.csv').read_text().splitlines()
    assert len(lines) == 1 + 2 and 'lago/kl_prior' in lines[0]  # two guided updates
    out = _run(capsys, 'evaluate', '--checkpoint', str(run_dir / 'checkpoint.pt'),
               '--episodes', '1', '--seed', '5')
    assert re.search(r'eval: success_rate=[\d.]+ mean_return=[-\d.]+ mean_length=[\d.]+ '
                     r'episodes=1$', out.strip()), out


@pytest.mark.parametrize('argv, message', [
    (['train', 'ppo.beta=abc'], 'ppo.beta'),
    (['train', 'no_such_key=1'], 'no_such_key'),
    (['evaluate', '--checkpoint', '/nonexistent/checkpoint.pt'], 'checkpoint.pt'),
    (['collect-demos', '--task', 'no-such-task', '--out', '/tmp/x'], 'no-such-task'),
])
def test_bad_input_is_one_line_on_stderr_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f'lago {argv[0]}: error: ') and message in err
    assert '\n' not in err and 'Traceback' not in err
