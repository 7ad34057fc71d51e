"""A class split of a built-in dataset: some of its classes, relabelled 0..k-1, as a dataset.

`class_split` is a dataset builder for the import string
`"samtrain.data.class_split:class_split"`: a transfer between two halves of one dataset (train on
Fashion-MNIST's classes 0-5, fine-tune on its classes 6-9) needs no other data. Train pool and
test split keep only the examples of `classes`; a class's new label is its position in
`classes`, so the model sees `len(classes)` classes.

Example (study file)::

    base:
      dataset: samtrain.data.class_split:class_split
      dataset_kwargs: {dataset: fashion_mnist, classes: [0, 1, 2, 3, 4, 5]}

    >>> s = class_split(dataset="digits", classes=[7, 3])
    >>> s.num_classes, sorted(set(s.test.targets.tolist())), len(s.pool) + len(s.test)
    (2, [0, 1], 362)
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from samtrain.config.registry import is_builtin, resolve
from samtrain.data.builder_output import as_source
from samtrain.data.bundle import DataSource
from samtrain.data.views import relabel, select, targets_of
from samtrain.errors import ConfigError

__all__ = ["class_split"]


def _keep(ds: Dataset, classes: list[int]) -> Dataset:
    targets = targets_of(ds)
    mapping = torch.full((int(targets.max()) + 1 if len(targets) else 1,), -1, dtype=torch.int64)
    for new, old in enumerate(classes):
        if old < len(mapping):
            mapping[old] = new
    new_targets = mapping[targets]
    idx = torch.nonzero(new_targets >= 0).flatten()
    return relabel(select(ds, idx), new_targets[idx])


def class_split(classes: list[int], dataset: str = "fashion_mnist",
                data_dir: str | None = None) -> DataSource:
    """The examples of `classes` of the built-in `dataset` (any but `synthetic`), relabelled by
    their position in `classes`; `data_dir` as for the built-in."""
    where = "key 'dataset_kwargs'"
    if dataset == "synthetic" or not is_builtin("dataset", dataset):
        raise ConfigError(f"{where}: dataset {dataset!r} is invalid: class_split takes a "
                          "built-in dataset other than synthetic")
    builder = resolve("dataset", dataset)
    src = as_source(dataset, builder() if dataset == "digits" else builder(data_dir=data_dir))
    bad = [c for c in classes if not (isinstance(c, int) and 0 <= c < src.num_classes)]
    if not classes or bad or len(set(classes)) != len(classes):
        raise ConfigError(f"{where}: classes {classes!r} are invalid: give distinct class "
                          f"indices of {dataset}, 0 to {src.num_classes - 1}")
    pool = _keep(src.pool, classes)
    pool_eval = pool if src.pool_eval is src.pool else _keep(src.pool_eval, classes)
    return DataSource(pool=pool, pool_eval=pool_eval, test=_keep(src.test, classes),
                      num_classes=len(classes), in_channels=src.in_channels,
                      image_size=src.image_size)
