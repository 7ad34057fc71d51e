"""Data for the transfer tests: Fashion-MNIST's files written from the digits images (upscaled to
28 x 28: a learnable stand-in, small and offline), and a dataset builder with one class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from samtrain.data import fashion_mnist as fm
from samtrain.data.idx import write_idx


def fashion_from_digits(folder: Path) -> Path:
    """The four Fashion-MNIST IDX files in `folder`, holding digits: 1,400 train, 397 test."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    big = torch.nn.functional.interpolate(x, size=28, mode="bilinear", align_corners=False)
    pixels = (big.squeeze(1).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    labels = d.target.astype(np.uint8)
    folder.mkdir(parents=True)
    for key, array in (("train_images", pixels[:1400]), ("train_labels", labels[:1400]),
                       ("test_images", pixels[1400:]), ("test_labels", labels[1400:])):
        write_idx(folder / fm.FILES[key], array)
    return folder


def one_class() -> tuple[TensorDataset, TensorDataset]:
    """A dataset builder whose every label is 0: one class, no transfer target."""
    g = torch.Generator().manual_seed(0)
    return (TensorDataset(torch.randn(64, 1, 8, 8, generator=g), torch.zeros(64, dtype=torch.int64)),
            TensorDataset(torch.randn(16, 1, 8, 8, generator=g), torch.zeros(16, dtype=torch.int64)))
