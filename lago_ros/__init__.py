# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""lago_ros: LaGO (latent action guidance) for ROS 2 - a ROS-free core and thin nodes."""

__version__ = '0.1.0'
