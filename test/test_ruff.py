# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ruff, with the repository's ruff.toml, on every Python file."""

import shutil
import subprocess

from lint_targets import python_files, ROOT
import pytest


@pytest.mark.linter
def test_ruff():
    ruff = shutil.which('ruff') or pytest.fail('ruff is not installed (pip install -r requirements.txt)')
    result = subprocess.run([ruff, 'check', *map(str, python_files())],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f'ruff found problems:\n{result.stdout}{result.stderr}'
