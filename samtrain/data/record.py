"""`DatasetRecord`: what samtrain knows of a built-in dataset without loading it, kept beside its loader.

Each built-in dataset's module (`toy`, `fashion_mnist`, `cifar`, `imagenet`) holds `RECORDS`, one
`DatasetRecord` per dataset it loads: its shapes, the loader's arguments taken from the config
(`options`), the training pool's size when known without loading (`pool_size`), and a cheap check
that its files are there (`locate`), and `DATASETS`, each name's loader function, which the
registry reads from the source without importing it (`samtrain.config.registry.builtin_datasets`);
`builtin_record(name)` imports that loader's module and returns its record. So adding a dataset
is adding its module (loader, `DATASETS`, `RECORDS`) to `samtrain/data/`.

Example:
    >>> from samtrain.config.train_config import TrainConfig
    >>> r = builtin_record("digits")
    >>> r.shapes_of(TrainConfig()), r.options(TrainConfig()), r.pool_size_of(TrainConfig())
    ((10, 1, 8), {}, 1437)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from samtrain.config.registry import is_builtin, target

if TYPE_CHECKING:
    from samtrain.config.train_config import TrainConfig

__all__ = ["DatasetRecord", "builtin_record", "data_dir_option", "no_options"]

Shapes = tuple[int, int, int]  # (num_classes, in_channels, image_size)


def data_dir_option(cfg: TrainConfig) -> dict[str, Any]:
    """The usual loader argument: the config's `data_dir`."""
    return {"data_dir": cfg.data_dir}


def no_options(cfg: TrainConfig) -> dict[str, Any]:
    """For a loader that takes nothing from the config."""
    return {}


@dataclass(frozen=True)
class DatasetRecord:
    """A built-in dataset as samtrain knows it before loading it.

    - `shapes`: `(num_classes, in_channels, image_size)`, or a function of the config;
    - `options`: the loader's keyword arguments taken from the config (besides `dataset_kwargs`);
    - `pool_size`: the training pool's size, a function of the config (None: unknown until
      loaded), or None;
    - `locate`: raise `samtrain.errors.DatasetNotFound` (one line) when the files are missing,
      cheaply (what it returns is ignored); None: nothing to find (in memory or generated).
    """

    shapes: Shapes | Callable[[TrainConfig], Shapes]
    options: Callable[[TrainConfig], dict[str, Any]] = data_dir_option
    pool_size: int | Callable[[TrainConfig], int | None] | None = None
    locate: Callable[[TrainConfig], object] | None = None

    def shapes_of(self, cfg: TrainConfig) -> Shapes:
        return self.shapes(cfg) if callable(self.shapes) else self.shapes

    def pool_size_of(self, cfg: TrainConfig) -> int | None:
        return self.pool_size(cfg) if callable(self.pool_size) else self.pool_size

    def locate_files(self, cfg: TrainConfig) -> None:
        if self.locate is not None:
            self.locate(cfg)


def builtin_record(name: str) -> DatasetRecord:
    """The record of the built-in dataset `name`, from its loader's module (`RECORDS[name]`)."""
    if not is_builtin("dataset", name):
        raise KeyError(f"{name!r} is not a built-in dataset")
    module = importlib.import_module(target("dataset", name).partition(":")[0])
    return module.RECORDS[name]
