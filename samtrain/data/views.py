"""In-memory image datasets and views that select examples or replace their labels.

`TensorImageDataset` holds a whole dataset as tensors (digits, Fashion-MNIST, synthetic, and a
`TensorDataset` that a researcher's dataset builder returns);
`RelabeledSubset` wraps any dataset with a `targets` attribute (CIFAR, ImageFolder).
`select` and `relabel` work on both and keep in-memory data in memory.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset, TensorDataset


class TensorImageDataset(TensorDataset):
    """Inputs `N x C x ...` (images `N x C x H x W`) and int64 targets `N`; items are `(x, y)`.

    `clean_targets` holds the labels before label noise (equal to `targets` without noise).

    Example:
        >>> ds = TensorImageDataset(torch.zeros(4, 1, 8, 8), torch.tensor([0, 1, 0, 1]))
        >>> x, y = ds[1]; tuple(x.shape), int(y)
        ((1, 8, 8), 1)
    """

    def __init__(
        self, images: torch.Tensor, targets: torch.Tensor, clean_targets: torch.Tensor | None = None
    ) -> None:
        if images.dim() < 2 or targets.shape != (images.shape[0],):
            raise ValueError(
                f"need inputs N x C x ... and targets N, got {tuple(images.shape)} "
                f"and {tuple(targets.shape)}"
            )
        super().__init__(images, targets.to(torch.int64))
        self.clean_targets = self.tensors[1] if clean_targets is None else clean_targets

    @property
    def images(self) -> torch.Tensor:
        return self.tensors[0]

    @property
    def targets(self) -> torch.Tensor:
        return self.tensors[1]


class RelabeledSubset(Dataset):
    """Examples `indices` of `base`, with labels `targets` (one per index) instead of base's.

    Example:
        >>> base = TensorImageDataset(torch.zeros(3, 1, 2, 2), torch.tensor([0, 1, 2]))
        >>> view = RelabeledSubset(base, torch.tensor([2, 0]), torch.tensor([1, 1]))
        >>> len(view), view[0][1]
        (2, 1)
    """

    def __init__(
        self,
        base: Dataset,
        indices: torch.Tensor,
        targets: torch.Tensor,
        clean_targets: torch.Tensor | None = None,
    ) -> None:
        if indices.shape != targets.shape or indices.dim() != 1:
            raise ValueError("indices and targets must be 1-d tensors of equal length")
        self.base = base
        self.indices = indices.to(torch.int64)
        self.targets = targets.to(torch.int64)
        self.clean_targets = self.targets if clean_targets is None else clean_targets

    def __len__(self) -> int:
        return self.indices.numel()

    def __getitem__(self, i: int) -> tuple[Any, int]:
        x, _ = self.base[int(self.indices[i])]
        return x, int(self.targets[i])


def targets_of(ds: Dataset) -> torch.Tensor:
    """The labels of `ds` as an int64 tensor, read from its `targets` attribute (no images loaded).

    Example:
        >>> targets_of(TensorImageDataset(torch.zeros(2, 1, 2, 2), torch.tensor([1, 0]))).tolist()
        [1, 0]
    """
    targets = getattr(ds, "targets", None)
    if targets is None:
        raise TypeError(f"{type(ds).__name__} has no `targets` attribute")
    return torch.as_tensor(targets, dtype=torch.int64)


def select(ds: Dataset, indices: torch.Tensor) -> Dataset:
    """The examples `indices` of `ds`, in that order.

    Example:
        >>> ds = TensorImageDataset(torch.zeros(3, 1, 2, 2), torch.tensor([0, 1, 2]))
        >>> select(ds, torch.tensor([2, 1])).targets.tolist()
        [2, 1]
    """
    if isinstance(ds, TensorImageDataset):
        clean = ds.clean_targets[indices]
        return TensorImageDataset(ds.images[indices], ds.targets[indices], clean)
    if isinstance(ds, RelabeledSubset):
        return RelabeledSubset(
            ds.base, ds.indices[indices], ds.targets[indices], ds.clean_targets[indices]
        )
    return RelabeledSubset(ds, indices, targets_of(ds)[indices])


def relabel(ds: Dataset, targets: torch.Tensor) -> Dataset:
    """`ds` with labels `targets`; the old labels stay available as `clean_targets`.

    Example:
        >>> ds = TensorImageDataset(torch.zeros(2, 1, 2, 2), torch.tensor([0, 1]))
        >>> noisy = relabel(ds, torch.tensor([1, 1]))
        >>> noisy.targets.tolist(), noisy.clean_targets.tolist()
        ([1, 1], [0, 1])
    """
    if isinstance(ds, TensorImageDataset):
        return TensorImageDataset(ds.images, targets, ds.clean_targets)
    if isinstance(ds, RelabeledSubset):
        return RelabeledSubset(ds.base, ds.indices, targets, ds.clean_targets)
    clean = targets_of(ds)
    return RelabeledSubset(ds, torch.arange(len(clean)), targets, clean)
