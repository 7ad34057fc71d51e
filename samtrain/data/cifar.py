"""CIFAR-10/100 through torchvision's own classes (`cifar-10-batches-py/`, `cifar-100-python/`).

Files are looked for under `cfg.data_dir` (or `~/.cache/samtrain` when unset); `data_dir` may also
be the batches folder itself. With `data_dir` unset and the files absent, torchvision's own
download (which checks the archive's MD5; one process at a time) fetches them into the cache
folder; otherwise, or without network, the error names the folder and the archive to fetch.
Present files are checked for presence, not MD5, so re-packed or subsampled copies load too.
Pool: RandomCrop(32, 4) + flip; validation (from the pool) and test: no augmentation; all
normalized.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from torchvision import transforms
from torchvision.datasets import CIFAR10, CIFAR100

from samtrain.data.bundle import DataSource
from samtrain.data.cache_download import download_lock, publish, staging
from samtrain.data.record import DatasetRecord
from samtrain.errors import DatasetNotFound

CACHE_DIR = Path.home() / ".cache" / "samtrain"
STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}


def _needed(cls: type[CIFAR10]) -> list[str]:
    return [n for n, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]


class _PresenceChecked:
    """Mixin: accept the files when present instead of checking their MD5 sums."""

    root: str
    base_folder: str
    meta: dict[str, str]

    def _check_integrity(self) -> bool:
        folder = Path(self.root) / self.base_folder
        return all((folder / n).is_file() for n in _needed(type(self)))

    def _load_meta(self) -> None:
        with open(Path(self.root) / self.base_folder / self.meta["filename"], "rb") as f:
            data = pickle.load(f, encoding="latin1")
        self.classes = data[self.meta["key"]]
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}


class LocalCIFAR10(_PresenceChecked, CIFAR10):
    """torchvision CIFAR10 that checks file presence, not MD5."""


class LocalCIFAR100(_PresenceChecked, CIFAR100):
    """torchvision CIFAR100 that checks file presence, not MD5."""


CLASSES = {"cifar10": LocalCIFAR10, "cifar100": LocalCIFAR100}


def _download(name: str, root: Path) -> None:
    """torchvision's own download, staged and then published into `root`; raises
    `DatasetNotFound` when it fails."""
    torchvision_cls = CIFAR10 if name == "cifar10" else CIFAR100
    base = CLASSES[name].base_folder
    try:
        with staging(root) as tmp:
            torchvision_cls(str(tmp), train=True, download=True)
            publish([tmp / base / n for n in _needed(CLASSES[name])], root / base)
    except Exception as e:  # no network, proxy errors, corrupt archive
        raise DatasetNotFound(
            f"{name}: {root / base} is missing and torchvision's download of "
            f"{torchvision_cls.url} failed ({type(e).__name__}); download and extract it into "
            f"{root}, or set data_dir to the folder holding {base}/"
        ) from None


def cifar_root(name: str, data_dir: str | None, download: bool = True) -> Path:
    """The folder holding the batches folder; `data_dir` may name either of the two.

    Example:
        >>> cifar_root("cifar10", "/nonexistent", download=False)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        samtrain.errors.DatasetNotFound: cifar10: /nonexistent/cifar-10-batches-py lacks ...
    """
    cls = CLASSES[name]
    base = Path(data_dir) if data_dir is not None else CACHE_DIR
    root = base.parent if base.name == cls.base_folder else base
    folder = root / cls.base_folder
    missing = [n for n in _needed(cls) if not (folder / n).is_file()]
    if missing and download and data_dir is None:
        with download_lock(root):  # another trial may be fetching them: wait, then look again
            missing = [n for n in _needed(cls) if not (folder / n).is_file()]
            if missing:
                _download(name, root)
                missing = [n for n in _needed(cls) if not (folder / n).is_file()]
    if missing:
        raise DatasetNotFound(
            f"{name}: {folder} lacks {', '.join(missing)}; download {cls.url} and extract it "
            f"into {root}, or set data_dir to the folder holding {cls.base_folder}/")
    return root


def load_cifar(name: str, data_dir: str | None) -> DataSource:
    """CIFAR-10 (`name="cifar10"`) or CIFAR-100 (`"cifar100"`) with standard augmentation.

    Example:
        s = load_cifar("cifar10", "/data")
        len(s.pool), len(s.test), s.num_classes
        (50000, 10000, 10)
    """
    cls = CLASSES[name]
    mean, std = STATS[name]
    normalize = [transforms.ToTensor(), transforms.Normalize(mean, std)]
    augment = transforms.Compose(
        [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), *normalize])
    plain = transforms.Compose(normalize)
    root = cifar_root(name, data_dir)
    pool = cls(root, train=True, transform=augment, download=False)
    pool_eval = cls(root, train=True, transform=plain, download=False)
    test = cls(root, train=False, transform=plain, download=False)
    return DataSource(pool=pool, pool_eval=pool_eval, test=test,
                      num_classes=10 if name == "cifar10" else 100, in_channels=3, image_size=32)


def load_cifar10(data_dir: str | None) -> DataSource:
    """The built-in `cifar10` (`load_cifar("cifar10", data_dir)`)."""
    return load_cifar("cifar10", data_dir)


def load_cifar100(data_dir: str | None) -> DataSource:
    """The built-in `cifar100` (`load_cifar("cifar100", data_dir)`)."""
    return load_cifar("cifar100", data_dir)


# the built-in names this module loads -> their loader (read by samtrain.config.registry)
DATASETS = {"cifar10": "load_cifar10", "cifar100": "load_cifar100"}
RECORDS = {
    name: DatasetRecord(shapes=(classes, 3, 32), locate=lambda cfg, name=name: cifar_root(name, cfg.data_dir))
    for name, classes in (("cifar10", 10), ("cifar100", 100))
}
