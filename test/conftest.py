# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Test session set-up: local-only DDS on a per-run domain, headless rendering, quiet threads."""

import os

from lago_ros.ros_env import configure_ros_environment, random_domain_id

os.environ.setdefault('MUJOCO_GL', 'egl')
configure_ros_environment(domain_id=int(os.environ.get('ROS_DOMAIN_ID') or random_domain_id()),
                          localhost_only=True)
