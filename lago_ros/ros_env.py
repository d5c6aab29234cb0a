# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
Process environment for ROS 2 from pip wheels: ament index path and local-only discovery.

Called wherever the package starts (nodes, the `lago` CLI, tests) before rclpy initialises. A user
with a sourced ROS install keeps their settings: we only add what is missing.
"""

import os
from pathlib import Path
import random
import sys
from typing import Optional

LOCALHOST = 'LOCALHOST'


def venv_prefix() -> Path:
    """Return the prefix whose share/ holds pip-installed ROS packages (the venv)."""
    return Path(sys.prefix)


def configure_ros_environment(domain_id: Optional[int] = None,
                              localhost_only: Optional[bool] = None) -> dict:
    """
    Make ament_index find pip-installed packages and keep DDS traffic on this machine.

    `localhost_only=None` keeps a discovery range the user already set and defaults to LOCALHOST;
    a real robot network sets ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET itself (see README).
    Returns the variables it set, for logging.
    """
    changed = {}
    prefix = str(venv_prefix())
    paths = [p for p in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if p]
    if prefix not in paths and (Path(prefix) / 'share' / 'ament_index').is_dir():
        changed['AMENT_PREFIX_PATH'] = os.pathsep.join([prefix] + paths)
    if localhost_only or (localhost_only is None
                          and 'ROS_AUTOMATIC_DISCOVERY_RANGE' not in os.environ
                          and 'ROS_LOCALHOST_ONLY' not in os.environ):
        changed['ROS_AUTOMATIC_DISCOVERY_RANGE'] = LOCALHOST
    if domain_id is not None:
        if not 0 <= domain_id <= 101:
            raise ValueError(f'ROS_DOMAIN_ID must be in 0..101 on Linux, got {domain_id}')
        changed['ROS_DOMAIN_ID'] = str(domain_id)
    os.environ.update(changed)
    return changed


def random_domain_id(rng: Optional[random.Random] = None) -> int:
    """Pick a domain id for one test or benchmark run so parallel runs do not see each other."""
    return (rng or random.SystemRandom()).randint(1, 101)
