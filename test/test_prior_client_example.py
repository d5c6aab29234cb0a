# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""examples/query_prior_client.py works against a prior service brought up by its launch file."""

import os
from pathlib import Path
import re
import signal
import subprocess
import sys

import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy')

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def prior_dir(tmp_path):
    from lago_ros.prior.backbone import tiny_random_backbone
    from lago_ros.prior.model import ActionPrior, PriorConfig

    config = PriorConfig(obs_dim=39, action_type='continuous', action_dim=4, task='reach-v3',
                         backbone=str(tiny_random_backbone(tmp_path / 'backbone')),
                         projector_hidden=16, head_hidden=16)
    return ActionPrior(config).save_pretrained(tmp_path / 'prior')


def test_example_client_prints_a_distribution_per_state(prior_dir):
    service = subprocess.Popen(
        [sys.executable, '-m', 'lago_ros.launcher', 'prior_service.launch.xml',
         f'prior_path:={prior_dir}'], cwd=ROOT, env=os.environ.copy(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        result = subprocess.run(
            [sys.executable, str(ROOT / 'examples' / 'query_prior_client.py'), '--batch', '2',
             '--timeout', '90'], cwd=ROOT, env=os.environ.copy(), capture_output=True,
            text=True, timeout=150)
    finally:
        service.send_signal(signal.SIGINT)
        assert service.wait(timeout=60) == 0
    assert result.returncode == 0, result.stderr[-2000:]
    states = re.findall(r'state (\d): mean=\[([^\]]*)\] std=\[([^\]]*)\]', result.stdout)
    assert [s[0] for s in states] == ['0', '1']
    for _, mean, std in states:
        assert all(-1 <= float(v) <= 1 for v in mean.split(','))
        assert all(float(v) > 0 for v in std.split(','))
