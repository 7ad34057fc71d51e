"""The MLflow tracking URI of a sweep: its default, a check that it can be used at all, and
the one place its secrets are kept out of everything the project writes.

The default is MLflow's own convention: `$MLFLOW_TRACKING_URI` when it is set (and not empty),
else `sqlite:///$PWD/mlflow.db` (`default_tracking_uri`). A relative sqlite path is made absolute
(`absolute_tracking_uri`), so a sweep's recorded URI names the same file from any directory.

Checked before anything starts, so an unusable URI is one line and exit code 2, not a hang:
an `http(s)` server must answer `/health` within a few seconds (MLflow's own client would retry
a dead server for minutes), a `postgresql://` database must accept a connection within a few
seconds, a `sqlite:///` file must be in an existing directory and be an sqlite database (or not
exist yet), and an empty URI or a `file:` store (in maintenance mode since MLflow 3) is refused.

Secrets: a tracking URI never holds a password (`postgresql://user:PASSWORD@host/db`,
`https://user:PASSWORD@host`, `?password=...`, for every scheme): `refuse_secrets` stops it
with one line naming where the password goes instead: `MLFLOW_TRACKING_USERNAME` and
`MLFLOW_TRACKING_PASSWORD` for an http(s) server (MLflow reads them), `PGPASSWORD` or
`~/.pgpass` for PostgreSQL (libpq reads them). A user name alone is no secret and is allowed
(`postgresql://mlflow@db:5432/mlflow`), except in a `file:`/`sqlite:` URI, which names a path.
So no URI the project stores, pickles (Tune's experiment state) or logs can hold a password;
`redact` still masks one in any text (error messages quoting a URI).

Example:
    >>> check_tracking_uri("sqlite:////nonexistent-dir/mlflow.db")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    sweeps.errors.SweepError: --tracking-uri: value ...: directory /nonexistent-dir does not exist
    >>> refuse_secrets("postgresql://ada:s3cret@db/mlflow")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    sweeps.errors.SweepError: --tracking-uri: value 'postgresql://ada:***@db/mlflow' holds a password; ...
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sweeps.errors import SweepError

HEALTH_TIMEOUT_S = 5.0
SQLITE_HEADER = b"SQLite format 3\x00"
ENV_VAR = "MLFLOW_TRACKING_URI"
MASK = "***"
# `scheme://user:SECRET@`: the user part stops at the first `:`, the secret at the first `@`
# (a raw `/` or `:` in a database password included, as SQLAlchemy parses it; not in an http URL,
# where `http://host:5000/path@x` has no password)
_USERINFO = re.compile(r"(\b([A-Za-z][A-Za-z0-9+.\-]*)://[^:/?#@\s'\"]*):([^@\s'\"]*)@")
_SECRET_PARAMS = ("password", "passwd", "pwd", "sslpassword", "secret", "token", "access_token",
                  "secret_key", "aws_secret_access_key", "session_token", "aws_session_token",
                  "x-amz-signature", "x-amz-security-token", "sig")
_QUERY_SECRET = re.compile(r"(?i)([?&;](?:" + "|".join(re.escape(k) for k in _SECRET_PARAMS)
                           + r")=)([^&;\s'\"#]*)")


def redact(text: str) -> str:
    """`text` with every URI password and secret query value in it replaced by `***`.

    >>> redact("could not reach postgresql+psycopg://mlflow:pa:ss/w0rd@db:5432/m?password=x&a=1")
    'could not reach postgresql+psycopg://mlflow:***@db:5432/m?password=***&a=1'
    >>> redact("http://127.0.0.1:5000/a@b stays as it is")
    'http://127.0.0.1:5000/a@b stays as it is'
    """
    return _QUERY_SECRET.sub(lambda m: f"{m[1]}{MASK}", _replace_passwords(text, f":{MASK}"))


def _replace_passwords(text: str, by: str) -> str:
    """`text` with the `:PASSWORD` of every `scheme://user:PASSWORD@` in it replaced by `by`."""
    def one(m: re.Match) -> str:
        http_path = m[2].lower() in ("http", "https") and re.search(r"[/?#]", m[3])
        return m[0] if http_path else f"{m[1]}{by}@"  # `http://host:5000/a@b` has no password

    return _USERINFO.sub(one, text)


_AUTHORITY_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://([^/?#]*)@")


def masked(uri: str) -> str:
    """`uri` with everything before `@` in its authority, and secret query values, as `***`.

    >>> masked("s3://AKIAKEY:s3cret@bucket/runs?token=t")
    's3://***@bucket/runs?token=***'
    """
    return redact(_AUTHORITY_USERINFO.sub(lambda m: f"{m[1]}://{MASK}@", uri))


def refuse_credentials(key: str, uri: str, why: str) -> None:
    """`SweepError` (one line, the credentials masked) when `uri` holds credentials: a user or
    password before `@`, or a secret query parameter; `why` says where they belong instead.

    >>> refuse_credentials("--storage", "file://ada:pw@/data/runs", "a path takes none")
    Traceback (most recent call last):
    sweeps.errors.SweepError: --storage: value 'file://***@/data/runs' holds credentials; a path takes none
    >>> refuse_credentials("--storage", "s3://bucket/runs", "")  # none: nothing happens
    """
    if _AUTHORITY_USERINFO.match(uri) or redact(uri) != uri:
        raise SweepError(f"{key}: value {masked(uri)!r} holds credentials; {why}")


_INSTEAD = (  # (URI pattern, where its password goes instead)
    (re.compile(r"(?i)https?://"), "give it in MLFLOW_TRACKING_USERNAME and "
     "MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN), which MLflow reads"),
    (re.compile(r"(?i)postgres(ql)?(\+\w+)?://"), "give it in PGPASSWORD or ~/.pgpass, which "
     "libpq reads (psycopg drivers)"),
)


def refuse_secrets(uri: str, key: str = "--tracking-uri") -> None:
    """`SweepError` (one line: `key`, the URI with its password masked, where the password goes
    instead) when tracking URI `uri` holds a password or a secret query value, for any scheme; a
    user name alone is no secret (`file:`/`sqlite:` refuse that too: a path takes none).

    >>> refuse_secrets("https://alice:pw@mlflow.lan", key="MLFLOW_TRACKING_URI")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    sweeps.errors.SweepError: MLFLOW_TRACKING_URI: value 'https://alice:***@mlflow.lan' holds a password; ...
    >>> refuse_secrets("postgresql://mlflow@db.lan:5432/mlflow")  # a user alone: allowed
    """
    if uri.lower().startswith(("file:", "sqlite:")):
        refuse_credentials(key, uri, "a file or sqlite URI names a path and takes none")
    if redact(uri) == uri:
        return
    instead = next((why for pattern, why in _INSTEAD if pattern.match(uri)),
                   "credentials in a tracking URI are not supported for this scheme")
    raise SweepError(f"{key}: value {redact(uri)!r} holds a password; {instead}")


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
    """Raise `SweepError` (one line naming `key` and the URI, its password masked) unless `uri`
    holds no password (`refuse_secrets`) and can be used right now."""
    where = f"{key}: value {redact(uri)!r}"
    if not uri.strip():
        raise SweepError(f"{where}: it is empty; use sqlite:///PATH/mlflow.db or an http(s) "
                         "tracking server")
    refuse_secrets(uri, key)
    if uri.startswith(("http://", "https://")):
        import requests

        try:
            requests.get(uri.rstrip("/") + "/health", timeout=timeout).raise_for_status()
        except requests.RequestException as e:
            raise SweepError(f"{where}: no MLflow server answers ({type(e).__name__}); start it "
                             "or pass another --tracking-uri") from None
    elif re.match(r"postgres(ql)?(\+\w+)?://", uri):
        _check_database(uri, where, timeout)
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


def _check_database(uri: str, where: str, timeout: float) -> None:
    """Open and close one connection (the password from `PGPASSWORD` or `~/.pgpass`)."""
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(uri, connect_args={"connect_timeout": max(1, round(timeout))})
        with engine.connect():
            pass
        engine.dispose()
    except ImportError as e:
        raise SweepError(f"{where}: its database driver is not installed ({e}); pip install "
                         "'psycopg[binary]'") from None
    except Exception as e:  # noqa: BLE001 - any refusal is the same one line
        # the driver's message (first line): refused, unknown host, password authentication failed
        first = str(getattr(e, "orig", None) or e).strip().splitlines()[0][:300]
        raise SweepError(f"{where}: the database does not accept a connection ({redact(first)}); "
                         "start it, or give the password in PGPASSWORD or ~/.pgpass") from None
