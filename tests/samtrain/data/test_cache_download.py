"""Trials starting together on a machine without the data download it once, and never see a
half-written file (torchvision's downloaders faked: no network in tests)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torchvision.datasets

from samtrain.data import DatasetNotFound, cifar
from samtrain.data import fashion_mnist as fm
from samtrain.data.cache_download import download_lock
from tests.support.files import write_cifar, write_fashion_idx


class FakeDownloader:
    """Stands in for a torchvision dataset class: `write(root)` lays out the files it would
    download; it counts its downloads, takes `seconds`, and records what the cache held then."""

    url = "https://example.invalid/archive.tar.gz"

    def __init__(self, write, cache: Path, seconds: float = 0.5, fail: bool = False) -> None:
        self.write, self.cache, self.seconds, self.fail = write, cache, seconds, fail
        self.calls, self.seen_in_cache = 0, []
        self._count = threading.Lock()

    def __call__(self, root: str, train: bool = True, download: bool = False):
        if not train:
            return self
        with self._count:
            self.calls += 1
        self.write(Path(root))
        time.sleep(self.seconds)  # the others arrive while it downloads
        self.seen_in_cache += [p.name for p in self.cache.rglob("*") if p.is_file()
                               and not any(part.startswith(".") for part in p.relative_to(self.cache).parts)]
        if self.fail:
            raise ConnectionError("the network went away halfway")
        return self


def _together(fn, n: int = 3) -> list:
    with ThreadPoolExecutor(n) as pool:  # flock holds between open files, threads included
        return [f.result() for f in [pool.submit(fn) for _ in range(n)]]


def _cifar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kw) -> FakeDownloader:
    fake = FakeDownloader(lambda root: write_cifar(root, "cifar10"), tmp_path, **kw)
    monkeypatch.setattr(cifar, "CACHE_DIR", tmp_path)
    monkeypatch.setattr(cifar, "CIFAR10", fake)
    return fake


def test_concurrent_cifar_trials_download_once_and_files_appear_whole(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch):
    fake = _cifar(tmp_path, monkeypatch)
    assert _together(lambda: cifar.cifar_root("cifar10", None)) == [tmp_path] * 3
    assert fake.calls == 1                # without the lock: 3
    assert fake.seen_in_cache == []       # written into a staging folder, published at the end
    assert sorted(p.name for p in (tmp_path / "cifar-10-batches-py").iterdir()) == sorted(
        cifar._needed(cifar.LocalCIFAR10))
    assert not list(tmp_path.glob(".download-*"))


def test_a_cifar_download_failing_halfway_leaves_nothing_behind(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch):
    fake = _cifar(tmp_path, monkeypatch, seconds=0.0, fail=True)
    with pytest.raises(DatasetNotFound, match="cifar10: .* download of .* failed"):
        cifar.cifar_root("cifar10", None)
    assert fake.calls == 1 and not list(tmp_path.glob("cifar-10-batches-py/*"))
    assert not list(tmp_path.glob(".download-*"))


def test_concurrent_fashion_mnist_trials_download_once(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch):
    cache = tmp_path / "cache"
    fake = FakeDownloader(lambda root: write_fashion_idx(root / "FashionMNIST" / "raw"), cache)
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setattr(fm, "CACHE_DIR", cache)
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", fake)
    raw = cache / "FashionMNIST" / "raw"
    assert _together(lambda: fm.locate(None)["train_images"].parent) == [raw] * 3
    assert fake.calls == 1 and fake.seen_in_cache == []
    assert len(list(raw.iterdir())) == 4 and not list(cache.glob(".download-*"))


def test_a_held_lock_makes_others_wait(tmp_path: Path):
    with download_lock(tmp_path):
        other = download_lock(tmp_path, timeout_s=0.2)
        with pytest.raises(TimeoutError):  # filelock.Timeout is a TimeoutError
            other.acquire()
    with download_lock(tmp_path, timeout_s=0.2):  # released: free again
        pass
