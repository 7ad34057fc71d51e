"""Symmetric label noise: flip an exact fraction of labels, each to a different class."""

from __future__ import annotations

import torch


def apply_label_noise(
    targets: torch.Tensor, fraction: float, num_classes: int, seed: int
) -> torch.Tensor:
    """Return a copy of `targets` with exactly `round(fraction * N)` labels changed.

    The flipped positions are a uniform random subset; each flipped label moves uniformly to one
    of the `num_classes - 1` other classes. The result depends only on the arguments.

    Example:
        >>> y = torch.arange(10) % 5
        >>> noisy = apply_label_noise(y, 0.4, num_classes=5, seed=0)
        >>> int((noisy != y).sum())
        4
    """
    if targets.dim() != 1 or targets.dtype.is_floating_point or targets.dtype == torch.bool:
        raise ValueError(
            f"targets must be a 1-d integer tensor, got {targets.dtype} {tuple(targets.shape)}"
        )
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= num_classes):
        raise ValueError(f"targets must lie in [0, {num_classes}), got {targets.unique().tolist()}")
    n_flip = round(fraction * targets.numel())
    out = targets.clone().to(torch.int64)
    if n_flip == 0:
        return out
    if num_classes < 2:
        raise ValueError(f"label noise needs num_classes >= 2, got {num_classes}")
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(targets.numel(), generator=gen)[:n_flip]
    shift = torch.randint(1, num_classes, (n_flip,), generator=gen)
    out[idx] = (out[idx] + shift) % num_classes
    return out
