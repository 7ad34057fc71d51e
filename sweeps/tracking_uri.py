"""The MLflow tracking URI of a sweep: its default, and a check that it can be used at all.

Checked before anything starts, so an unusable URI is one line and exit code 2, not a hang:
an `http(s)` server must answer `/health` within a few seconds (MLflow's own client would retry
a dead server for minutes), a `sqlite:///` file must be in an existing directory, and a `file:`
store (in maintenance mode since MLflow 3) is refused.

Example:
    >>> check_tracking_uri("sqlite:////nonexistent-dir/mlflow.db")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    sweeps.sweep_dir.SweepError: --tracking-uri: value ...: directory /nonexistent-dir does not exist
"""

from __future__ import annotations

from pathlib import Path

from sweeps.sweep_dir import SweepError

HEALTH_TIMEOUT_S = 5.0


def default_tracking_uri() -> str:
    """A sqlite file in the working directory (MLflow's file store is deprecated)."""
    return f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def check_tracking_uri(uri: str, timeout: float = HEALTH_TIMEOUT_S) -> None:
    """Raise `SweepError` (one line naming the URI) unless `uri` can be used right now."""
    where = f"--tracking-uri: value {uri!r}"
    if uri.startswith(("http://", "https://")):
        import requests

        try:
            requests.get(uri.rstrip("/") + "/health", timeout=timeout).raise_for_status()
        except requests.RequestException as e:
            raise SweepError(f"{where}: no MLflow server answers ({type(e).__name__}); start it "
                             "or pass another --tracking-uri") from None
    elif uri.startswith("sqlite:///"):
        folder = Path(uri.removeprefix("sqlite:///")).parent
        if not folder.is_dir():
            raise SweepError(f"{where}: directory {folder} does not exist")
    elif uri.startswith("file:") or "://" not in uri:
        raise SweepError(f"{where}: MLflow's file store is in maintenance mode; use "
                         "sqlite:///PATH/mlflow.db or an http(s) tracking server")
