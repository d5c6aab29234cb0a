# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ament_pep257's check, run with pydocstyle and ament's default ignore list."""

import subprocess
import sys

from lint_targets import python_files, ROOT
import pytest

# ament_pep257's defaults: missing docstrings are allowed, their style is not.
AMENT_IGNORE = 'D100,D101,D102,D103,D104,D105,D106,D107,D203,D212,D404'


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    # Every file, as ament_pep257 checks them: pydocstyle's default --match skips test_*.py.
    result = subprocess.run([sys.executable, '-m', 'pydocstyle', f'--ignore={AMENT_IGNORE}',
                             r'--match=.*\.py', *map(str, python_files())],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f'pep257 found problems:\n{result.stdout}{result.stderr}'
