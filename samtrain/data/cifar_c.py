"""CIFAR-10-C / CIFAR-100-C as published (Hendrycks & Dietterich 2019, zenodo.org/records/2535967):
one shifted set per corruption and severity, for `eval_sets` entries of the kind `import`.

The archive holds `<corruption>.npy` (50,000 x 32 x 32 x 3 uint8: the 10,000 test images at
severity 1, then 2, ... 5) and `labels.npy`; images are normalized as the built-in `cifar10` /
`cifar100` test split is.

Example (a study's `base`)::

    eval_sets:
      - {import: "samtrain.data.cifar_c:load_cifar_c", name: fog_3,
         kwargs: {root: /data/CIFAR-10-C, corruption: fog, severity: 3}}
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from samtrain.data.cifar import STATS
from samtrain.data.views import TensorImageDataset
from samtrain.errors import DatasetNotFound

__all__ = ["load_cifar_c"]

PER_SEVERITY = 10_000


def load_cifar_c(root: str, corruption: str, severity: int, dataset: str = "cifar10",
                 examples: int | None = None) -> TensorImageDataset:
    """The `severity` (1..5) block of `root/<corruption>.npy` with its labels, normalized with
    `dataset`'s statistics; `examples`: only the first N of the block."""
    files = [Path(root) / f"{corruption}.npy", Path(root) / "labels.npy"]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise DatasetNotFound(f"cifar-c: {', '.join(missing)} not found; root must be the "
                              "extracted CIFAR-10-C or CIFAR-100-C folder")
    if severity not in range(1, 6):
        raise ValueError(f"severity {severity!r} is invalid: must be 1..5")
    images, labels = (np.load(f, mmap_mode="r") for f in files)
    per = len(labels) // 5 if len(labels) % 5 == 0 else PER_SEVERITY
    block = slice((severity - 1) * per, (severity - 1) * per + min(per, examples or per))
    x = torch.from_numpy(np.ascontiguousarray(images[block])).permute(0, 3, 1, 2).float() / 255.0
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in STATS[dataset])
    return TensorImageDataset((x - mean) / std, torch.from_numpy(np.asarray(labels[block])).long())
