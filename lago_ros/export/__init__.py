# Copyright 2026 The lago_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Export of trained policies to ONNX for torch-free deployment."""
