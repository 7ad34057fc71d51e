"""Fashion-MNIST from its IDX files: `data_dir`, the Debian package, or a torchvision download.

Search order: `cfg.data_dir` (and its torchvision layout `FashionMNIST/raw/`) when set; otherwise
`/usr/share/datasets/fashion-mnist/` (`apt-get install dataset-fashion-mnist`), then
`~/.cache/samtrain/FashionMNIST/raw/`, then a torchvision download into `~/.cache/samtrain` (one
process at a time).
The training pool is the 60k training set, the test split the 10k test set; everything is held
in memory as normalized tensors.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from samtrain.data.bundle import DataSource
from samtrain.data.cache_download import download_lock, publish, staging
from samtrain.data.idx import idx_shape, read_idx
from samtrain.data.record import DatasetRecord
from samtrain.data.views import TensorImageDataset
from samtrain.errors import DatasetNotFound

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
CACHE_DIR = Path.home() / ".cache" / "samtrain"
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
MEAN, STD = 0.2860, 0.3530


def find_files(directory: Path) -> dict[str, Path] | None:
    """The four IDX files in `directory` (`.gz` or plain), or None if any is missing.

    Example:
        >>> find_files(Path("/nonexistent")) is None
        True
    """
    found: dict[str, Path] = {}
    for key, stem in FILES.items():
        candidates = [directory / f"{stem}.gz", directory / stem]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            return None
        found[key] = path
    return found


def _download(root: Path) -> Path | None:
    """torchvision's downloader, staged and then published into `root/FashionMNIST/raw`; return
    that folder, or None without network."""
    raw = root / "FashionMNIST" / "raw"
    try:
        from torchvision.datasets import FashionMNIST

        with staging(root) as tmp:
            FashionMNIST(str(tmp), train=True, download=True)
            FashionMNIST(str(tmp), train=False, download=True)
            files = find_files(tmp / "FashionMNIST" / "raw")
            if files is None:
                return None
            publish(files.values(), raw)
    except Exception:  # no network, proxy errors, corrupt archive: report as not found
        return None
    return raw


def locate(data_dir: str | None, allow_download: bool = True) -> dict[str, Path]:
    """Paths of the four IDX files, following the search order; raise `DatasetNotFound`.

    Example:
        >>> locate("/nonexistent")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        samtrain.errors.DatasetNotFound: fashion_mnist: no IDX files ... in /nonexistent, ...
    """
    if data_dir is not None:
        dirs = [Path(data_dir), Path(data_dir) / "FashionMNIST" / "raw"]
    else:
        dirs = [DEBIAN_DIR, CACHE_DIR / "FashionMNIST" / "raw"]
    for d in dirs:
        if (files := find_files(d)) is not None:
            return files
    if data_dir is None and allow_download:
        with download_lock(CACHE_DIR):  # another trial may be fetching them: wait, then look again
            if (files := find_files(dirs[-1])) is not None:
                return files
            if (raw := _download(CACHE_DIR)) is not None and (files := find_files(raw)) is not None:
                return files
    looked = ", ".join(str(d) for d in dirs)
    tried = "" if data_dir is not None else f" and a download into {CACHE_DIR} failed"
    raise DatasetNotFound(
        f"fashion_mnist: no IDX files ({FILES['train_images']}.gz etc.) in {looked}{tried}; "
        "apt-get install dataset-fashion-mnist or set data_dir to a folder holding them"
    )


def _images(array: np.ndarray) -> torch.Tensor:
    # in place in torch: 6x faster than numpy temporaries (decoding is part of a trial's start-up)
    x = torch.tensor(array).unsqueeze(1).to(torch.float32)
    return x.div_(255.0).sub_(MEAN).div_(STD)


@functools.lru_cache(maxsize=2)  # a reused Tune actor's next trial skips decoding (read-only data)
def load_fashion_mnist(data_dir: str | None) -> DataSource:
    """Fashion-MNIST as in-memory tensors: pool 60k, test 10k, 1 x 28 x 28.

    Example:
        s = load_fashion_mnist(None)
        len(s.pool), len(s.test), s.image_size
        (60000, 10000, 28)
    """
    files = locate(data_dir)
    labels = {k: torch.from_numpy(read_idx(files[k]).astype(np.int64)) for k in FILES if "lab" in k}
    images = {k: _images(read_idx(files[k])) for k in FILES if "images" in k}
    for split in ("train", "test"):
        x, y = images[f"{split}_images"], labels[f"{split}_labels"]
        if x.shape[0] != y.shape[0]:
            raise ValueError(
                f"fashion_mnist: {files[f'{split}_images']} has {x.shape[0]} images but "
                f"{files[f'{split}_labels']} has {y.shape[0]} labels"
            )
    pool = TensorImageDataset(images["train_images"], labels["train_labels"])
    test = TensorImageDataset(images["test_images"], labels["test_labels"])
    return DataSource(pool=pool, pool_eval=pool, test=test, num_classes=10, in_channels=1,
                      image_size=pool.images.shape[-1])


# the built-in names this module loads -> their loader (read by samtrain.config.registry)
DATASETS = {"fashion_mnist": "load_fashion_mnist"}
RECORDS = {"fashion_mnist": DatasetRecord(
    shapes=(10, 1, 28), locate=lambda cfg: locate(cfg.data_dir),
    pool_size=lambda cfg: idx_shape(locate(cfg.data_dir)["train_labels"])[0])}
