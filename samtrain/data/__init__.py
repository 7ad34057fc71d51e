"""Datasets for `samtrain`: one `build_datasets(cfg)` call gives train/validation/test and shapes.

A built-in dataset is one module here: its loader, `DATASETS` (name -> loader function, which
`samtrain.config.registry` reads from the source without importing it) and `RECORDS` (what is
known before loading: `record.DatasetRecord`). Adding a dataset is adding such a module.

Example:
    >>> from samtrain.config.train_config import TrainConfig
    >>> bundle = build_datasets(TrainConfig(dataset="digits"))
    >>> len(bundle.train), len(bundle.val), len(bundle.test), bundle.num_classes, bundle.image_size
    (1293, 144, 360, 10, 8)
"""

from samtrain.data.build import build_datasets, check_dataset
from samtrain.data.bundle import DataBundle, DataSource
from samtrain.data.label_noise import apply_label_noise
from samtrain.errors import DatasetNotFound

__all__ = ["DataBundle", "DataSource", "DatasetNotFound", "apply_label_noise", "build_datasets",
           "check_dataset"]
