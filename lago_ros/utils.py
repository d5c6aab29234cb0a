# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Small shared helpers: atomic file writes, seeding, checksums, a bounded cache, logging."""

from collections import OrderedDict
import contextlib
import hashlib
import logging
import os
from pathlib import Path
import random
import stat
import tempfile
from typing import Callable, Generic, Hashable, Iterator, Optional, TypeVar, Union

import numpy as np

PathLike = Union[str, os.PathLike]
Key = TypeVar('Key', bound=Hashable)
Value = TypeVar('Value')

PROJECT_LOGGERS = ('lago', 'lago_ros')
"""Loggers of this project (the CLI's 'lago.*' and every module's __name__)."""
LOG_FORMAT = '%(asctime)s %(name)s %(levelname)s: %(message)s'


def current_umask() -> int:
    """Return the process umask; read from /proc where it can be, since os.umask() sets it."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path('/proc/self/status').read_text().splitlines():
            if line.startswith('Umask:'):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode(directory: bool = False) -> int:
    """Permission bits `open()` (0o666) or `mkdir()` (0o777) would give a new entry now."""
    return (0o777 if directory else 0o666) & ~current_umask()


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = 'wb') -> Iterator:
    """
    Open a temp file beside `path`; on success fsync it and rename it over `path`.

    A crash mid-write leaves the previous file intact, never a truncated one. The file gets the
    permissions a plain `open()` would give it: the replaced file's, or 0o666 less the umask
    (not the 0o600 of the temp file, which would hide models from other users of a robot).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        permissions = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        permissions = new_file_mode()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.', suffix='.tmp')
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fchmod(handle.fileno(), permissions)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def configure_logging(verbose: bool = False, fmt: str = LOG_FORMAT) -> None:
    """
    Print the project's log records (INFO, or DEBUG when `verbose`) to stderr, nothing else.

    Other libraries' loggers keep Python's default (WARNING and up), so notes such as PyOpenGL's
    `OpenGL.acceleratesupport` INFO line stay quiet. Calling it again replaces the handler.
    """
    for name in PROJECT_LOGGERS:
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if getattr(h, 'lago_handler', False)]:
            logger.removeHandler(handler)
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(fmt))
        handler.lago_handler = True
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG if verbose else logging.INFO)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (if imported) for a reproducible run."""
    random.seed(seed)
    np.random.seed(seed)
    import torch

    torch.manual_seed(seed)


def sha256_file(path: PathLike) -> str:
    """Return the hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


class LRUCache(Generic[Key, Value]):
    """
    A mapping that forgets its least recently used entries once they add up to over `capacity`.

    `size` weighs an entry (default 1, so `capacity` counts entries; pass e.g. a byte count to
    bound memory). The newest entry is always kept, even if it alone exceeds `capacity`.
    """

    def __init__(self, capacity: int, size: Callable[[Value], int] = lambda value: 1) -> None:
        """Hold entries weighing at most `capacity` in total."""
        if capacity < 1:
            raise ValueError(f'LRUCache capacity is {capacity}; expected at least 1')
        self.capacity, self._size = capacity, size
        self._entries: OrderedDict = OrderedDict()
        self.total = 0
        """Summed size of the entries held."""

    def __len__(self) -> int:
        """Return the number of entries held."""
        return len(self._entries)

    def get(self, key: Key) -> Optional[Value]:
        """Return the entry for `key` (now the most recently used), or None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: Key, value: Value) -> None:
        """Store `value` under `key`, then forget the oldest entries while over capacity."""
        self.pop(key)
        weight = self._size(value)
        self._entries[key] = (value, weight)
        self.total += weight
        while self.total > self.capacity and len(self._entries) > 1:
            _, (_, old) = self._entries.popitem(last=False)
            self.total -= old

    def pop(self, key: Key) -> Optional[Value]:
        """Forget `key`; return its entry, or None if it was not held."""
        entry = self._entries.pop(key, None)
        if entry is None:
            return None
        self.total -= entry[1]
        return entry[0]

    def clear(self) -> None:
        """Forget every entry."""
        self._entries.clear()
        self.total = 0
