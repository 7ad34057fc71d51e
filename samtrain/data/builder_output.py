"""What a dataset builder returns, checked and turned into a `DataSource`: `as_source`.

A builder (a built-in, or a researcher's `"package.module:build"`) returns a `DataSource`, or
`(train_pool, test)`: two torch `Dataset`s whose items are `(x, y)`, `x` a tensor and `y` an
integer class index. From the pair:

- targets come from a `targets` attribute (one integer per item) when the dataset has one, else
  from reading every item once;
- a `TensorDataset(x, y)` stays in memory and is indexed a batch at a time, like the built-ins;
  any other dataset is read item by item (in loader processes);
- `num_classes` is 1 + the largest target of either split, `in_channels` is `x.shape[0]` and
  `image_size` is `x.shape[-1]` (1 for an `x` of fewer than two dimensions);
- the pool is used for training and validation alike: return a `DataSource` to give validation
  other transforms than training (augmentation).

Checked, each a one-line `ConfigError` on the key `dataset` naming what was found and what is
needed: `x` is a float32 tensor (float64 features are the dataset's fault, not the model's),
`y` an integer (a float label is named as such), the items of a split have one shape (the first
`SHAPE_SAMPLES`, spread over the split, are read) and the test set's `x` has the shape and
dtype of the train pool's.

Example:
    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> pair = (TensorDataset(torch.zeros(6, 2, 5), torch.tensor([0, 1, 2, 0, 1, 2])),
    ...         TensorDataset(torch.zeros(3, 2, 5), torch.tensor([0, 1, 3])))
    >>> s = as_source("my_pkg.data:build", pair)
    >>> s.num_classes, s.in_channels, s.image_size, type(s.pool).__name__
    (4, 2, 5, 'TensorImageDataset')
    >>> as_source("my_pkg.data:build", pair[0])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    samtrain.errors.ConfigError: key 'dataset': value 'my_pkg.data:build' is invalid: its ...
"""

from __future__ import annotations

import numbers
from typing import Any

import torch
from torch.utils.data import Dataset, TensorDataset

from samtrain.data.bundle import DataSource
from samtrain.data.views import RelabeledSubset, TensorImageDataset
from samtrain.errors import ConfigError

__all__ = ["as_source"]

_INTEGER = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
SHAPE_SAMPLES = 8  # items per split whose x shapes are compared (first, last, spread between)
_RETURN = "must return (train_pool, test), two torch Datasets of (x, y) items, or a DataSource"


def _error(value: str, rule: str) -> ConfigError:
    return ConfigError(f"key 'dataset': value {value!r} is invalid: {rule}")


def as_source(value: str, out: Any) -> DataSource:
    """`out`, what the builder of `value` returned, as a `DataSource` (see the module docstring)."""
    if isinstance(out, DataSource):
        for split in ("pool", "pool_eval", "test"):
            if not isinstance(getattr(out, split), Dataset | list):
                raise _error(value, f"its DataSource's {split} is a "
                             f"{type(getattr(out, split)).__name__}, not a torch Dataset")
        return out
    if not (isinstance(out, tuple | list) and len(out) == 2
            and all(isinstance(d, Dataset) for d in out)):
        got = (f"a {type(out).__name__} of {', '.join(type(d).__name__ for d in out) or 'nothing'}"
               if isinstance(out, tuple | list) else f"a {type(out).__name__}")
        raise _error(value, f"its builder returned {got}; {_RETURN}")
    (pool, pool_targets), (test, test_targets) = (
        _checked(value, name, ds) for name, ds in zip(("train pool", "test set"), out, strict=True))
    _check_alike(value, pool, test)
    num_classes = int(max(pool_targets.max(), test_targets.max())) + 1
    if num_classes < 2:
        raise _error(value, "its targets hold a single class (0); a classifier needs at least 2")
    x = pool[0][0]
    return DataSource(pool=pool, pool_eval=pool, test=test, num_classes=num_classes,
                      in_channels=int(x.shape[0]) if x.dim() else 1,
                      image_size=int(x.shape[-1]) if x.dim() >= 2 else 1)


