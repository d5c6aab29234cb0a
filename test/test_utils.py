# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Shared helpers: atomic writes keep the permissions a plain open() gives, LRUCache bounds.

A process killed with SIGKILL halfway through an atomic write leaves the previous file intact.
"""

import contextlib
import os
import signal
import stat

from node_process import NodeProcess
import pytest

from lago_ros.utils import atomic_write, current_umask, LRUCache


@contextlib.contextmanager
def umask(mask: int):
    """Run the block under `mask`, then restore the previous umask."""
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize('mask,expected', [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_new_file_gets_the_umask_not_0600(tmp_path, mask, expected):
    with umask(mask):
        assert current_umask() == mask
        with atomic_write(tmp_path / 'model.onnx') as handle:
            handle.write(b'graph')
        with open(tmp_path / 'plain', 'wb'):
            pass
    assert mode_of(tmp_path / 'model.onnx') == expected == mode_of(tmp_path / 'plain')
    assert (tmp_path / 'model.onnx').read_bytes() == b'graph'


def test_replaced_file_keeps_its_permissions(tmp_path):
    path = tmp_path / 'checkpoint.pt'
    path.write_bytes(b'old')
    path.chmod(0o640)
    with umask(0o022):
        with atomic_write(path, 'wb') as handle:
            handle.write(b'new')
    assert mode_of(path) == 0o640 and path.read_bytes() == b'new'


def test_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    path = tmp_path / 'summary.json'
    path.write_text('old')
    with pytest.raises(RuntimeError):
        with atomic_write(path, 'w') as handle:
            handle.write('half')
            raise RuntimeError('crash mid-write')
    assert path.read_text() == 'old'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['summary.json']


# Writes half of the new content through atomic_write, flushed to disk, says so and waits.
HALF_WRITTEN = """
import os, sys, time
from lago_ros.utils import atomic_write
with atomic_write(sys.argv[1]) as handle:
    handle.write(b'new' * 100000)
    handle.flush()
    os.fsync(handle.fileno())
    print('half written', flush=True)
    time.sleep(600)
    handle.write(b'rest')
"""


def test_process_killed_mid_write_leaves_the_old_file(tmp_path):
    path = tmp_path / 'checkpoint.pt'
    path.write_bytes(b'old checkpoint')
    writer = NodeProcess('', argv=['-c', HALF_WRITTEN, str(path)])
    try:
        writer.wait_for('half written', 300)
        partial = [p for p in tmp_path.iterdir() if p != path]
        assert len(partial) == 1 and partial[0].stat().st_size == 300000  # really mid-write
        writer.process.send_signal(signal.SIGKILL)
        assert writer.wait(120) == -signal.SIGKILL
    finally:
        writer.stop()
    assert path.read_bytes() == b'old checkpoint'
    # What is left of the killed write is a hidden temp file beside it, never the target.
    assert all(p.name.startswith('.checkpoint.pt.') and p.name.endswith('.tmp')
               for p in tmp_path.iterdir() if p != path)


def test_lru_cache_forgets_the_least_recently_used_beyond_capacity():
    cache = LRUCache(10, size=len)
    cache.put('a', 'xxxx')
    cache.put('b', 'xxxx')
    assert cache.get('a') == 'xxxx'  # 'a' is now the most recent
    cache.put('c', 'xxxx')  # 12 > 10: 'b' goes
    assert cache.get('b') is None and cache.get('a') == 'xxxx' and cache.get('c') == 'xxxx'
    assert len(cache) == 2 and cache.total == 8
    cache.put('a', 'x')  # replacing re-weighs
    assert cache.total == 5
    cache.put('huge', 'x' * 50)  # the newest entry stays even alone over capacity
    assert len(cache) == 1 and cache.get('huge') is not None and cache.total == 50
    assert cache.pop('huge') is not None and cache.total == 0 and len(cache) == 0
    with pytest.raises(ValueError, match='capacity'):
        LRUCache(0)
