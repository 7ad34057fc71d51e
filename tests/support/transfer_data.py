"""Data for the transfer tests: a dataset builder with one class (no transfer target)."""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset


def one_class() -> tuple[TensorDataset, TensorDataset]:
    """A dataset builder whose every label is 0: one class, no transfer target."""
    g = torch.Generator().manual_seed(0)
    return (TensorDataset(torch.randn(64, 1, 8, 8, generator=g), torch.zeros(64, dtype=torch.int64)),
            TensorDataset(torch.randn(16, 1, 8, 8, generator=g), torch.zeros(16, dtype=torch.int64)))
