# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ament_flake8's check, run with flake8 from PyPI (ament_lint has no wheels)."""

import subprocess
import sys

from lint_targets import python_files, ROOT
import pytest


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    result = subprocess.run([sys.executable, '-m', 'flake8', '--max-line-length', '99',
                             *map(str, python_files())],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f'flake8 found problems:\n{result.stdout}{result.stderr}'
