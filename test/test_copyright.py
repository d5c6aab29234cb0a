# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ament_copyright's check: every source file carries the copyright and licence header."""

from lint_targets import python_files, ROOT
import pytest

HEADER = ('# Copyright 2026 The lago_ros Authors', '# SPDX-License-Identifier: Apache-2.0')


@pytest.mark.copyright
@pytest.mark.linter
def test_copyright():
    missing = [str(p.relative_to(ROOT)) for p in python_files()
               if tuple(p.read_text().splitlines()[:2]) != HEADER]
    assert not missing, f'files without the licence header {HEADER}: {missing}'
    assert (ROOT / 'LICENSE').is_file()
