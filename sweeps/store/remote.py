"""A sweep on object storage: `--storage s3://bucket/prefix` (or any URI pyarrow's filesystems
take: `gs://...`, `hdfs://...`); a plain path stays a local folder.

Tune's experiments and checkpoints (`search/`, `confirm-*/`, `train*/`) live there and nowhere
else: Ray Tune and Ray Train read and write them through pyarrow, from whichever node runs the
trial. The sweep's own small files (`space.yaml`, `sweep.json`, `optuna.db`, the outbox journals,
`report/`) are mirrored: a command downloads them into a private working folder
(`RemoteMirror.pull`), works there, and uploads what it changed (`RemoteMirror.push`). A driver
uploads at every trial start and end, at most every `PUSH_EVERY_S` while trials report, and when
its experiment ends; `sweep report`/`analyze` upload their files. Commands that only read (status,
best) upload nothing, so they never race a running driver's uploads (the outbox records they
deliver are marked delivered by the driver; delivering one twice is harmless). Any machine that
reaches the storage can therefore run every command, with no copy left by an earlier one.

Credentials come from the environment, as pyarrow and boto read them: `AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL` (an
S3-compatible server), an instance role, or `~/.aws/credentials`. A URI holding them
(`s3://KEY:SECRET@bucket`, `?secret_key=`) is refused: Ray writes the storage URI into its
experiment state.

Example:
    >>> is_remote("s3://team-bucket/sweeps"), is_remote("runs"), is_remote("/data/runs")
    (True, False, False)
    >>> join("s3://b/runs?endpoint_override=127.0.0.1:9000", "tiny", "search")
    's3://b/runs/tiny/search?endpoint_override=127.0.0.1:9000'
"""

from __future__ import annotations

import re
import sys
import threading
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from sweeps.errors import SweepError
from sweeps.store.tracking_uri import redact

__all__ = ["is_remote", "join", "check_remote", "RemoteMirror", "PUSH_EVERY_S"]

PUSH_EVERY_S = 10.0
KEY = "--storage"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_CREDENTIAL_PARAMS = {"access_key", "secret_key", "session_token"}  # pyarrow's S3 URI options
# a sweep's small files; suite.json and suite.yaml: a suite's folder (`sweeps.store.suite_store`)
_FILES = {"space.yaml", "sweep.json", "optuna.db", "suite.json", "suite.yaml"}
_LOCAL_ONLY = {"lock"}  # an outbox's flock: meaningful on one machine only


def is_remote(storage: str | Path) -> bool:
    """Whether `storage` names a filesystem by URI scheme (`file://` is a local folder)."""
    m = _SCHEME.match(str(storage))
    return m is not None and m[1].lower() != "file"


def join(uri: str, *parts: str) -> str:
    """`uri` with `parts` appended to its path (its query, e.g. an endpoint override, kept)."""
    s = urlsplit(uri)
    path = "/".join([s.path.rstrip("/"), *parts])
    return urlunsplit((s.scheme, s.netloc, path, s.query, s.fragment))


def check_remote(storage: str) -> str:
    """`storage` if its filesystem opens and the location is a folder (or not there yet); else a
    `SweepError` naming `--storage`, the URI (its secrets masked) and what is wrong."""
    from pyarrow import fs as pafs

    shown = redact(storage)
    s = urlsplit(storage)
    held = sorted({k.lower() for k, _ in parse_qsl(s.query)} & _CREDENTIAL_PARAMS)
    if s.password is not None or s.username is not None or held:
        raise SweepError(f"{KEY}: value {shown!r} is invalid: it holds credentials "
                         f"({', '.join(held) or 'user:password@'}); give them in the environment "
                         "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...): Ray writes the storage "
                         "URI into its experiment state")
    try:
        filesystem, path = pafs.FileSystem.from_uri(storage)
        info = filesystem.get_file_info(path)
    except (ValueError, OSError) as e:
        raise SweepError(f"{KEY}: value {shown!r} is invalid: {_one_line(e)}") from None
    if info.type == pafs.FileType.File:
        raise SweepError(f"{KEY}: value {shown!r} is invalid: it is a file, not a folder")
    return storage


def _one_line(e: BaseException) -> str:
    return redact(" ".join(str(e).split()))[:300]


def _mirrored(rel: str) -> bool:
    """Whether a file of the sweep's folder is one of its mirrored small files."""
    top, *rest = rel.split("/")
    if not rest:
        return top in _FILES
    folder = top == "outbox" or top.endswith("-outbox") or top == "report"
    return folder and rest[-1] not in _LOCAL_ONLY and not rest[-1].endswith(".tmp")


