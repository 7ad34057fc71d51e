"""Small in-memory datasets: scikit-learn digits (8 x 8) and a learnable synthetic dataset.

Both are deterministic and independent of `cfg.seed`, so validation sets match across runs.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from samtrain.data.bundle import DataBundle
from samtrain.data.views import TensorImageDataset

DIGITS_VAL_SIZE = 360
SPLIT_SEED = 0


@functools.lru_cache(maxsize=1)  # read-only; shared by trials of a reused process
def load_digits_bundle() -> DataBundle:
    """scikit-learn digits: 1797 grey 8 x 8 images, stratified split 1437 train / 360 val.

    Pixels are scaled to [0, 1] (/16) and normalized with the train split's mean and std.

    Example:
        >>> b = load_digits_bundle()
        >>> len(b.train), len(b.val), tuple(b.train[0][0].shape)
        (1437, 360, (1, 8, 8))
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(digits.target, dtype=torch.int64)
    train_idx, val_idx = train_test_split(
        torch.arange(len(y)).numpy(), test_size=DIGITS_VAL_SIZE, stratify=y.numpy(),
        random_state=SPLIT_SEED,
    )
    train_idx, val_idx = torch.from_numpy(train_idx), torch.from_numpy(val_idx)
    mean, std = x[train_idx].mean(), x[train_idx].std()
    x = (x - mean) / std
    return DataBundle(
        TensorImageDataset(x[train_idx], y[train_idx]),
        TensorImageDataset(x[val_idx], y[val_idx]),
        num_classes=10, in_channels=1, image_size=8,
    )


def load_synthetic(
    shape: tuple[int, int, int], num_classes: int, size: int, seed: int = SPLIT_SEED
) -> DataBundle:
    """Gaussian images around one random per-class mean pattern: `size` train, `size // 4` val.

    Each class has a smooth (low-resolution, upsampled) mean pattern; images are that pattern
    plus unit Gaussian noise, so a small model learns the task within a few epochs.

    Example:
        >>> b = load_synthetic((3, 16, 16), num_classes=4, size=64)
        >>> len(b.train), len(b.val), b.num_classes, tuple(b.val[0][0].shape)
        (64, 16, 4, (3, 16, 16))
    """
    c, h, w = shape
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.randn(num_classes, c, 4, 4, generator=gen)
    means = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)

    def make(n: int) -> TensorImageDataset:
        y = torch.arange(n) % num_classes
        y = y[torch.randperm(n, generator=gen)]
        x = means[y] + torch.randn(n, c, h, w, generator=gen)
        return TensorImageDataset(x, y)

    train = make(size)
    val = make(max(size // 4, 1))
    return DataBundle(train, val, num_classes=num_classes, in_channels=c, image_size=h)
