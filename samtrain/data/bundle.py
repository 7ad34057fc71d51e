"""`DataBundle` (what `build_datasets` returns) and `DatasetNotFound` (missing files)."""

from __future__ import annotations

from dataclasses import dataclass

from torch.utils.data import Dataset


@dataclass
class DataBundle:
    """Train and validation datasets plus the shapes a model needs.

    Items of both datasets are `(x, y)`: `x` a float tensor `C x H x W`, `y` an int64 class index
    (0-d tensor or int). `image_size` is `H` (images are square except for odd synthetic shapes).

    Example:
        >>> b = DataBundle(train=[], val=[], num_classes=10, in_channels=1, image_size=28)
        >>> b.in_channels, b.image_size
        (1, 28)
    """

    train: Dataset
    val: Dataset
    num_classes: int
    in_channels: int
    image_size: int


class DatasetNotFound(FileNotFoundError):
    """Dataset files are missing; `str(e)` is one line: where it looked and how to get the data.

    Example:
        >>> str(DatasetNotFound("cifar10: no /x/cifar-10-batches-py; set data_dir"))
        'cifar10: no /x/cifar-10-batches-py; set data_dir'
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))

    def __str__(self) -> str:
        return str(self.args[0])
