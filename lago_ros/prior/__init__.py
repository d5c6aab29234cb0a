# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Stage 1 of LaGO: a pretrained language model fine-tuned into an action prior."""
