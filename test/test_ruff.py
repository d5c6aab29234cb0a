# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ruff, with the repository's ruff.toml, on every Python file."""

import subprocess
import sys

from lint_targets import python_files, ROOT
import pytest


@pytest.mark.linter
def test_ruff():
    result = subprocess.run([sys.executable, '-m', 'ruff', 'check', *map(str, python_files())],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f'ruff found problems:\n{result.stdout}{result.stderr}'
