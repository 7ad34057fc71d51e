"""Trials starting together on a machine without the data download it once, not once each."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from samtrain.data import cifar
from samtrain.data import fashion_mnist as fm
from samtrain.data.download_lock import download_lock
from tests.test_data import write_cifar, write_fashion_idx


class SlowDownload:
    """A fake torchvision download: counts its calls and takes `seconds` to write the files."""

    def __init__(self, write, seconds: float = 0.5) -> None:
        self.write, self.seconds, self.calls = write, seconds, 0
        self._count = threading.Lock()

    def __call__(self, *args):
        with self._count:
            self.calls += 1
        time.sleep(self.seconds)  # the others arrive while the files are still missing
        return self.write(*args)


def _together(fn, n: int = 3) -> list:
    with ThreadPoolExecutor(n) as pool:  # flock holds between open files, threads included
        return [f.result() for f in [pool.submit(fn) for _ in range(n)]]


def test_concurrent_cifar_trials_download_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    download = SlowDownload(lambda name, root: write_cifar(root, name))
    monkeypatch.setattr(cifar, "CACHE_DIR", tmp_path)
    monkeypatch.setattr(cifar, "_download", download)
    assert _together(lambda: cifar.cifar_root("cifar10", None)) == [tmp_path] * 3
    assert download.calls == 1  # without the lock: 3, and write_cifar's mkdir fails in two


def test_concurrent_fashion_mnist_trials_download_once(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch):
    raw = tmp_path / "cache" / "FashionMNIST" / "raw"
    download = SlowDownload(lambda root: (write_fashion_idx(raw), raw)[1])
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setattr(fm, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(fm, "_download", download)
    found = _together(lambda: fm.locate(None)["train_images"].parent)
    assert found == [raw] * 3 and download.calls == 1


def test_a_held_lock_makes_others_wait(tmp_path: Path):
    with download_lock(tmp_path):
        other = download_lock(tmp_path, timeout_s=0.2)
        with pytest.raises(TimeoutError):  # filelock.Timeout is a TimeoutError
            other.acquire()
    with download_lock(tmp_path, timeout_s=0.2):  # released: free again
        pass
