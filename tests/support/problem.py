"""A researcher's own dataset, model and loss, as samtrain meets them: builders named by import
strings (`"tests.support.problem:blobs"`, ...). `Blobs` is a plain `Dataset` (items read one by
one, no `targets` unless asked for); `CALLS` counts the builders' calls."""

from __future__ import annotations

from collections import Counter

import torch
from torch import nn
from torch.utils.data import Dataset

CALLS: Counter[str] = Counter()
SHAPE = (2, 3)  # an input: 2 channels of 3 values


class Blobs(Dataset):
    """`n` inputs around one mean per class (3 classes); items `(x, int y)`."""

    def __init__(self, n: int, seed: int, targets: bool) -> None:
        g = torch.Generator().manual_seed(seed)
        self._y = torch.arange(n) % 3
        means = torch.randn(3, *SHAPE, generator=torch.Generator().manual_seed(0)) * 2
        self._x = means[self._y] + torch.randn(n, *SHAPE, generator=g)
        if targets:
            self.targets = self._y.tolist()

    def __len__(self) -> int:
        return len(self._y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self._x[i], int(self._y[i])


def blobs(n_pool: int = 300, n_test: int = 90, targets: bool = False) -> tuple[Blobs, Blobs]:
    CALLS["blobs"] += 1
    return Blobs(n_pool, 1, targets), Blobs(n_test, 2, targets)


def mlp(num_classes: int, in_channels: int, image_size: int, hidden: int = 16) -> nn.Module:
    CALLS["mlp"] += 1
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size, hidden), nn.ReLU(),
                         nn.Linear(hidden, num_classes))


class Pooled(nn.Module):
    """Any input `N x C x ...`: the mean over everything after C, then a linear layer."""

    def __init__(self, num_classes: int, in_channels: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(2).mean(-1))


def pooled(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    CALLS["pooled"] += 1
    return Pooled(num_classes, in_channels)


class ScaledCrossEntropy(nn.Module):
    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.scale * nn.functional.cross_entropy(logits, targets)


def scaled_ce(scale: float = 1.0) -> nn.Module:
    CALLS["scaled_ce"] += 1
    return ScaledCrossEntropy(scale)


def per_example_loss() -> nn.Module:
    """A common mistake: a loss without reduction."""
    return nn.CrossEntropyLoss(reduction="none")


def not_datasets() -> tuple[list[int], list[int]]:
    return [1, 2], [3]


NOT_CALLABLE = 3


class Cast(Dataset):
    """`Blobs` items with x and y cast (float64 features, float labels)."""

    def __init__(self, ds: Dataset, x_dtype: torch.dtype, y_float: bool) -> None:
        self.ds, self.x_dtype, self.y_float = ds, x_dtype, y_float

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> tuple:
        x, y = self.ds[i]
        return x.to(self.x_dtype), torch.tensor(float(y)) if self.y_float else y


def tensor_blobs(x_dtype: str = "float32", y_dtype: str = "int64") -> tuple:
    """`blobs` as `TensorDataset`s of the given dtypes (what a user's numpy arrays become)."""
    out = []
    for ds in blobs():
        x = torch.stack([ds[i][0] for i in range(len(ds))]).to(getattr(torch, x_dtype))
        y = torch.tensor([ds[i][1] for i in range(len(ds))]).to(getattr(torch, y_dtype))
        out.append(torch.utils.data.TensorDataset(x, y))
    return tuple(out)


def cast_blobs(x_dtype: str = "float32", y_float: bool = False) -> tuple:
    pool, test = blobs()
    return Cast(pool, getattr(torch, x_dtype), y_float), Cast(test, getattr(torch, x_dtype), y_float)


class Ragged(Dataset):
    """Every third item's x one value longer."""

    def __len__(self) -> int:
        return 120

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.zeros(2, 3 + (i % 3 == 2)), i % 3


def ragged() -> tuple:
    return Ragged(), Blobs(90, 2, False)


def unlike_test(channels: int = 1) -> tuple:
    """A test set of another channel count than the pool's."""
    pool, _ = blobs()
    return pool, torch.utils.data.TensorDataset(torch.zeros(30, channels, 3),
                                                torch.arange(30) % 3)


def no_parameters(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """Logits of the right shape, and nothing to train."""
    return nn.Sequential(nn.Flatten(), nn.AdaptiveAvgPool1d(num_classes))


def nan_loss() -> object:
    return lambda logits, targets: (logits * float("nan")).mean()


def detached_loss() -> object:
    return lambda logits, targets: nn.functional.cross_entropy(logits, targets).detach()
