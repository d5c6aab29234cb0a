# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
`make run` end to end: `lago run` (main_job) on a small config, as its own process.

Demonstrations -> a prior on a tiny random backbone -> LaGO training through the ROS 2 graph
of launch/train.launch.xml (sim bridge, prior service and trainer, each a process), ending with
the evaluation line and a complete run folder. The one slow test of its kind: a tiny budget.
"""

import csv
import json
from pathlib import Path
import re

from node_process import NodeProcess, ROOT
import pytest
import yaml

pytestmark = pytest.mark.ros

TRAINER = {'trainer': {'ros__parameters': {
    'prior_chunk_size': 512, 'prior_timeout': 300.0, 'step_timeout': 300.0,
    'bridge_wait_timeout': 300.0, 'checkpoint_every': 1, 'eval_episodes': 2,
    'ppo': {'num_steps': 32, 'minibatch_size': 32, 'update_epochs': 1, 'hidden_sizes': [16],
            'log_interval': 1, 'beta_schedule': 'constant'}}}}


def _job_config(tmp_path: Path) -> Path:
    from lago_ros.prior.backbone import tiny_random_backbone

    config_dir = tmp_path / 'config'
    config_dir.mkdir()
    (config_dir / 'prior_service.yaml').write_text((ROOT / 'config' / 'prior_service.yaml')
                                                   .read_text())
    bridge = yaml.safe_load((ROOT / 'config' / 'sim_bridge.yaml').read_text())
    bridge['sim_bridge']['ros__parameters']['max_episode_steps'] = 50  # short evaluation
    (config_dir / 'sim_bridge.yaml').write_text(yaml.safe_dump(bridge))
    (config_dir / 'trainer.yaml').write_text(yaml.safe_dump(TRAINER))
    job = {'task': 'reach-v3', 'seed': 0, 'work_dir': str(tmp_path / 'work'),
           'demos': {'episodes': 2},
           'prior': {'backbone': str(tiny_random_backbone(tmp_path / 'backbone')),
                     'projector_hidden': 8, 'head_hidden': 8},
           'bc': {'epochs': 1, 'progress': False},
           'launch': {'num_envs': 2, 'total_timesteps': 128, 'beta': 0.1,
                      'config_dir': str(config_dir)}}
    path = tmp_path / 'run.yaml'
    path.write_text(yaml.safe_dump(job))
    return path


def test_lago_run_goes_from_demos_to_an_evaluated_lago_policy(tmp_path):
    from lago_ros.rl.run import RUN_FILES

    job = NodeProcess('', argv=['-m', 'lago_ros.cli', 'run', '--config',
                                str(_job_config(tmp_path))])
    try:
        code = job.wait(900)
    finally:
        job.stop()
    log = job.log
    assert code == 0, log[-4000:]
    stages = [m.group(1) for m in re.finditer(r'stage (\d):', log)]
    assert stages == ['0', '1', '2'], log[-4000:]
    work = tmp_path / 'work'
    assert json.loads((work / 'demos-reach-v3' / 'metadata.json').read_text())['task'] == \
        'reach-v3'
    assert (work / 'prior-reach-v3' / 'config.json').is_file()
    run_dir = work / 'train-reach-v3-seed0'
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(RUN_FILES)
    summary = json.loads((run_dir / 'summary.json').read_text())
    assert summary['global_step'] == 128 and summary['updates'] == 2
    assert len(summary['eval']['returns']) == 2
    assert re.search(r'eval: success_rate=[\d.]+ mean_return=[-\d.]+ episodes=2', log)
    with open(run_dir / 'metrics.csv', newline='') as handle:
        rows = list(csv.DictReader(handle))
    # The prior service was given time to start: every update was guided by the new prior.
    assert [float(r['lago/guidance_active']) for r in rows] == [1.0, 1.0]
    assert [int(float(r['global_step'])) for r in rows] == [64, 128]
