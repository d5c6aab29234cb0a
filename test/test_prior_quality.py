# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Multi-task demos, the MLP baselines, the prior's head/init options and the quality harness."""

import numpy as np
import pytest
import torch

from lago_ros.data.demos import collect_demos, DemoFormatError, load_demos, merge_demos
from lago_ros.envs.instructions import instructions_for
from lago_ros.prior.backbone import load_backbone, tiny_random_backbone
from lago_ros.prior.load import load_prior
from lago_ros.prior.mlp import MLPPrior, MLPPriorConfig
from lago_ros.prior.model import (
    ActionPrior,
    PriorConfig,
    PriorConfigError,
    PriorInputError,
    PriorLoadError,
)
from lago_ros.prior.train import _batches, BCConfig, train_prior
from lago_ros.rl.prior_quality import (
    check_heldout,
    condition_instructions,
    demo_goals,
    evaluate_prior,
    HeldOutError,
    QualityConfig,
)

TASKS = ['reach-v3', 'push-v3']


@pytest.fixture(scope='module')
def demos(tmp_path_factory):
    """Two tasks of one scene, cut 5 steps after success, plus held-out-goal expert episodes."""
    root = tmp_path_factory.mktemp('demos')
    fitted, held = {}, {}
    for index, task in enumerate(TASKS):
        fitted[task] = load_demos(collect_demos(task, 4, 50_000 + index, root / task,
                                                progress=False, steps_after_success=5))
        held[task] = load_demos(collect_demos(task, 2, 60_000 + index, root / f'{task}-held',
                                              progress=False, steps_after_success=5))
    return fitted, held


def test_demos_continue_exactly_the_asked_steps_past_first_success(demos):
    fitted, _ = demos
    data = fitted['reach-v3']
    assert data.metadata['steps_after_success'] == 5
    for episode in np.unique(data.episode_ids):
        rows = np.flatnonzero(data.episode_ids == episode)
        first = int(np.argmax(data.successes[rows]))
        assert data.successes[rows][first]
        assert len(rows) == first + 1 + 5
        assert data.truncations[rows][-1] and not data.truncations[rows][:-1].any()


def test_merge_renumbers_episodes_and_refuses_other_spaces(demos, tmp_path):
    fitted, _ = demos
    merged = merge_demos([fitted[t] for t in TASKS])
    assert merged.metadata['tasks'] == TASKS
    assert len(merged) == sum(len(fitted[t]) for t in TASKS)
    assert np.array_equal(np.unique(merged.episode_ids), np.arange(8))
    assert set(merged.instructions[merged.episode_ids >= 4]) <= set(
        instructions_for('push-v3', 'train'))
    clevr = load_demos(collect_demos('clevr-robot', 1, 0, tmp_path / 'clevr', progress=False))
    with pytest.raises(DemoFormatError, match='cannot merge'):
        merge_demos([fitted['reach-v3'], clevr])


def test_instruction_batches_cover_each_row_once_with_one_instruction_each():
    instructions = np.array(['a', 'b', 'a', 'c', 'b', 'a', 'a'])
    rows = np.arange(7)
    batches = _batches(rows, instructions, BCConfig(batch_size=2, group_by_instruction=True),
                       torch.Generator().manual_seed(0))
    assert sorted(np.concatenate(batches).tolist()) == rows.tolist()
    assert all(len(set(instructions[b])) == 1 for b in batches)


