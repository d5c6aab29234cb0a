# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Simulated tasks: Meta-World v3 single tasks and CLEVR-Robot, behind one registry."""
