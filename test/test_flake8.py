# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
ament_flake8's check, run with flake8 and its plugins from PyPI.

The configuration is ament_flake8's (setup.cfg [flake8]); the plugins are those ament_flake8
loads for quotes, import order, comprehensions and builtins. A missing plugin would silently
drop its rules, so the test first requires all of them to be loaded.
"""

import subprocess
import sys

from lint_targets import python_files, ROOT
import pytest

AMENT_PLUGINS = ('flake8-builtins', 'flake8-comprehensions', 'flake8_import_order',
                 'flake8-quotes')


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    version = subprocess.run([sys.executable, '-m', 'flake8', '--version'], cwd=ROOT,
                             capture_output=True, text=True).stdout
    missing = [name for name in AMENT_PLUGINS if name not in version]
    assert not missing, f'flake8 runs without {missing} (pip install -r requirements.txt)'
    result = subprocess.run([sys.executable, '-m', 'flake8', *map(str, python_files())],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f'flake8 found problems:\n{result.stdout}{result.stderr}'