def test_one_hot_mlp_reads_the_task_from_the_instruction_and_round_trips(demos, tmp_path):
    fitted, _ = demos
    prior, _ = train_prior(merge_demos([fitted[t] for t in TASKS]),
                           MLPPriorConfig(task_names=TASKS), BCConfig(epochs=3, progress=False),
                           tmp_path / 'onehot')
    obs = fitted['push-v3'].observations[:16]
    reach = prior.predict(obs, [instructions_for('reach-v3', 'test')[0]])
    push = prior.predict(obs, [instructions_for('push-v3', 'test')[0]])
    assert not np.allclose(reach.mean, push.mean)
    again = load_prior(tmp_path / 'onehot')
    assert isinstance(again, MLPPrior)
    assert np.array_equal(again.predict(obs, [instructions_for('push-v3', 'test')[0]]).mean,
                          push.mean)
    with pytest.raises(PriorInputError, match='not a registered phrasing'):
        prior.predict(obs, ['do a backflip'])
    with pytest.raises(PriorLoadError, match='MLP baseline prior'):
        ActionPrior.from_pretrained(tmp_path / 'onehot')


def test_state_skip_head_matches_between_full_forward_and_cached_prefix(tmp_path):
    backbone = tiny_random_backbone(tmp_path / 'tiny')
    config = PriorConfig(obs_dim=39, action_type='continuous', action_dim=4,
                         backbone=str(backbone), head_input='soft+state')
    torch.manual_seed(0)
    prior = ActionPrior(config).eval()
    assert prior.head[0].in_features == prior.hidden_size + 39
    obs = torch.randn(5, 39)
    text = 'push the puck to the goal'
    with torch.no_grad():
        whole = prior(obs, [text])
        layers, length = prior.instruction_prefix(text)
        cached = prior.state_pass(obs, layers, length)
    assert torch.allclose(whole.mean, cached.mean, atol=1e-6)
    assert torch.allclose(whole.std, cached.std, atol=1e-6)
    with pytest.raises(PriorConfigError, match='head_input'):
        PriorConfig(head_input='state')


def test_random_init_keeps_the_architecture_but_not_the_weights(tmp_path):
    backbone = str(tiny_random_backbone(tmp_path / 'tiny', seed=3))
    pretrained, _ = load_backbone(backbone)
    config = PriorConfig(obs_dim=39, action_type='continuous', action_dim=4, backbone=backbone,
                         backbone_init='random')
    torch.manual_seed(0)
    fresh = ActionPrior(config).base_backbone()
    ours = dict(fresh.named_parameters())
    theirs = dict(pretrained.named_parameters())
    assert ours.keys() == theirs.keys()
    assert all(ours[k].shape == theirs[k].shape for k in ours)
    embeddings = 'embeddings.word_embeddings.weight'
    assert not torch.allclose(ours[embeddings], theirs[embeddings])


def test_heldout_check_and_conditions():
    goals = np.array([[0.1, 0.8, 0.2], [0.0, 0.7, 0.1]])
    check_heldout(goals, goals + 1e-3, 'shifted')
    with pytest.raises(HeldOutError, match='are demo goals'):
        check_heldout(goals, goals[:1], 'same')
    train = condition_instructions('push-v3', 'train', TASKS)
    test = condition_instructions('push-v3', 'test', TASKS)
    assert train and test and not set(train) & set(test)
    assert condition_instructions('push-v3', 'mismatch', TASKS) == [
        instructions_for('reach-v3', 'train')[0]]


def test_harness_reports_every_condition_and_the_mismatch_costs_likelihood(demos):
    fitted, held = demos
    torch.manual_seed(0)
    prior, _ = train_prior(merge_demos([fitted[t] for t in TASKS]),
                           MLPPriorConfig(task_names=TASKS),
                           BCConfig(epochs=60, val_fraction=0.0, progress=False))
    report = evaluate_prior(prior, QualityConfig(
        tasks=TASKS, heldout=held, demo_goals={t: demo_goals(fitted[t]) for t in TASKS},
        episodes=2), log=lambda line: None)
    for task in TASKS:
        rows = report['tasks'][task]
        assert set(rows) == {'train', 'test', 'mismatch'}
        assert all(0.0 <= rows[c]['success'] <= 1.0 and rows[c]['episodes'] == 2 for c in rows)
        # A one-hot prior with the other task's instruction predicts the other task's actions.
        assert rows['mismatch']['nll'] > rows['train']['nll'] + 0.3
    assert report['mean']['train']['nll'] == pytest.approx(
        np.mean([report['tasks'][t]['train']['nll'] for t in TASKS]))
    with pytest.raises(HeldOutError):
        evaluate_prior(prior, QualityConfig(
            tasks=TASKS, heldout=fitted, demo_goals={t: demo_goals(fitted[t]) for t in TASKS},
            episodes=0), log=lambda line: None)


