# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""
lago_ros: LaGO (latent action guidance) for ROS 2 - a ROS-free core and thin nodes.

Importing the package registers the gymnasium ids of its tasks (`LaGO/reach-v3`, ...,
`LaGO/ClevrRobot-v0`) with lazy entry points: no simulator is imported until an env is made.
"""

from lago_ros.envs.gym_ids import register_gym_ids

__version__ = '0.1.0'

register_gym_ids()
