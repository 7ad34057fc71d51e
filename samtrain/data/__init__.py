"""Datasets for `samtrain`: one `build_datasets(cfg)` call gives train/val datasets and shapes.

Example:
    >>> from samtrain.config import TrainConfig
    >>> bundle = build_datasets(TrainConfig(dataset="digits"))
    >>> len(bundle.train), len(bundle.val), bundle.num_classes, bundle.image_size
    (1437, 360, 10, 8)
"""

from samtrain.data.build import build_datasets, check_dataset
from samtrain.data.bundle import DataBundle, DatasetNotFound
from samtrain.data.label_noise import apply_label_noise

__all__ = ["DataBundle", "DatasetNotFound", "apply_label_noise", "build_datasets", "check_dataset"]
