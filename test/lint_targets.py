# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The Python files the ROS 2 lint tests check: the same set as ament's linters would see."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {'.venv', 'build', 'install', 'log', '.git', 'runs', 'artifacts', 'demos'}


def python_files() -> list[Path]:
    """Every tracked-looking .py file of the repository, excluding environments and outputs."""
    return sorted(p for p in ROOT.rglob('*.py')
                  if not SKIP_DIRS.intersection(p.relative_to(ROOT).parts))
