"""`build_datasets(cfg)`: load `cfg.dataset`, split train / validation / test, add label noise.

`cfg.dataset` is a built-in name or an import string naming a researcher's builder
(`samtrain.config.registry`); what either returns becomes a `DataSource`
(`samtrain.data.builder_output`), and everything below applies to both alike. What is known of a
built-in before loading it (shapes, the loader's options, pool size, where its files are) is its
`DatasetRecord`, beside its loader (`samtrain.data.record`).

Splits (every run of a study sees the same ones: they depend on `data_seed`, never on `seed`):

- validation: `val_size` examples of the training pool (a count, or a fraction of the pool),
  drawn with `data_seed`; scored every epoch and the only split that search, pruning and
  selection look at;
- train: the rest of the pool, or `train_subset` examples of it (also drawn with `data_seed`);
- test: the dataset's official test split, untouched, scored at the end of a run.

`label_noise = f` flips `round(f * N)` labels of the training split and, independently, of the
validation split (a practitioner's held-out labels are as noisy as the training labels), each
to another class. The originals stay in `clean_targets`. The test split stays clean.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from samtrain.config.registry import call, is_builtin, resolve
from samtrain.data.builder_output import as_source
from samtrain.data.bundle import DataBundle, DataSource
from samtrain.data.label_noise import apply_label_noise
from samtrain.data.record import builtin_record
from samtrain.data.views import relabel, select, targets_of
from samtrain.errors import ConfigError

if TYPE_CHECKING:
    from samtrain.config.train_config import TrainConfig

__all__ = ["build_datasets", "builtin_kwargs", "builtin_shapes", "check_dataset", "check_split",
           "load_source", "pool_size", "split_sizes"]


def load_source(cfg: TrainConfig) -> DataSource:
    """`cfg.dataset`'s builder called and what it returned checked (`as_source`).

    A built-in gets its arguments from the config (`data_dir`, `synthetic_*`), a researcher's
    builder none of its own; both get `cfg.dataset_kwargs`.

    Example:
        >>> from samtrain.config.train_config import TrainConfig
        >>> load_source(TrainConfig(dataset="synthetic", synthetic_size=40)).num_classes
        10
    """
    given = builtin_kwargs(cfg) if is_builtin("dataset", cfg.dataset) else {}
    out = call("dataset_kwargs", cfg.dataset, resolve("dataset", cfg.dataset), given,
               cfg.dataset_kwargs)
    return as_source(cfg.dataset, out)


def builtin_kwargs(cfg: TrainConfig) -> dict[str, Any]:
    """The arguments a built-in dataset's builder takes from the config (its record's `options`)."""
    return builtin_record(cfg.dataset).options(cfg)


def builtin_shapes(cfg: TrainConfig) -> tuple[int, int, int]:
    """`(num_classes, in_channels, image_size)` of a built-in dataset, without loading it
    (ImageNet: 1000 classes, whatever its folder holds).

    Example:
        >>> from samtrain.config.train_config import TrainConfig
        >>> builtin_shapes(TrainConfig(dataset="digits"))
        (10, 1, 8)
    """
    return builtin_record(cfg.dataset).shapes_of(cfg)


def split_sizes(cfg: TrainConfig, pool: int) -> tuple[int, int]:
    """`(validation, train)` sizes for a training pool of `pool` examples.

    Example:
        >>> from samtrain.config.train_config import TrainConfig
        >>> split_sizes(TrainConfig(val_size=0.1, train_subset=500), pool=1437)
        (144, 500)
    """
    n_val = cfg.val_size if isinstance(cfg.val_size, int) else round(cfg.val_size * pool)
    n_val = max(n_val, 1)
    rest = pool - n_val
    if rest < 1:
        raise ValueError(f"val_size={cfg.val_size} leaves no training examples in the "
                         f"{pool}-example training pool of {cfg.dataset}")
    if cfg.train_subset is not None and cfg.train_subset > rest:
        raise ValueError(f"train_subset={cfg.train_subset} exceeds the {rest} training examples "
                         f"of {cfg.dataset} left after val_size={cfg.val_size}")
    return n_val, cfg.train_subset or rest


def build_datasets(cfg: TrainConfig) -> DataBundle:
    """Train/validation/test datasets for `cfg` (see the module docstring).

    Raises `DatasetNotFound` when files are missing.

    Example:
        >>> from samtrain.config.train_config import TrainConfig
        >>> b = build_datasets(TrainConfig(dataset="digits", train_subset=100, label_noise=0.2))
        >>> len(b.train), len(b.val), len(b.test), int((b.train.targets != b.train.clean_targets).sum())
        (100, 144, 360, 20)
    """
    src = load_source(cfg)
    n_val, n_train = split_sizes(cfg, len(src.pool))
    order = torch.randperm(len(src.pool), generator=torch.Generator().manual_seed(cfg.data_seed))
    val = select(src.pool_eval, order[:n_val])
    train_idx = order[n_val:n_val + n_train]
    train = select(src.pool, train_idx)
    augmented = src.pool_eval is not src.pool
    train_eval = select(src.pool_eval, train_idx) if augmented else train
    if cfg.label_noise > 0:
        noisy = apply_label_noise(targets_of(train), cfg.label_noise, src.num_classes,
                                  seed=cfg.data_seed)
        train = relabel(train, noisy)
        train_eval = relabel(train_eval, noisy) if augmented else train
        val = relabel(val, apply_label_noise(targets_of(val), cfg.label_noise, src.num_classes,
                                             seed=cfg.data_seed + 1))
    return DataBundle(train=train, val=val, test=src.test, train_eval=train_eval,
                      num_classes=src.num_classes, in_channels=src.in_channels,
                      image_size=src.image_size)


def check_dataset(cfg: TrainConfig) -> None:
    """Raise a one-line error if `cfg`'s data cannot be found or cannot be split as asked, cheaply.

    Used by launchers before anything starts: it locates files (`DatasetNotFound`) and, where the
    training pool's size is known without loading it, checks `val_size`, `train_subset` and the
    batch against it (`ConfigError`); so are the folders and imports of `eval_sets`.

    Example:
        >>> from samtrain.config.train_config import TrainConfig
        >>> check_dataset(TrainConfig(dataset="digits"))
        >>> check_dataset(TrainConfig(dataset="digits", val_size=1400, batch_size=128))
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        samtrain.errors.ConfigError: batch_size=128: the training split of digits has 37 ...
    """
    _locate(cfg)
    pool = pool_size(cfg)
    if pool is not None:
        check_split(cfg, pool)
    if cfg.eval_sets:  # folders found, class maps and import strings checked
        from samtrain.data.eval_sets import check_eval_sets

        check_eval_sets(cfg, lambda: builtin_shapes(cfg)[0] if is_builtin("dataset", cfg.dataset)
                        else load_source(cfg).num_classes)


def check_split(cfg: TrainConfig, pool: int) -> None:
    """`ConfigError` unless a training pool of `pool` examples fits `val_size`, `train_subset`
    and one batch per worker."""
    try:
        n_val, n_train = split_sizes(cfg, pool)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if n_train // cfg.num_workers < cfg.per_worker_batch_size:
        raise ConfigError(
            f"batch_size={cfg.batch_size}: the training split of {cfg.dataset} has {n_train} "
            f"examples ({pool} in the pool less val_size={cfg.val_size}), fewer than one batch of "
            f"{cfg.per_worker_batch_size} per worker")


def pool_size(cfg: TrainConfig) -> int | None:
    """The training pool's size when known without loading the data (else None)."""
    return builtin_record(cfg.dataset).pool_size_of(cfg) if is_builtin("dataset", cfg.dataset) else None


def _locate(cfg: TrainConfig) -> None:
    if is_builtin("dataset", cfg.dataset):
        builtin_record(cfg.dataset).locate_files(cfg)
