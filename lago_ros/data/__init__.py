# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Demonstration datasets: collection from scripted experts/oracles, storage and loading."""