def _checked(value: str, name: str, ds: Dataset) -> tuple[Dataset, torch.Tensor]:
    """`ds` with integer targets at hand (a `TensorImageDataset` or a `RelabeledSubset`) and its
    targets; `ConfigError` naming the split when its items or targets are not as required."""
    try:
        n = len(ds)  # type: ignore[arg-type]
    except TypeError:
        raise _error(value, f"its {name} ({type(ds).__name__}) has no length (__len__)") from None
    if n == 0:
        raise _error(value, f"its {name} is empty")
    if isinstance(ds, TensorDataset) and len(ds.tensors) == 2:
        x, y = ds.tensors
        _check_features(value, name, x)
        if y.is_floating_point():
            raise _error(value, f"targets of its {name} are {y.dtype}; must be integer class "
                         "indices (e.g. y.long())")
        if x.dim() >= 2 and y.dim() == 1 and y.dtype in _INTEGER:
            _check_targets(value, name, y)
            return TensorImageDataset(x, y), y.to(torch.int64)
    item = ds[0]
    if not (isinstance(item, tuple | list) and len(item) == 2 and isinstance(item[0], torch.Tensor)
            and _is_integer(item[1])):
        raise _error(value, f"items of its {name} must be (x, y), x a tensor and y an integer class "
                     f"index; item 0 is {_describe(item)}")
    _check_features(value, name, item[0])
    _check_one_shape(value, name, ds, n)
    if getattr(ds, "targets", None) is not None:
        targets = torch.as_tensor(ds.targets)  # type: ignore[attr-defined]
        if targets.shape != (n,):
            raise _error(value, f"its {name}'s `targets` has shape {tuple(targets.shape)}; must "
                         f"be one class index per item ({n})")
    else:  # read every item once
        ys = [ds[i][1] for i in range(n)]
        if not all(_is_integer(y) for y in ys):
            raise _error(value, f"items of its {name} must have integer class indices y")
        targets = torch.as_tensor([int(y) for y in ys])
    _check_targets(value, name, targets)
    targets = targets.to(torch.int64)
    return RelabeledSubset(ds, torch.arange(n), targets), targets


def _check_features(value: str, name: str, x: torch.Tensor) -> None:
    """`x` (a split's features, or one item's) is float32: what the models' weights are."""
    if x.dtype != torch.float32:
        raise _error(value, f"x of its {name} is {x.dtype}; must be torch.float32 (e.g. x.float())")


def _sample_indices(n: int) -> list[int]:
    return sorted({round(i * (n - 1) / max(SHAPE_SAMPLES - 1, 1)) for i in range(SHAPE_SAMPLES)})


def _check_one_shape(value: str, name: str, ds: Dataset, n: int) -> None:
    """The x of items spread over `ds` have the shape of item 0 (a batch stacks them)."""
    first = tuple(ds[0][0].shape)
    for i in _sample_indices(n):
        x = ds[i][0]
        if not isinstance(x, torch.Tensor) or tuple(x.shape) != first:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise _error(value, f"items of its {name} differ in shape: x of item 0 is {first}, "
                         f"of item {i} {got}; every x must have one shape (ragged items)")


def _check_alike(value: str, pool: Dataset, test: Dataset) -> None:
    """The test set's x has the train pool's shape and dtype (the same model reads both)."""
    a, b = pool[0][0], test[0][0]
    if a.shape != b.shape or a.dtype != b.dtype:
        raise _error(value, f"its test set is unlike its train pool: x of shape {tuple(b.shape)}, "
                     f"{b.dtype} against {tuple(a.shape)}, {a.dtype}; must be the same (same "
                     "channels and size)")


def _check_targets(value: str, name: str, targets: torch.Tensor) -> None:
    if targets.dtype not in _INTEGER:
        raise _error(value, f"targets of its {name} are {targets.dtype}; must be integer class "
                     "indices")
    if int(targets.min()) < 0:
        raise _error(value, f"targets of its {name} hold {int(targets.min())}; class indices "
                     "must be >= 0")


def _is_integer(y: Any) -> bool:
    if isinstance(y, torch.Tensor):
        return y.dim() == 0 and y.dtype in _INTEGER
    return isinstance(y, numbers.Integral) and not isinstance(y, bool)


def _describe(item: Any) -> str:
    if isinstance(item, tuple | list) and len(item) == 2 and isinstance(item[1], torch.Tensor) \
            and item[1].is_floating_point():
        return f"(x, y) with y a {item[1].dtype} tensor; y must be an integer class index (y.long())"
    if isinstance(item, tuple | list):
        return f"a {type(item).__name__} of {', '.join(type(v).__name__ for v in item)}"
    return f"a {type(item).__name__}"
