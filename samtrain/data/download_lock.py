"""One dataset download at a time per cache folder, across processes.

Trials, DDP workers or sweeps starting together on a machine without the data would otherwise
download into the same folder at once, and one could read another's half-written archive. The
holder downloads; the others wait, look again and find the files.

Example:
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> with download_lock(root):
    ...     pass  # look for the files again; download only if still missing
    >>> (root / LOCK_NAME).exists()
    True
"""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock

LOCK_NAME = ".samtrain-download.lock"


def download_lock(root: Path, timeout_s: float = 3600.0) -> FileLock:
    """An inter-process lock on `root` (created if absent); waiting longer than `timeout_s`
    raises `filelock.Timeout`."""
    root.mkdir(parents=True, exist_ok=True)
    return FileLock(root / LOCK_NAME, timeout=timeout_s)
