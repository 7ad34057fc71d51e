"""A sweep's folder: `STORAGE/NAME/` and its `sweep.json`, the record that lets it be resumed.

`STORAGE` is a local folder or a URI on object storage (`s3://bucket/prefix`: see
`sweeps.store.remote`: the Tune experiments live there, the small files below are mirrored in a
local working copy, `SweepDir.root`). `STORAGE/NAME/` holds `space.yaml` (the study as given),
`sweep.json` (`SweepMeta`: the sweep id that finds its MLflow parent run, the budget, the
tracking URI), `optuna.db` (the Optuna study), `search/` (the Tune experiment; `search-2/`, ...
for trials `sweep extend` added), `confirm-*/` (seed re-runs), `train/` (Ray Train runs of
multi-worker trials), `outbox/` (MLflow records not yet delivered) and `report/`.

Example:
    >>> d = sweep_dir("/tmp/doc-runs", "tiny")
    >>> d.root.name, d.optuna_url.endswith("tiny/optuna.db")
    ('tiny', True)
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from samtrain.config.suggest import did_you_mean
from sweeps.errors import SpaceError, SweepError
from sweeps.store.remote import RemoteMirror, check_remote, is_remote, join
from sweeps.store.tracking_uri import refuse_credentials, refuse_secrets
from sweeps.study.spec import NAME_PATTERN, StudySpec, check_name
from sweeps.study.study_file import load_study

__all__ = ["SweepDir", "SweepMeta", "sweep_dir", "check_storage", "check_directory",
           "open_sweep", "sweep_names"]


@dataclass(frozen=True)
class SweepMeta:
    """What `sweep.json` records about a sweep (its tracking URI holds no password)."""

    name: str
    sweep_id: str
    budget: int | None  # the study's, or what `sweep extend` made of it (None: the file's own)
    tracking_uri: str
    source_sha256: str

    @staticmethod
    def new(study: StudySpec, tracking_uri: str) -> SweepMeta:
        """A new sweep's record; a tracking URI holding a password is refused (`refuse_secrets`)."""
        refuse_secrets(tracking_uri)
        return SweepMeta(study.name, uuid.uuid4().hex, study.budget, tracking_uri,
                         study.source_sha256)


