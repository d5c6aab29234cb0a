# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The parameter tables in the docs are the ones the nodes declare (generated, then checked)."""

from pathlib import Path

import pytest

pytest.importorskip('rclpy')
from lago_ros.nodes import deploy  # noqa: E402
from lago_ros.nodes.param_docs import main, markdown_table, markers, render  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOCS = [('lago_ros.nodes.deploy', ROOT / 'docs' / 'deploy.md')]


@pytest.mark.parametrize('module, doc', DOCS)
def test_doc_holds_the_generated_parameter_table(module, doc):
    text = doc.read_text()
    assert render(text, module) == text, (
        f'{doc.name} is out of date: python -m lago_ros.nodes.param_docs {module} {doc}')


def test_table_has_one_row_per_parameter_with_its_choices_and_range():
    table = markdown_table(deploy.PARAMETERS)
    rows = table.splitlines()[2:]
    assert [row.split(' | ')[0] for row in rows] == [f'| `{p.name}`' for p in deploy.PARAMETERS]
    assert '| `output_mode` | string | `float64_multi_array` | `float64_multi_array`, ' \
           '`joint_trajectory`, `twist`, `vec_action` |' in table
    assert '| `rate_hz` | double | `20.0` | 0.1 .. 1000.0 |' in table
    assert '| `autostart` | bool | `false` |' in table


def test_check_mode_reports_a_stale_doc_and_writing_fixes_it(tmp_path, capsys):
    begin, end = markers('lago_ros.nodes.deploy')
    doc = tmp_path / 'doc.md'
    doc.write_text(f'intro\n{begin}| old table |\n{end}outro\n')
    assert main(['lago_ros.nodes.deploy', str(doc), '--check']) == 1
    assert 'out of date' in capsys.readouterr().err
    assert main(['lago_ros.nodes.deploy', str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith('intro\n') and text.endswith('outro\n') and '`policy_path`' in text
    assert main(['lago_ros.nodes.deploy', str(doc), '--check']) == 0
