"""`build_datasets(cfg)`: load `cfg.dataset`, then apply `train_subset` and `label_noise`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from samtrain.data.bundle import DataBundle
from samtrain.data.label_noise import apply_label_noise
from samtrain.data.views import relabel, select, targets_of

if TYPE_CHECKING:
    from samtrain.config import TrainConfig

SUBSET_SEED = 0


def _load(cfg: TrainConfig) -> DataBundle:
    if cfg.dataset == "digits":
        from samtrain.data.toy import load_digits_bundle

        return load_digits_bundle()
    if cfg.dataset == "synthetic":
        from samtrain.data.toy import load_synthetic

        return load_synthetic(cfg.synthetic_shape, cfg.synthetic_classes, cfg.synthetic_size)
    if cfg.dataset == "fashion_mnist":
        from samtrain.data.fashion_mnist import load_fashion_mnist

        return load_fashion_mnist(cfg.data_dir)
    if cfg.dataset in ("cifar10", "cifar100"):
        from samtrain.data.cifar import load_cifar

        return load_cifar(cfg.dataset, cfg.data_dir)
    if cfg.dataset == "imagenet":
        from samtrain.data.imagenet import load_imagenet

        return load_imagenet(cfg.data_dir)
    raise ValueError(f"unknown dataset {cfg.dataset!r}")


def build_datasets(cfg: TrainConfig) -> DataBundle:
    """Train/val datasets for `cfg.dataset`; raise `DatasetNotFound` when files are missing.

    `cfg.train_subset = N` keeps the first N training examples after a shuffle with a fixed seed
    (the same examples for every `cfg.seed`). `cfg.label_noise = f` then flips `round(f * N)`
    training labels to other classes with `cfg.seed`; the originals stay in `train.clean_targets`.
    The validation set is never noised; `cfg.val_subset = N` keeps N of its examples, drawn with
    a fixed seed (the same for every run), to make per-epoch evaluation cheaper.

    Example:
        >>> from samtrain.config import TrainConfig
        >>> b = build_datasets(TrainConfig(dataset="digits", train_subset=100, label_noise=0.2))
        >>> len(b.train), int((b.train.targets != b.train.clean_targets).sum())
        (100, 20)
    """
    bundle = _load(cfg)
    train = bundle.train
    if cfg.train_subset is not None:
        n = len(train)
        if cfg.train_subset > n:
            raise ValueError(
                f"train_subset={cfg.train_subset} exceeds the {n} training examples "
                f"of {cfg.dataset}"
            )
        order = torch.randperm(n, generator=torch.Generator().manual_seed(SUBSET_SEED))
        train = select(train, order[: cfg.train_subset])
    if cfg.label_noise > 0:
        noisy = apply_label_noise(targets_of(train), cfg.label_noise, bundle.num_classes, cfg.seed)
        train = relabel(train, noisy)
    val = bundle.val
    if cfg.val_subset is not None and cfg.val_subset < len(val):
        order = torch.randperm(len(val), generator=torch.Generator().manual_seed(SUBSET_SEED))
        val = select(val, order[: cfg.val_subset])
    return replace(bundle, train=train, val=val)


def check_dataset(cfg: TrainConfig) -> None:
    """Raise `DatasetNotFound` (one line) if `cfg.dataset`'s files cannot be found, cheaply.

    Used by launchers before anything starts; it locates files but does not load them.

    Example:
        >>> from samtrain.config import TrainConfig
        >>> check_dataset(TrainConfig(dataset="digits"))
    """
    if cfg.dataset == "fashion_mnist":
        from samtrain.data.fashion_mnist import locate

        locate(cfg.data_dir)
    elif cfg.dataset in ("cifar10", "cifar100"):
        from samtrain.data.cifar import LocalCIFAR10, LocalCIFAR100, _root

        _root(cfg.dataset, cfg.data_dir, LocalCIFAR10 if cfg.dataset == "cifar10" else LocalCIFAR100)
    elif cfg.dataset == "imagenet":
        from samtrain.data.imagenet import load_imagenet

        if cfg.data_dir is None or not Path(cfg.data_dir, "train").is_dir():
            load_imagenet(cfg.data_dir)  # raises the explanatory DatasetNotFound
