# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Benchmarks and experiments; each prints its numbers (run with `python -m bench.<name>`)."""