class RemoteMirror:
    """The sweep folder `uri` on object storage and its working copy in the local folder `root`.

    Example::

        m = RemoteMirror("s3://team/sweeps/tiny", Path(tempfile.mkdtemp()))
        m.pull()                       # sweep.json, space.yaml, optuna.db, outboxes
        m.push()                       # what changed here since, uploaded
        m.push("report")               # only the report's files
    """

    def __init__(self, uri: str, root: Path) -> None:
        from pyarrow import fs as pafs

        self.uri, self.root = uri, Path(root)
        self.fs, self.path = pafs.FileSystem.from_uri(uri)
        self._sent: dict[str, tuple[int, int]] = {}  # rel path -> (size, mtime_ns) uploaded/pulled
        self._lock = threading.Lock()
        self.failed = False  # the last push left changes here (storage did not answer)

    def _remote(self, rel: str) -> str:
        return str(PurePosixPath(self.path, rel))

    def _stamp(self, rel: str) -> tuple[int, int]:
        st = (self.root / rel).stat()
        return st.st_size, st.st_mtime_ns

    def pull(self) -> int:
        """Download the mirrored files (not the report); return how many."""
        from pyarrow import fs as pafs

        selector = pafs.FileSelector(self.path, recursive=True, allow_not_found=True)
        got = 0
        for info in self.fs.get_file_info(selector):
            rel = PurePosixPath(info.path).relative_to(self.path).as_posix()
            if info.type != pafs.FileType.File or not _mirrored(rel) or rel.startswith("report/"):
                continue
            local = self.root / rel
            local.parent.mkdir(parents=True, exist_ok=True)
            with self.fs.open_input_stream(info.path) as f:
                local.write_bytes(f.read())
            self._sent[rel] = self._stamp(rel)
            got += 1
        return got

    def push(self, *only: str) -> int:
        """Upload the mirrored files changed here (those under `only`'s folders or names, if
        given), `sweep.json` last; delete there what was deleted here. Return how many changed;
        a storage error is reported on stderr and the files go with the next push."""
        def wanted(rel: str) -> bool:
            return _mirrored(rel) and (not only or any(
                rel == o or rel.startswith(o.rstrip("/") + "/") for o in only))

        with self._lock:
            here = sorted((p.relative_to(self.root).as_posix() for p in self.root.rglob("*")
                           if p.is_file()), key=lambda r: r == "sweep.json")
            changed = [r for r in here if wanted(r) and self._sent.get(r) != self._stamp(r)]
            present = set(here)
            gone = [r for r in self._sent if wanted(r) and r not in present]
            try:
                for rel in changed:
                    stamp = self._stamp(rel)  # before reading: a later write is sent next time
                    data = (self.root / rel).read_bytes()
                    with self.fs.open_output_stream(self._remote(rel)) as f:
                        f.write(data)
                    self._sent[rel] = stamp
                for rel in gone:
                    self.fs.delete_file(self._remote(rel))
                    del self._sent[rel]
            except OSError as e:
                self.failed = True
                print(f"storage: could not upload to {redact(self.uri)} ({_one_line(e)}); the "
                      f"files stay in {self.root} and go with the next upload", file=sys.stderr)
                return 0
            self.failed = False
            return len(changed) + len(gone)

    def read_direct(self, rel: str) -> bytes | None:
        """The bytes of `rel` on the storage itself (not mirrored), or None when it is absent."""
        try:
            with self.fs.open_input_stream(self._remote(rel)) as f:
                return f.read()
        except FileNotFoundError:
            return None

    def write_direct(self, rel: str, data: bytes | None) -> None:
        """Write `rel` on the storage itself (None: delete it, if there)."""
        if data is not None:
            with self.fs.open_output_stream(self._remote(rel)) as f:
                f.write(data)
            return
        try:
            self.fs.delete_file(self._remote(rel))
        except FileNotFoundError:
            pass

    def list_dirs(self, prefix: str) -> list[str]:
        """Names of the folders directly under the sweep's folder that start with `prefix`."""
        from pyarrow import fs as pafs

        selector = pafs.FileSelector(self.path, recursive=False, allow_not_found=True)
        return sorted(PurePosixPath(i.path).name for i in self.fs.get_file_info(selector)
                      if i.type == pafs.FileType.Directory
                      and PurePosixPath(i.path).name.startswith(prefix))
