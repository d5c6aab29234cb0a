# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Simulated robots that speak only standard ROS topics (stand-ins for a real arm)."""
