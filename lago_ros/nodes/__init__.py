# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ROS 2 nodes: thin wrappers that wire parameters, topics and services to the core."""
