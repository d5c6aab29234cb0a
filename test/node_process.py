# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Helpers of the process-level tests: a node in its own process, and waits with deadlines."""

import os
from pathlib import Path
import re
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, Optional, Sequence, Set, Tuple

ROOT = Path(__file__).resolve().parents[1]


def wait_until(condition: Callable[[], Any], timeout: float, what: str,
               poll: float = 0.05) -> Any:
    """Return the first truthy value of `condition()`; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f'{what}: not within {timeout} s')
        time.sleep(poll)


class NodeProcess:
    """A process whose output a thread keeps, so a test can wait for a line with a deadline."""

    def __init__(self, module: str, *ros_args: str, env: Optional[Dict[str, str]] = None,
                 argv: Optional[Sequence[str]] = None) -> None:
        """Start `python -m lago_ros.nodes.<module> --ros-args ...` (or `python <argv>`)."""
        self.lines: list = []
        command = [sys.executable, *argv] if argv is not None else \
            [sys.executable, '-m', f'lago_ros.nodes.{module}', '--ros-args', *ros_args]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=os.environ.copy() if env is None else env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def log(self) -> str:
        """Everything the process printed so far (stdout and stderr)."""
        return ''.join(self.lines)

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        """Return the first match of `pattern` in the output, failing after `timeout` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.log)
            if match:
                return match
            if self.process.poll() is not None:
                self._reader.join(timeout=10)
                match = re.search(pattern, self.log)
                assert match, f'exited {self.process.returncode} before {pattern!r}:\n' \
                    f'{self.log[-3000:]}'
                return match
            time.sleep(0.1)
        raise AssertionError(f'no {pattern!r} within {timeout} s:\n{self.log[-3000:]}')

    def wait(self, timeout: float) -> int:
        """Wait for the exit code (at most `timeout` s) and for the last output."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f'still running after {timeout} s:\n{self.log[-3000:]}') \
                from None
        self._reader.join(timeout=10)
        return code

    def stop(self) -> None:
        """Ctrl-C the process if it still runs; kill it if it does not stop within 30 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=10)


# Fast DDS (the RMW here) binds well-known UDP ports per domain d: 7400 + 250 d (+1) for
# multicast discovery (and user data), 7410 + 250 d + 2 i (+1) for participant i's unicast.
# Ports below 32768 are never ephemeral on Linux, so those are the well-known ones.
DDS_PORT_BASE, DDS_DOMAIN_GAIN, EPHEMERAL_START = 7400, 250, 32768


def dds_discovery(pid: int, timeout: float = 120.0) -> Tuple[Set[int], bool]:
    """
    Return what the DDS participants of process `pid` use: (domain ids, multicast discovery).

    Read from the UDP ports the process has bound, once its first participant is up. A
    participant limited to LOCALHOST discovers peers by unicast on loopback only and binds no
    multicast discovery port; with SUBNET (ROS's default) it binds 7400 + 250 d.
    """
    import psutil

    def well_known() -> Set[int]:
        return {c.laddr.port for c in psutil.Process(pid).net_connections(kind='udp')
                if DDS_PORT_BASE <= c.laddr.port < EPHEMERAL_START}

    ports = wait_until(lambda: {p for p in well_known()
                                if (p - DDS_PORT_BASE) % DDS_DOMAIN_GAIN >= 10},
                       timeout, f'a DDS participant in process {pid}')
    ports |= well_known()
    domains = {(p - DDS_PORT_BASE) // DDS_DOMAIN_GAIN for p in ports}
    multicast = any((p - DDS_PORT_BASE) % DDS_DOMAIN_GAIN in (0, 1) for p in ports)
    return domains, multicast


def without_discovery_settings(env: Dict[str, str]) -> Dict[str, str]:
    """`env` less every variable that sets the ROS discovery range."""
    return {k: v for k, v in env.items()
            if k not in ('ROS_AUTOMATIC_DISCOVERY_RANGE', 'ROS_LOCALHOST_ONLY',
                         'ROS_STATIC_PEERS')}
