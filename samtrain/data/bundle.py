"""What dataset loaders return (`DataSource`) and what `build_datasets` returns (`DataBundle`);
missing files raise `samtrain.errors.DatasetNotFound`."""

from __future__ import annotations

from dataclasses import dataclass

from torch.utils.data import Dataset


@dataclass
class DataSource:
    """A dataset as published: its training pool and its official test split.

    `pool` carries the training transforms (augmentation), `pool_eval` the same examples in the
    same order with the evaluation transforms (the validation split is drawn from it); for
    in-memory tensors without augmentation both are the same object. Items are `(x, y)`: `x` a
    float tensor `C x H x W`, `y` an int64 class index. `image_size` is `H`.

    Example:
        >>> s = DataSource(pool=[], pool_eval=[], test=[], num_classes=10, in_channels=1,
        ...                image_size=28)
        >>> s.in_channels, s.image_size
        (1, 28)
    """

    pool: Dataset
    pool_eval: Dataset
    test: Dataset
    num_classes: int
    in_channels: int
    image_size: int


@dataclass
class DataBundle:
    """The three disjoint splits of one run plus the shapes a model needs.

    `train` and `val` are drawn from the training pool (never overlapping); `test` is the
    dataset's official test split, used only for reporting. `train_eval` holds the training
    examples with the evaluation transforms (for diagnostics; `train` itself when there is no
    augmentation).

    Example:
        >>> b = DataBundle(train=[], val=[], test=[], train_eval=[], num_classes=10,
        ...                in_channels=1, image_size=28)
        >>> b.num_classes
        10
    """

    train: Dataset
    val: Dataset
    test: Dataset
    train_eval: Dataset
    num_classes: int
    in_channels: int
    image_size: int
