"""Small in-memory datasets: scikit-learn digits (8 x 8) and a learnable synthetic dataset.

Both are deterministic and independent of `cfg.seed`, so the splits match across runs.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from samtrain.data.bundle import DataSource
from samtrain.data.record import DatasetRecord, no_options
from samtrain.data.views import TensorImageDataset

if TYPE_CHECKING:
    from samtrain.config.train_config import TrainConfig

DIGITS_TEST_SIZE = 360
DIGITS_POOL_SIZE = 1797 - DIGITS_TEST_SIZE  # sklearn's 1,797 digits less the test split
SPLIT_SEED = 0


@functools.lru_cache(maxsize=1)  # read-only; shared by trials of a reused process
def load_digits() -> DataSource:
    """scikit-learn digits: 1797 grey 8 x 8 images, a stratified split into a 1437-image training
    pool and a 360-image test split (digits has no official test split).

    Pixels are scaled to [0, 1] (/16) and normalized with the pool's mean and std.

    Example:
        >>> s = load_digits()
        >>> len(s.pool), len(s.test), tuple(s.pool[0][0].shape)
        (1437, 360, (1, 8, 8))
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(digits.target, dtype=torch.int64)
    train_idx, test_idx = train_test_split(
        torch.arange(len(y)).numpy(), test_size=DIGITS_TEST_SIZE, stratify=y.numpy(),
        random_state=SPLIT_SEED,
    )
    train_idx, test_idx = torch.from_numpy(train_idx), torch.from_numpy(test_idx)
    mean, std = x[train_idx].mean(), x[train_idx].std()
    x = (x - mean) / std
    pool = TensorImageDataset(x[train_idx], y[train_idx])
    return DataSource(pool=pool, pool_eval=pool, test=TensorImageDataset(x[test_idx], y[test_idx]),
                      num_classes=10, in_channels=1, image_size=8)


def load_synthetic(
    shape: tuple[int, int, int], num_classes: int, size: int, seed: int = SPLIT_SEED
) -> DataSource:
    """Gaussian images around one random per-class mean pattern: a pool of `size`, `size // 4` test.

    Each class has a smooth (low-resolution, upsampled) mean pattern; images are that pattern
    plus unit Gaussian noise, so a small model learns the task within a few epochs.

    Example:
        >>> s = load_synthetic((3, 16, 16), num_classes=4, size=64)
        >>> len(s.pool), len(s.test), s.num_classes, tuple(s.test[0][0].shape)
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

    pool = make(size)
    test = make(max(size // 4, 1))
    return DataSource(pool=pool, pool_eval=pool, test=test, num_classes=num_classes,
                      in_channels=c, image_size=h)


def _synthetic_options(cfg: TrainConfig) -> dict[str, Any]:
    return {"shape": tuple(cfg.synthetic_shape), "num_classes": cfg.synthetic_classes,
            "size": cfg.synthetic_size}


# the built-in names this module loads -> their loader (read by samtrain.config.registry)
DATASETS = {"digits": "load_digits", "synthetic": "load_synthetic"}
RECORDS = {
    "digits": DatasetRecord(shapes=(10, 1, 8), options=no_options, pool_size=DIGITS_POOL_SIZE),
    "synthetic": DatasetRecord(
        shapes=lambda cfg: (cfg.synthetic_classes, cfg.synthetic_shape[0], cfg.synthetic_shape[1]),
        options=_synthetic_options, pool_size=lambda cfg: cfg.synthetic_size),
}
