"""The MLflow tracking URI of a sweep: its default, and a check that it can be used at all.

The default is MLflow's own convention: `$MLFLOW_TRACKING_URI` when it is set (and not empty),
else `sqlite:///$PWD/mlflow.db` (`default_tracking_uri`). A relative sqlite path is made absolute
(`absolute_tracking_uri`), so a sweep's recorded URI names the same file from any directory.

Checked before anything starts, so an unusable URI is one line and exit code 2, not a hang:
an `http(s)` server must answer `/health` within a few seconds (MLflow's own client would retry
a dead server for minutes), a `sqlite:///` file must be in an existing directory and be an sqlite
database (or not exist yet), and an empty URI or a `file:` store (in maintenance mode since
MLflow 3) is refused.

Example:
    >>> check_tracking_uri("sqlite:////nonexistent-dir/mlflow.db")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    sweeps.errors.SweepError: --tracking-uri: value ...: directory /nonexistent-dir does not exist
"""

from __future__ import annotations

import os
from pathlib import Path

from sweeps.errors import SweepError

HEALTH_TIMEOUT_S = 5.0
SQLITE_HEADER = b"SQLite format 3\x00"
ENV_VAR = "MLFLOW_TRACKING_URI"


def default_tracking_uri() -> tuple[str, str]:
    """`(uri, where it came from)`: `$MLFLOW_TRACKING_URI` when set and not blank, else a sqlite
    file in the working directory (MLflow's file store is deprecated)."""
    env = os.environ.get(ENV_VAR, "")
    if env.strip():
        return env, f"{ENV_VAR} (environment)"
    return f"sqlite:///{Path.cwd() / 'mlflow.db'}", "default tracking URI"


def absolute_tracking_uri(uri: str) -> str:
    """`uri` with a relative sqlite path made absolute (from the working directory).

    >>> absolute_tracking_uri("http://127.0.0.1:5000")
    'http://127.0.0.1:5000'
    >>> absolute_tracking_uri("sqlite:///m.db") == f"sqlite:///{Path.cwd() / 'm.db'}"
    True
    """
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_absolute():
        return f"sqlite:///{Path.cwd() / uri.removeprefix('sqlite:///')}"
    return uri


def _head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(len(SQLITE_HEADER))


def check_tracking_uri(uri: str, timeout: float = HEALTH_TIMEOUT_S,
                       key: str = "--tracking-uri") -> None:
    """Raise `SweepError` (one line naming `key` and the URI) unless `uri` can be used right now."""
    where = f"{key}: value {uri!r}"
    if not uri.strip():
        raise SweepError(f"{where}: it is empty; use sqlite:///PATH/mlflow.db or an http(s) "
                         "tracking server")
    if uri.startswith(("http://", "https://")):
        import requests

        try:
            requests.get(uri.rstrip("/") + "/health", timeout=timeout).raise_for_status()
        except requests.RequestException as e:
            raise SweepError(f"{where}: no MLflow server answers ({type(e).__name__}); start it "
                             "or pass another --tracking-uri") from None
    elif uri.startswith("sqlite:///"):
        db = Path(uri.removeprefix("sqlite:///"))
        if not db.parent.is_dir():
            raise SweepError(f"{where}: directory {db.parent} does not exist")
        if db.is_dir():
            raise SweepError(f"{where}: {db} is a directory, not an sqlite database file")
        if db.is_file() and db.stat().st_size and _head(db) != SQLITE_HEADER:
            raise SweepError(f"{where}: {db} is not an sqlite database file")
    elif uri.startswith("file:") or "://" not in uri:
        raise SweepError(f"{where}: MLflow's file store is in maintenance mode; use "
                         "sqlite:///PATH/mlflow.db or an http(s) tracking server")
