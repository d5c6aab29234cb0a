# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
R4: loading untrusted files runs no code, and the nodes keep DDS traffic on this machine.

A checkpoint whose pickle calls os.system, a backbone or prior folder that asks transformers to
import code shipped with it (auto_map), and a pickle-only (.bin) backbone must all be refused
with a ValueError subclass, and the payload must not have run (its marker file stays absent).
Nodes started by the launcher inherit ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST even when the
caller's environment does not set it.
"""

import json
import os
from pathlib import Path
import pickle
import re
import signal
import subprocess
import sys
import threading
from types import SimpleNamespace

import gymnasium as gym
from node_process import dds_discovery, NodeProcess, wait_until, without_discovery_settings
import numpy as np
import pytest
import torch

from lago_ros.prior.backbone import BackboneLoadError, load_backbone, tiny_random_backbone
from lago_ros.prior.model import ActionPrior, PriorConfig, PriorLoadError
from lago_ros.rl.checkpoint import CheckpointError, load_checkpoint
from lago_ros.rl.ppo import PPO

ROOT = Path(__file__).resolve().parents[1]


class _Payload:
    """Unpickling this object runs a shell command (what a malicious checkpoint would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / 'payload_ran'
    yield path
    assert not path.exists(), 'a payload ran while loading an untrusted file'


def _envs():
    return SimpleNamespace(num_envs=1, single_action_space=gym.spaces.Box(-1, 1, (4,)),
                           single_observation_space=gym.spaces.Box(-np.inf, np.inf, (39,)))


@pytest.mark.parametrize('writer', ['torch_zip', 'plain_pickle'])
def test_malicious_checkpoint_is_refused_without_running_it(tmp_path, marker, writer):
    path = tmp_path / 'checkpoint.pt'
    state = {'format': 'lago_ros.ppo/1', 'policy': _Payload(marker)}
    if writer == 'torch_zip':
        torch.save(state, path)
    else:
        path.write_bytes(pickle.dumps(state))
    # The same bytes with pickle.load would run the payload: the test file is really malicious.
    probe = tmp_path / 'probe_ran'
    pickle.loads(pickle.dumps(_Payload(probe)))
    assert probe.exists()
    with pytest.raises(CheckpointError, match='corrupt or truncated'):
        load_checkpoint(path)
    with pytest.raises(CheckpointError):
        PPO.load(path, _envs())


@pytest.fixture(scope='module')
def backbone_dir(tmp_path_factory):
    return tiny_random_backbone(tmp_path_factory.mktemp('backbone') / 'tiny')


def _copy_folder(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for item in src.iterdir():
        (dst / item.name).write_bytes(item.read_bytes())
    return dst


def _plant_remote_code(folder: Path, marker: Path) -> None:
    """Ship a module that would create `marker` when imported, referenced by auto_map."""
    (folder / 'evil_model.py').write_text(f'open({str(marker)!r}, "w").close()\n'
                                          'from transformers import BertModel as EvilModel\n')


@pytest.mark.parametrize('config_file', ['config.json', 'tokenizer_config.json'])
def test_backbone_asking_for_remote_code_is_refused(tmp_path, marker, backbone_dir,
                                                    config_file):
    folder = _copy_folder(backbone_dir, tmp_path / 'evil')
    _plant_remote_code(folder, marker)
    config = json.loads((folder / config_file).read_text())
    config['auto_map'] = {'AutoModel': 'evil_model.EvilModel',
                          'AutoConfig': 'evil_model.EvilModel'}
    (folder / config_file).write_text(json.dumps(config))
    with pytest.raises(BackboneLoadError, match='auto_map'):
        load_backbone(folder)


def test_pickle_only_backbone_is_refused(tmp_path, marker, backbone_dir):
    folder = _copy_folder(backbone_dir, tmp_path / 'bin_only')
    (folder / 'model.safetensors').unlink()
    torch.save({'embeddings.word_embeddings.weight': _Payload(marker)},
               folder / 'pytorch_model.bin')
    with pytest.raises(BackboneLoadError, match='safetensors'):
        load_backbone(folder)


@pytest.fixture(scope='module')
def prior_dir(tmp_path_factory, backbone_dir):
    config = PriorConfig(obs_dim=39, action_type='continuous', action_dim=4, task='reach-v3',
                         backbone=str(backbone_dir), projector_hidden=8, head_hidden=8)
    return ActionPrior(config).save_pretrained(tmp_path_factory.mktemp('prior') / 'prior')


@pytest.mark.parametrize('where', ['top', 'backbone_config', 'tokenizer'])
def test_prior_asking_for_remote_code_is_refused(tmp_path, marker, prior_dir, where):
    folder = tmp_path / 'prior'
    folder.mkdir()
    for item in prior_dir.rglob('*'):
        target = folder / item.relative_to(prior_dir)
        if item.is_dir():
            target.mkdir(exist_ok=True)
        else:
            target.write_bytes(item.read_bytes())
    _plant_remote_code(folder, marker)
    auto_map = {'AutoModel': 'evil_model.EvilModel'}
    path = folder / ('tokenizer/tokenizer_config.json' if where == 'tokenizer'
                     else 'config.json')
    document = json.loads(path.read_text())
    (document['backbone_config'] if where == 'backbone_config' else document)['auto_map'] = \
        auto_map
    path.write_text(json.dumps(document))
    with pytest.raises(PriorLoadError, match='auto_map'):
        ActionPrior.from_pretrained(folder)


def _environ(pid: int) -> dict:
    """Return the environment a process was started with (/proc/<pid>/environ)."""
    raw = Path(f'/proc/{pid}/environ').read_bytes().split(b'\0')
    return dict(item.decode().split('=', 1) for item in raw if b'=' in item)


def test_launched_nodes_use_localhost_discovery_by_default(tmp_path):
    env = without_discovery_settings(os.environ)
    launcher = subprocess.Popen(
        [sys.executable, '-m', 'lago_ros.launcher', 'prior_service.launch.xml',
         f'prior_path:={tmp_path / "absent"}'],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(launcher.stdout), daemon=True)
    reader.start()
    try:
        started = wait_until(lambda: re.search(r'started prior_service \(pid (\d+)\)',
                                               ''.join(lines)), 120, 'the launcher starting it')
        pid = int(started.group(1))
        child = _environ(pid)
        assert child['ROS_AUTOMATIC_DISCOVERY_RANGE'] == 'LOCALHOST'
        assert child['ROS_DOMAIN_ID'] == os.environ['ROS_DOMAIN_ID']
        assert dds_discovery(pid) == ({int(os.environ['ROS_DOMAIN_ID'])}, False)
    finally:
        launcher.send_signal(signal.SIGINT)
        launcher.wait(timeout=60)


@pytest.mark.parametrize('setting, multicast', [(None, False), ('SUBNET', True)])
def test_a_node_started_bare_discovers_on_localhost_only_unless_told(setting, multicast):
    """
    A node started with no discovery variable binds no multicast discovery port.

    What the participant really does, read from its sockets; a user's own SUBNET is kept (and
    shows that the check sees multicast when it is there).
    """
    env = without_discovery_settings(os.environ)
    if setting:
        env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = setting
    node = NodeProcess('prior_service', '-r', '__node:=bare_prior',
                       '-p', 'prior_path:=/nonexistent/prior', env=env)
    try:
        node.wait_for('staying unconfigured', 120)
        assert dds_discovery(node.process.pid) == ({int(os.environ['ROS_DOMAIN_ID'])},
                                                   multicast)
    finally:
        node.stop()
