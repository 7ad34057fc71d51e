"""Data loaders of one worker: shuffled training shards with example indices, evaluation shares.

Training batches are `(x, y, index)`: `index` is each example's position in the training split,
which the forgetting diagnostics need. In-memory `TensorDataset`s are indexed a whole batch at a
time (no per-sample collation); image-decoding datasets (CIFAR, ImageNet) get loader processes.

Example:
    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> ds = WithIndex(TensorDataset(torch.zeros(4, 2), torch.arange(4)))
    >>> x, y, i = ds[[2, 3]]
    >>> i.tolist(), y.tolist()
    ([2, 3], [2, 3])
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, Subset, TensorDataset
from torch.utils.data.distributed import DistributedSampler


class WithIndex(Dataset):
    """Items `(x, y, index)` of `ds` (a list of indices gives a batch of a `TensorDataset`)."""

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)  # type: ignore[arg-type]

    def __getitem__(self, i: Any) -> tuple[Any, Any, torch.Tensor]:
        x, y = self.ds[i]
        return x, y, torch.as_tensor(i)


def make_train_loader(ds: Dataset, batch: int, seed: int, world_size: int, rank: int) -> DataLoader:
    """This worker's shuffled shard in batches of `batch` (the same order for a seed and epoch).

    Call `loader.sampler.set_epoch(epoch)` (see `set_epoch`) before each epoch.
    """
    sampler = DistributedSampler(ds, num_replicas=world_size, rank=rank, shuffle=True, seed=seed,
                                 drop_last=True)
    if len(sampler) < batch:
        raise ValueError(f"the per-worker batch {batch} is larger than the training set "
                         f"({len(ds)} examples over {world_size} workers)")  # type: ignore[arg-type]
    if isinstance(ds, TensorDataset):
        return DataLoader(WithIndex(ds), sampler=BatchSampler(sampler, batch, drop_last=True),
                          batch_size=None)
    workers = _loader_workers(ds)
    return DataLoader(WithIndex(ds), batch_size=batch, sampler=sampler, drop_last=True,
                      num_workers=workers, persistent_workers=workers > 0)


def set_epoch(loader: DataLoader, epoch: int) -> None:
    """Reshuffle the training loader's sampler for `epoch`."""
    sampler = loader.sampler
    (sampler.sampler if isinstance(sampler, BatchSampler) else sampler).set_epoch(epoch)


def make_eval_loader(ds: Dataset, batch: int, world_size: int, rank: int) -> DataLoader:
    """This worker's disjoint share of an evaluation set (every example scored exactly once)."""
    if world_size > 1:
        ds = Subset(ds, range(rank, len(ds), world_size))  # type: ignore[arg-type]
    if isinstance(ds, TensorDataset):
        return DataLoader(ds, sampler=BatchSampler(range(len(ds)), batch, drop_last=False),
                          batch_size=None)
    return DataLoader(ds, batch_size=batch, shuffle=False, num_workers=_loader_workers(ds))


def first_examples(ds: Dataset, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `n` examples of `ds` as one `(x, y)` batch (a fixed set for diagnostics)."""
    n = min(n, len(ds))  # type: ignore[arg-type]
    if isinstance(ds, TensorDataset):
        x, y = ds[list(range(n))]
        return x, y
    items = [ds[i] for i in range(n)]
    return torch.stack([x for x, _ in items]), torch.as_tensor([int(y) for _, y in items])


def _loader_workers(ds: Dataset) -> int:
    """Image-decoding datasets (CIFAR, ImageNet) get background loader processes."""
    return 0 if isinstance(ds, TensorDataset | Subset) else 2