@dataclass(frozen=True)
class SweepDir:
    """A sweep's folder: `root` itself, or, for a sweep on object storage, `mirror.uri` with
    `root` the local working copy of its small files (`sweeps.store.remote`)."""

    root: Path
    mirror: RemoteMirror | None = field(default=None, compare=False, repr=False)

    @property
    def location(self) -> str:
        """Where the sweep's Tune experiments live: a local path or a URI."""
        return self.mirror.uri if self.mirror else str(self.root)

    def at(self, name: str) -> str:
        """The path or URI of `name` in the sweep's folder (a Tune experiment, `train`, ...)."""
        return join(self.mirror.uri, name) if self.mirror else str(self.root / name)

    def experiments(self, prefix: str) -> list[str]:
        """Names of the sweep's folders starting with `prefix` (Tune experiments), sorted."""
        if self.mirror:
            return self.mirror.list_dirs(prefix)
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.glob(f"{prefix}*") if p.is_dir())

    def __reduce__(self) -> tuple:  # Tune pickles callbacks holding it: a remote sweep's
        if self.mirror:             # working copy is the unpickling process's own
            return (_reopen, (self.mirror.uri,))
        return (SweepDir, (self.root,))

    def push(self, *only: str) -> None:
        """Upload the working copy's changed files (those under `only`) to object storage; a
        no-op for a local sweep."""
        if self.mirror:
            self.mirror.push(*only)

    @property
    def space(self) -> Path:
        return self.root / "space.yaml"

    @property
    def meta_file(self) -> Path:
        return self.root / "sweep.json"

    @property
    def optuna_url(self) -> str:
        return f"sqlite:///{self.root / 'optuna.db'}"

    @property
    def train_storage(self) -> str:
        return self.at("train")

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    def exists(self) -> bool:
        return self.meta_file.is_file()

    def search_experiments(self) -> list[str]:
        """The search phase's Tune experiments in order: `search`, `search-2`, ... (those there)."""
        def index(name: str) -> int:
            return 1 if name == "search" else int(name.removeprefix("search-"))

        found = [n for n in self.experiments("search")
                 if n == "search" or n.removeprefix("search-").isdigit()]
        return sorted(found, key=index)

    def write(self, study: StudySpec, meta: SweepMeta) -> None:
        """Create the directory with the study file and `sweep.json` (written atomically)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.space.write_text(study.source_text)
        self.write_meta(meta)

    def write_meta(self, meta: SweepMeta) -> None:
        """Write `sweep.json` atomically (on object storage: after the files written before it)."""
        tmp = self.meta_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(asdict(meta), indent=1))
        os.replace(tmp, self.meta_file)
        self.push()

    def read_meta(self) -> SweepMeta:
        try:
            raw: dict[str, Any] = json.loads(self.meta_file.read_text(encoding="utf-8"))
            meta = SweepMeta(**raw)
        except (ValueError, TypeError) as e:
            raise SweepError(f"{self.at('sweep.json')} is not a sweep record ({e})") from None
        for key, value in asdict(meta).items():
            if key == "budget" and (value is None or type(value) is int):
                continue
            if key != "budget" and type(value) is str:
                continue
            want = "an integer or null" if key == "budget" else "a string"
            raise SweepError(f"{self.at('sweep.json')}: key {key!r}: value {value!r} is invalid: "
                             f"must be {want}")
        return meta


def check_directory(key: str, value: str | Path) -> Path:
    """`value` resolved, if it is a directory or can be made one: empty, an existing
    non-directory, or a path through a file is an error naming `key`."""
    if not str(value).strip():
        raise SweepError(f"{key}: value {str(value)!r} is invalid: it is empty; give a directory")
    path = Path(value).expanduser()
    for p in (path, *path.parents):  # the nearest existing one must be a directory
        if p.exists() or p.is_symlink():
            if not p.is_dir():
                what = "it exists" if p == path else f"{str(p)!r} exists"
                raise SweepError(f"{key}: value {str(value)!r} is invalid: {what} and is not a "
                                 "directory")
            break
    return path.resolve()


_checked: set[str] = set()
_opened: dict[str, SweepDir] = {}  # URI -> the working copy this process uses


def check_storage(storage: str | Path) -> Path | str:
    """The storage directory (resolved; see `check_directory`), or a URI on object storage that
    answers (`sweeps.store.remote.check_remote`; checked once per process)."""
    if not is_remote(storage):  # object storage URIs: `check_remote` refuses credentials
        refuse_credentials("--storage", str(storage), "a file:// URI names a folder and takes "
                           "none (never made a path)")
        text = str(storage)
        local = text[len("file://"):] if text.lower().startswith("file://") else storage
        return check_directory("--storage", local)
    if storage not in _checked:
        check_remote(str(storage))
        _checked.add(str(storage))
    return str(storage)


def sweep_dir(storage: str | Path, name: str) -> SweepDir:
    """`STORAGE/NAME` for a checked sweep name (letters, digits, `._-`: never a path). On object
    storage: its small files pulled into a working copy, once per process."""
    check_name("name", name)
    where = check_storage(storage)
    if isinstance(where, Path):
        return SweepDir(where / name)
    return _reopen(join(where, name))


def _reopen(uri: str) -> SweepDir:
    """The sweep at `uri` on object storage, its small files pulled into this process's working
    copy (once)."""
    if uri not in _opened:
        name = PurePosixPath(urlsplit(uri).path).name
        mirror = RemoteMirror(uri, Path(tempfile.mkdtemp(prefix=f"sweep-{name}-")))
        mirror.pull()
        atexit.register(_discard, mirror)
        _opened[uri] = SweepDir(mirror.root, mirror)
    return _opened[uri]


def _discard(mirror: RemoteMirror) -> None:
    """Remove a working copy at exit, unless its last upload failed (then it is kept)."""
    if not mirror.failed:
        shutil.rmtree(mirror.root, ignore_errors=True)


def sweep_names(storage: str | Path) -> list[str]:
    """Names of the sweeps in `storage` (folders holding a `sweep.json`), sorted."""
    where = check_storage(storage)
    if isinstance(where, Path):
        if not where.is_dir():
            return []
        return sorted(p.parent.name for p in where.glob("*/sweep.json")
                      if NAME_PATTERN.fullmatch(p.parent.name))
    from pyarrow import fs as pafs

    fs, base = pafs.FileSystem.from_uri(where)
    found = fs.get_file_info(pafs.FileSelector(base, recursive=False, allow_not_found=True))
    dirs = [PurePosixPath(i.path).name for i in found if i.type == pafs.FileType.Directory]
    metas = fs.get_file_info([str(PurePosixPath(base, n, "sweep.json")) for n in dirs])
    return sorted(n for n, m in zip(dirs, metas, strict=True)
                  if m.type == pafs.FileType.File and NAME_PATTERN.fullmatch(n))


def open_sweep(name: str, storage: str | Path) -> tuple[StudySpec, SweepMeta, SweepDir]:
    """The study, record and directory of an existing sweep."""
    try:
        d = sweep_dir(storage, name)
    except SpaceError as e:
        raise SweepError(str(e)) from None
    if not d.exists():
        others = sweep_names(storage)
        hint = did_you_mean(name, others) or (f"sweeps there: {', '.join(others[:10])}"
                                              if others else "no sweeps there")
        raise SweepError(f"sweep {name!r} not found: no {d.at('sweep.json')} ({hint}); give "
                         "--storage or set SWEEP_STORAGE to the folder holding it, or start it "
                         "with `sweep run`")
    meta = d.read_meta()
    try:
        study = load_study(d.space, budget=meta.budget, name=name)
    except SpaceError as e:  # the sweep's own copy of its study was edited or damaged
        shown = d.at("space.yaml")
        raise SweepError(str(e).replace(str(d.space), shown) if str(d.space) in str(e)
                         else f"{shown}: {e}") from None
    if meta.source_sha256 and study.source_sha256 != meta.source_sha256:
        raise SweepError(f"{d.at('space.yaml')} was edited after the sweep started (sha256 "
                         f"{study.source_sha256[:12]}, recorded {meta.source_sha256[:12]}); "
                         "restore it, or start a new sweep with the edited study")
    return study, meta, d
