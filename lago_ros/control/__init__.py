# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ROS-free core of the deploy node: the guards between a policy and an arm, and its loop."""
