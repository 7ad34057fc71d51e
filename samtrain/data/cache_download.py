"""Downloading a dataset into a shared cache folder safely: one download at a time, whole files.

Trials, DDP workers or sweeps starting together on a machine without the data would otherwise
download into the same folder at once, and one could read another's half-written file. Here the
holder of `download_lock` downloads into a `staging` folder and `publish`es the finished files
with atomic renames; the others wait, look again and find them. Readers look for files without
the lock: thanks to the renames, a file seen in the cache is whole, even after a download that
failed halfway.

Example:
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> with download_lock(root), staging(root) as tmp:
    ...     _ = (tmp / "data.bin").write_bytes(b"...")  # the download
    ...     publish([tmp / "data.bin"], root / "dataset")
    >>> sorted(p.name for p in root.iterdir())
    ['.samtrain-download.lock', 'dataset']
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock

LOCK_NAME = ".samtrain-download.lock"


def download_lock(root: Path, timeout_s: float = 3600.0) -> FileLock:
    """An inter-process lock on `root` (created if absent); waiting longer than `timeout_s`
    raises `filelock.Timeout`."""
    root.mkdir(parents=True, exist_ok=True)
    return FileLock(root / LOCK_NAME, timeout=timeout_s)


@contextmanager
def staging(root: Path) -> Iterator[Path]:
    """A new folder inside `root` (same file system, so renames are atomic), removed on exit."""
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".download-") as tmp:
        yield Path(tmp)


def publish(files: Iterable[Path], folder: Path) -> None:
    """Move each finished file into `folder` with an atomic rename (replacing any old one)."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        os.replace(f, folder / f.name)
