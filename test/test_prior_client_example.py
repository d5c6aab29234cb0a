# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
The README's prior client (examples/query_prior_client.py) against a real prior service.

It describes, queries, and fails with one clear line (never a traceback) when the service is
absent or stops answering.
"""

import os
from pathlib import Path
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytestmark = pytest.mark.ros
pytest.importorskip('rclpy')

ROOT = Path(__file__).resolve().parents[1]
# Start-up (torch, the prior, its ONNX graphs) took over 90 s on a loaded 2-core machine.
READY = '300'
EXAMPLE = ROOT / 'examples' / 'query_prior_client.py'


@pytest.fixture(scope='module')
def prior_dir(tmp_path_factory):
    from lago_ros.prior.backbone import tiny_random_backbone
    from lago_ros.prior.model import ActionPrior, PriorConfig

    root = tmp_path_factory.mktemp('client')
    config = PriorConfig(obs_dim=39, action_type='continuous', action_dim=4, task='reach-v3',
                         backbone=str(tiny_random_backbone(root / 'backbone')),
                         projector_hidden=16, head_hidden=16)
    return ActionPrior(config).save_pretrained(root / 'prior')


def run_example(*args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(EXAMPLE), *args], cwd=ROOT,
                          env=os.environ.copy(), capture_output=True, text=True,
                          timeout=timeout)


def assert_distributions(result: subprocess.CompletedProcess, count: int) -> None:
    assert result.returncode == 0, result.stderr[-2000:]
    states = re.findall(r'state (\d): mean=\[([^\]]*)\] std=\[([^\]]*)\]', result.stdout)
    assert [s[0] for s in states] == [str(i) for i in range(count)]
    for _, mean, std in states:
        assert all(-1 <= float(v) <= 1 for v in mean.split(','))
        assert all(float(v) > 0 for v in std.split(','))


@pytest.fixture(scope='module')
def launched(prior_dir, tmp_path_factory):
    """Start the prior service as the README says; yield a function returning its node's pid."""
    log_path = tmp_path_factory.mktemp('launch') / 'launcher.log'
    with open(log_path, 'w') as log:
        launcher = subprocess.Popen(
            [sys.executable, '-m', 'lago_ros.launcher', 'prior_service.launch.xml',
             f'prior_path:={prior_dir}'], cwd=ROOT, env=os.environ.copy(), stdout=log,
            stderr=subprocess.STDOUT)

    def node_pid() -> int:
        found = re.search(r'started prior_service \(pid (\d+)\)', log_path.read_text())
        assert found, log_path.read_text()[-2000:]
        return int(found.group(1))

    yield node_pid
    # Ctrl-C to the node first, with a deadline for a loaded machine (the launcher's own is 10 s),
    # then to the launcher, whose exit code is 0 only if the node exited cleanly.
    pid = node_pid()
    os.kill(pid, signal.SIGCONT)
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + 120
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    launcher.send_signal(signal.SIGINT)
    assert launcher.wait(timeout=120) == 0, log_path.read_text()[-2000:]


def running(pid: int) -> bool:
    """Whether process `pid` is alive (not gone, not a zombie awaiting its parent)."""
    try:
        return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


def test_example_client_prints_a_distribution_per_state(launched):
    result = run_example('--batch', '2', '--timeout', READY)
    assert_distributions(result, 2)
    # Described, not guessed: the task's own first instruction and its action names.
    assert ("prior for task 'reach-v3': obs_dim 39, continuous x 4 "
            "['dx', 'dy', 'dz', 'gripper']; instruction "
            "'Reach the goal position with the gripper.'") in result.stdout


def test_example_client_reports_what_the_prior_itself_predicts(launched, prior_dir):
    import json

    from lago_ros.prior.model import ActionPrior

    result = run_example('--batch', '3', '--json', '--timeout', READY)
    assert result.returncode == 0, result.stderr[-2000:]
    reply = json.loads(result.stdout.strip().splitlines()[-1])
    states = np.asarray(reply['observations'], dtype=np.float32)
    assert states.shape == (3, 39)
    expected = ActionPrior.from_pretrained(prior_dir).predict(states, [reply['instruction']] * 3)
    np.testing.assert_allclose(reply['mean'], expected.mean, atol=1e-5)
    np.testing.assert_allclose(reply['std'], expected.std, atol=1e-5)


def test_example_client_says_when_no_service_is_there():
    result = run_example('--prior', '/no_prior_here', '--timeout', '2')
    assert result.returncode == 1
    assert result.stderr.strip() == ('/no_prior_here/describe is not available within 2 s '
                                     '(is prior_service running and active?)')


def test_example_client_survives_a_service_that_stops_answering(launched):
    assert_distributions(run_example('--timeout', READY, '--batch', '1'), 1)
    # Stopped, the service is still listed but never replies (as after a SIGKILL).
    os.kill(launched(), signal.SIGSTOP)
    try:
        stalled = run_example('--timeout', '3')
    finally:
        os.kill(launched(), signal.SIGCONT)
    assert stalled.returncode == 1
    assert 'Traceback' not in stalled.stderr and len(stalled.stderr.splitlines()) == 1
    assert re.fullmatch(r'(no reply from /prior_service/describe within 3 s: the service is '
                        r'busy or went away|/prior_service/describe is not available .*)\n',
                        stalled.stderr), stalled.stderr
    assert_distributions(run_example('--timeout', READY, '--batch', '1'), 1)
