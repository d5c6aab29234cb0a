# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""TensorBoard: a fresh run's events hold its hyperparameters next to its scalars."""

import pytest
from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import metadata as hp_metadata
from tensorboard.util.tensor_util import make_ndarray
import yaml

from lago_ros.rl.metrics import CURVE_KEYS, flat_hparams, MetricsLogger
from lago_ros.rl.train_config import config_to_dict, TrainConfig


def read_events(run_dir):
    """Load a run's events as TensorBoard does (scalars and plugin summaries become tensors)."""
    events = EventAccumulator(str(run_dir / 'tensorboard'), size_guidance={'tensors': 0})
    events.Reload()
    return events


def session_hparams(events):
    content = events.SummaryMetadata(hp_metadata.SESSION_START_INFO_TAG).plugin_data.content
    info = hp_metadata.parse_session_start_info_plugin_data(content)
    return {key: value.WhichOneof('kind') and getattr(value, value.WhichOneof('kind'))
            for key, value in info.hparams.items()}


def write_config(run_dir, **overrides):
    cfg = TrainConfig(task='reach-v3', seed=3, **overrides)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / 'config.yaml').write_text(yaml.safe_dump(config_to_dict(cfg)))
    return config_to_dict(cfg)


def test_fresh_run_logs_config_as_hparams_beside_its_scalars(tmp_path):
    config = write_config(tmp_path)
    logger = MetricsLogger(tmp_path)
    logger.log(64, {'charts/episodic_return': 1.5, 'charts/success_rate': 0.25})
    logger.close()
    events = read_events(tmp_path)
    assert hp_metadata.EXPERIMENT_TAG in events.Tags()['tensors']
    assert 'charts/episodic_return' in events.Tags()['tensors']
    logged = session_hparams(events)
    assert logged['task'] == 'reach-v3' and logged['seed'] == 3
    assert logged['ppo.beta'] == pytest.approx(config['ppo']['beta'])
    assert set(logged) == set(flat_hparams(config))
    content = events.SummaryMetadata(hp_metadata.EXPERIMENT_TAG).plugin_data.content
    experiment = hp_metadata.parse_experiment_plugin_data(content)
    assert {m.name.tag for m in experiment.metric_infos} == set(CURVE_KEYS)


def test_resumed_run_does_not_log_them_again_and_keeps_the_first(tmp_path):
    write_config(tmp_path)
    first = MetricsLogger(tmp_path)
    first.log(64, {'charts/episodic_return': 1.0})
    first.close()
    resumed = MetricsLogger(tmp_path, resume_step=64)
    resumed.log(128, {'charts/episodic_return': 2.0})
    resumed.close()
    events = read_events(tmp_path)
    starts = events.Tensors(hp_metadata.SESSION_START_INFO_TAG)
    assert len(starts) == 1
    returns = [(e.step, float(make_ndarray(e.tensor_proto)))
               for e in events.Tensors('charts/episodic_return')]
    assert returns == [(64, 1.0), (128, 2.0)]


def test_flat_hparams_keeps_scalars_and_writes_the_rest_as_text():
    flat = flat_hparams({'a': {'b': 1, 'c': [1, 2]}, 'd': None, 'e': True})
    assert flat == {'a.b': 1, 'a.c': '[1, 2]', 'd': 'None', 'e': True}
