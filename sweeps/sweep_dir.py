"""A sweep on disk: `STORAGE/NAME/` and its `sweep.json`, the record that lets it be resumed.

`STORAGE/NAME/` holds `space.yaml` (the study as given), `sweep.json` (`SweepMeta`: the sweep id
that finds its MLflow parent run, the budget, the tracking URI), `optuna.db` (the Optuna study),
`search/` (the Tune experiment), `confirm-*/` (seed re-runs), `train/` (Ray Train runs of
multi-worker trials), `outbox/` (MLflow records not yet delivered) and `report/`.

Example:
    >>> d = sweep_dir("/tmp/doc-runs", "tiny")
    >>> d.root.name, d.optuna_url.endswith("tiny/optuna.db")
    ('tiny', True)
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sweeps.distributions import SpaceError
from sweeps.study import StudySpec, check_name, load_study

__all__ = ["SweepError", "SweepDir", "SweepMeta", "sweep_dir", "check_storage", "open_sweep"]


class SweepError(RuntimeError):
    """A sweep cannot be started, resumed or read; the message is one line."""


@dataclass(frozen=True)
class SweepMeta:
    """What `sweep.json` records about a sweep."""

    name: str
    sweep_id: str
    budget: int
    tracking_uri: str
    source_sha256: str

    @staticmethod
    def new(study: StudySpec, tracking_uri: str) -> SweepMeta:
        return SweepMeta(study.name, uuid.uuid4().hex, study.budget, tracking_uri,
                         study.source_sha256)


@dataclass(frozen=True)
class SweepDir:
    root: Path

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
        return str(self.root / "train")

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    def exists(self) -> bool:
        return self.meta_file.is_file()

    def write(self, study: StudySpec, meta: SweepMeta) -> None:
        """Create the directory with the study file and `sweep.json` (written atomically)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.space.write_text(study.source_text)
        tmp = self.meta_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(asdict(meta), indent=1))
        os.replace(tmp, self.meta_file)

    def read_meta(self) -> SweepMeta:
        try:
            raw: dict[str, Any] = json.loads(self.meta_file.read_text())
            return SweepMeta(**raw)
        except (ValueError, TypeError) as e:
            raise SweepError(f"{self.meta_file} is not a sweep record ({e})") from None


def check_storage(storage: str | Path) -> Path:
    """The storage directory (resolved); an existing non-directory is an error."""
    path = Path(storage).expanduser()
    if path.exists() and not path.is_dir():
        raise SweepError(f"--storage: value {str(storage)!r} is invalid: it exists and is not a "
                         "directory")
    return path.resolve()


def sweep_dir(storage: str | Path, name: str) -> SweepDir:
    """`STORAGE/NAME` for a checked sweep name (letters, digits, `._-`: never a path)."""
    check_name("name", name)
    return SweepDir(check_storage(storage) / name)


def open_sweep(name: str, storage: str | Path) -> tuple[StudySpec, SweepMeta, SweepDir]:
    """The study, record and directory of an existing sweep."""
    try:
        d = sweep_dir(storage, name)
    except SpaceError as e:
        raise SweepError(str(e)) from None
    if not d.exists():
        raise SweepError(f"sweep {name!r} not found: no {d.meta_file}; start it with `sweep run`")
    meta = d.read_meta()
    return load_study(d.space, budget=meta.budget, name=name), meta, d