def test_make_run_uses_the_one_recipe_with_a_smaller_budget():
    from pathlib import Path

    import yaml

    from lago_ros.main_job import JobPlan, load_job_config

    root = Path(__file__).resolve().parents[1]
    recipe = yaml.safe_load((root / 'config' / 'prior.yaml').read_text())
    plan = JobPlan(load_job_config(str(root / 'config' / 'run.yaml')))
    for key, value in recipe['prior'].items():
        assert getattr(plan.prior, key) == value, key
    assert plan.bc.select_by == recipe['bc']['select_by']
    assert plan.bc.group_by_instruction is recipe['bc']['group_by_instruction']
    assert plan.bc.epochs < recipe['bc']['epochs']
    assert plan.steps_after_success == 20


def test_state_skip_prior_runs_in_onnx_runtime_as_in_torch(tmp_path):
    from lago_ros.prior.onnx_runtime import OnnxPrior

    backbone = tiny_random_backbone(tmp_path / 'tiny')
    torch.manual_seed(1)
    prior = ActionPrior(PriorConfig(obs_dim=39, action_type='continuous', action_dim=4,
                                    backbone=str(backbone), head_input='soft+state')).eval()
    obs = np.random.default_rng(0).normal(size=(7, 39)).astype(np.float32)
    texts = ['push the puck to the goal', 'reach the goal']
    for text in texts:
        expected = prior.predict(obs, [text])
        got = OnnxPrior(prior).predict(obs, [text])
        assert np.allclose(got.mean, expected.mean, atol=1e-5)
        assert np.allclose(got.std, expected.std, atol=1e-5)


def test_prior_eval_command_reports_held_out_conditions(demos, tmp_path, capsys):
    from lago_ros.cli import main

    fitted, _ = demos
    prior_dir = tmp_path / 'mlp'
    train_prior(merge_demos([fitted[t] for t in TASKS]), MLPPriorConfig(),
                BCConfig(epochs=2, progress=False), prior_dir)
    folders = []
    for task in TASKS:
        folder = tmp_path / f'demos-{task}'
        collect_demos(task, 1, 50_000 + len(folders), folder, progress=False)
        folders.append(str(folder))
    out = tmp_path / 'report.json'
    assert main(['prior-eval', str(prior_dir), '--demos', *folders, '--episodes', '1',
                 '--heldout-episodes', '1', '--out', str(out)]) == 0
    import json

    report = json.loads(out.read_text())
    assert set(report['mean']) == {'train', 'test', 'mismatch'}
    # A prior with no task input answers every instruction alike.
    for task in TASKS:
        rows = report['tasks'][task]
        assert rows['train']['mse'] == pytest.approx(rows['mismatch']['mse'])
    assert 'mismatch:' in capsys.readouterr().out


def test_saved_prior_and_demo_folders_follow_the_umask(demos, tmp_path):
    import os

    fitted, _ = demos
    old = os.umask(0o022)
    try:
        prior, _ = train_prior(fitted['reach-v3'], MLPPriorConfig(),
                               BCConfig(epochs=1, progress=False), tmp_path / 'prior')
        demo_dir = collect_demos('reach-v3', 1, 0, tmp_path / 'demos', progress=False)
    finally:
        os.umask(old)
    for folder in (tmp_path / 'prior', demo_dir):
        assert folder.stat().st_mode & 0o777 == 0o755, folder
