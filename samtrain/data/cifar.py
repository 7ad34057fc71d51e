"""CIFAR-10/100 in torchvision's on-disk format (`cifar-10-batches-py/`, `cifar-100-python/`).

Files are looked for under `cfg.data_dir` (or `~/.cache/samtrain` when unset); `data_dir` may also
be the batches folder itself. Nothing is downloaded. Checksums are not verified (only presence),
so re-packed or subsampled copies load too. Train: RandomCrop(32, 4) + flip; both normalized.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from torchvision import transforms
from torchvision.datasets import CIFAR10, CIFAR100

from samtrain.data.bundle import DataBundle, DatasetNotFound

CACHE_DIR = Path.home() / ".cache" / "samtrain"
STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
URLS = {
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    "cifar100": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
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
    """torchvision CIFAR10 that never downloads and checks file presence, not MD5."""


class LocalCIFAR100(_PresenceChecked, CIFAR100):
    """torchvision CIFAR100 that never downloads and checks file presence, not MD5."""


def _root(name: str, data_dir: str | None, cls: type[CIFAR10]) -> Path:
    """The folder holding `cls.base_folder`; `data_dir` may name either of the two."""
    base = Path(data_dir) if data_dir is not None else CACHE_DIR
    root = base.parent if base.name == cls.base_folder else base
    folder = root / cls.base_folder
    missing = [n for n in _needed(cls) if not (folder / n).is_file()]
    if missing:
        raise DatasetNotFound(
            f"{name}: {folder} lacks {', '.join(missing)}; download {URLS[name]} and extract it "
            f"into {root}, or set data_dir to the folder holding {cls.base_folder}/"
        )
    return root


def load_cifar(name: str, data_dir: str | None) -> DataBundle:
    """CIFAR-10 (`name="cifar10"`) or CIFAR-100 (`"cifar100"`) with standard augmentation.

    Example:
        b = load_cifar("cifar10", "/data")
        len(b.train), len(b.val), b.num_classes
        (50000, 10000, 10)
    """
    cls = {"cifar10": LocalCIFAR10, "cifar100": LocalCIFAR100}[name]
    mean, std = STATS[name]
    normalize = [transforms.ToTensor(), transforms.Normalize(mean, std)]
    train_tf = transforms.Compose(
        [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), *normalize]
    )
    root = _root(name, data_dir, cls)
    train = cls(root, train=True, transform=train_tf, download=False)
    val = cls(root, train=False, transform=transforms.Compose(normalize), download=False)
    num_classes = 10 if name == "cifar10" else 100
    return DataBundle(train, val, num_classes=num_classes, in_channels=3, image_size=32)
