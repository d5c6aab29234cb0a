# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Stage 2 of LaGO: PPO with a KL pull toward the frozen action prior."""
