# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Errors of the bridge's env backends, in a module of their own.

The bridge runs as `python -m lago_ros.nodes.sim_bridge`, i.e. as `__main__`; a class defined
there and imported by a backend from `lago_ros.nodes.sim_bridge` would be a second class that
the bridge's `except` clauses never match.
"""


class BackendUnavailableError(RuntimeError):
    """The backend cannot take this step or reset now (e.g. a robot e-stopped or stale)."""
