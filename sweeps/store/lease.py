"""A sweep's driver lease: one driver at a time runs a sweep, whatever machine it is on.

A driver (`sweep run`, `resume`, `extend`, `confirm`) holds `lease.json` in the sweep's folder,
local or on object storage (written there directly, not mirrored), and rewrites it every
`HEARTBEAT_S` from a background thread. A second driver finds a fresh lease and is refused with a
message naming the holder (host, process id, command, since when); a lease not renewed for
`STALE_S` (its driver was killed, its machine lost) can be taken over with `--force`, and one
whose driver's process is gone from this machine is free at once; a driver
whose lease was taken over stops renewing it. A driver gives its lease back when it ends.

Example:
    >>> import tempfile
    >>> from sweeps.store.sweep_dir import SweepDir
    >>> d = SweepDir(Path(tempfile.mkdtemp()))
    >>> with hold_lease(d, "sweep resume tiny"):
    ...     read_lease(d).command
    'sweep resume tiny'
    >>> read_lease(d) is None
    True
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sweeps.errors import SweepError

__all__ = ["Lease", "hold_lease", "read_lease", "check_free", "HEARTBEAT_S", "STALE_S", "LEASE_FILE"]

LEASE_FILE = "lease.json"
HEARTBEAT_S = 10.0  # the holder rewrites its lease this often
STALE_S = 60.0      # a lease older than this belongs to a driver that is gone


@dataclass(frozen=True)
class Lease:
    """Who drives a sweep, and when it last said so (`renewed`, seconds since the epoch)."""

    holder: str  # host:pid:token, unique to one driver
    host: str
    pid: int
    command: str
    started: float
    renewed: float

    def age(self, now: float | None = None) -> float:
        """Seconds since the holder last renewed it."""
        return (time.time() if now is None else now) - self.renewed

    def gone(self) -> bool:
        """Its driver ran on this machine and its process no longer exists (killed: its lease
        is free at once, without waiting for `STALE_S`)."""
        if self.host != socket.gethostname() or self.pid <= 0:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # another user's process: alive
            return False
        try:  # a killed process its parent has not reaped yet (a zombie) is gone too
            return Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except (OSError, IndexError):
            return False

    def held(self) -> bool:
        """Renewed within `STALE_S` by a driver that is not known to be gone."""
        return self.age() < STALE_S and not self.gone()

    def describe(self) -> str:
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.started))
        return (f"`{self.command}` (pid {self.pid} on {self.host}, since {started}, renewed "
                f"{self.age():.0f} s ago)")


def _read(d: Any) -> bytes | None:
    if d.mirror is not None:
        return d.mirror.read_direct(LEASE_FILE)
    path = Path(d.root) / LEASE_FILE
    return path.read_bytes() if path.is_file() else None


def _write(d: Any, lease: Lease | None) -> None:
    data = None if lease is None else json.dumps(asdict(lease)).encode()
    if d.mirror is not None:
        d.mirror.write_direct(LEASE_FILE, data)
        return
    path = Path(d.root) / LEASE_FILE
    if data is None:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(f".{LEASE_FILE}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def read_lease(d: Any) -> Lease | None:
    """The sweep's lease (`d`: a `SweepDir`), or None; an unreadable one counts as stale."""
    raw = _read(d)
    if raw is None:
        return None
    try:
        return Lease(**json.loads(raw))
    except (ValueError, TypeError):
        return Lease("unreadable", "unknown host", 0, "unknown", 0.0, 0.0)


def check_free(d: Any, name: str, force: bool = False) -> None:
    """Raise `SweepError` naming the running driver when sweep `name` has a fresh lease, or a
    stale one and no `force`."""
    lease = read_lease(d)
    if lease is None or lease.gone():
        return
    if lease.held():
        raise SweepError(f"sweep {name!r} is running: {lease.describe()}; wait for it, or stop "
                         "it first (a second driver would run its trials twice)")
    if not force:
        raise SweepError(f"sweep {name!r}: a driver's lease was not renewed for "
                         f"{lease.age():.0f} s: {lease.describe()}; if that driver is gone, "
                         "take the sweep over with --force")


class _Heartbeat(threading.Thread):
    def __init__(self, d: Any, lease: Lease) -> None:
        super().__init__(name="sweep-lease", daemon=True)
        self.d, self.lease, self.stop = d, lease, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(HEARTBEAT_S):
            try:
                current = read_lease(self.d)
                if current is not None and current.holder != self.lease.holder:
                    print(f"sweep: the lease was taken over by {current.describe()}; this driver "
                          "stops renewing it", file=sys.stderr)
                    return
                self.lease = Lease(**{**asdict(self.lease), "renewed": time.time()})
                _write(self.d, self.lease)
            except OSError:  # storage briefly unreachable: the next beat tries again
                continue


@contextmanager
def hold_lease(d: Any, command: str, name: str = "", force: bool = False) -> Iterator[Lease]:
    """Check the sweep is free (`check_free`), take its lease, keep it fresh while the block
    runs, give it back at the end (unless another driver took it over meanwhile); a folder it
    made for the lease alone is removed again."""
    check_free(d, name or Path(d.root).name, force)
    now = time.time()
    host = socket.gethostname()
    lease = Lease(f"{host}:{os.getpid()}:{now:.6f}", host, os.getpid(), command, now, now)
    created = not Path(d.root).exists()
    Path(d.root).mkdir(parents=True, exist_ok=True)
    _write(d, lease)
    beat = _Heartbeat(d, lease)
    beat.start()
    try:
        yield lease
    finally:
        beat.stop.set()
        beat.join()
        current = read_lease(d)
        if current is not None and current.holder == lease.holder:
            _write(d, None)
        if created and not any(Path(d.root).iterdir()):  # refused before it wrote anything
            Path(d.root).rmdir()
