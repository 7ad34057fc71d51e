"""Throwaway servers on 127.0.0.1 for the tracking tests and benchmarks: PostgreSQL (Debian's
`postgresql` package), an S3 server (`moto_server`) and `mlflow server` on top of them.

Each starts on a free port, binds 127.0.0.1 only, keeps its files in a directory of its own and
is ended by its process id (never by name). `PostgreSQL.start()` raises `ServiceUnavailable`
(the reason in one line) where the server cannot be found or started; tests turn that into a
skip. The CI installs the package first (`scripts/ensure_postgresql.sh`, run by `.ci/run`).

Example::

    pg = PostgreSQL().start()                 # initdb + pg_ctl start, password auth over TCP
    s3 = S3Server(tmp).start()                # moto_server, one bucket
    server = MlflowServer(tmp, backend=pg.uri("mlflow"), artifacts=s3.bucket_uri,
                          env=s3.env).start()
    ...
    server.stop(); s3.stop(); pg.stop()
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

PG_BIN_GLOBS = ("/usr/lib/postgresql/*/bin",)
PG_USER = "sweep"  # the database superuser the tests connect as (password auth)
INSTALL_HINT = "run scripts/ensure_postgresql.sh as root (apt-get install postgresql)"


class ServiceUnavailable(RuntimeError):
    """A server this machine cannot start (missing package, refused start): skip, don't fail."""


class Exited(RuntimeError):
    """A server process ended while we waited for it to answer."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except Exited:
            raise
        except Exception:  # noqa: BLE001 - not answering yet
            value = None
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def _kill_group(proc: subprocess.Popen | None) -> None:
    """SIGKILL a process started with `start_new_session=True` and everything it started."""
    if proc is not None and proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# ---------------------------------------------------------------- PostgreSQL


def postgres_bin() -> Path | None:
    """The directory of `initdb`/`pg_ctl`/`postgres` (Debian keeps them off PATH), newest first."""
    import glob

    found = sorted(glob.glob(f"{PG_BIN_GLOBS[0]}/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name
                   .isdigit() else 0, reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _unprivileged() -> pwd.struct_passwd | None:
    """The account the server runs as when we are root (`initdb` refuses root): Debian's
    `postgres`, else `nobody`; None when we are not root (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise ServiceUnavailable("running as root and neither a 'postgres' nor a 'nobody' account "
                             "exists to run PostgreSQL as (initdb refuses root)")


class PostgreSQL:
    """A private PostgreSQL cluster: its own data directory, 127.0.0.1 on a free port, password
    (scram-sha-256) authentication for `sweep`, no Unix socket outside its directory."""

    def __init__(self, password: str | None = None) -> None:
        self.password = password or secrets.token_hex(12)
        self.port = free_port()
        self.root: Path | None = None
        self.bin: Path | None = None
        self._user = None

    def _run(self, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
        kw: dict[str, Any] = {}
        if self._user is not None:
            kw = {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8",
               "LANG": "C.UTF-8", "HOME": str(self.root)}
        return subprocess.run(args, cwd=self.root, env=env, capture_output=True, text=True,
                              timeout=timeout, **kw)

    def start(self) -> PostgreSQL:
        self.bin = postgres_bin()
        if self.bin is None:
            raise ServiceUnavailable(f"PostgreSQL is not installed (no initdb); {INSTALL_HINT}")
        self._user = _unprivileged()
        self.root = Path(tempfile.mkdtemp(prefix="samsweep-pg-", dir="/tmp"))
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self._user is not None:
            os.chown(self.root, self._user.pw_uid, self._user.pw_gid)
            os.chown(pwfile, self._user.pw_uid, self._user.pw_gid)
        pwfile.chmod(0o600)
        data = self.root / "data"
        init = self._run([str(self.bin / "initdb"), "-D", str(data), "-U", PG_USER,
                          f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8",
                          "--no-instructions"])
        pwfile.unlink()
        if init.returncode != 0:
            self.stop()
            raise ServiceUnavailable(f"initdb failed: {' '.join(init.stderr.split())[-300:]}")
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
                "-c fsync=off -c max_connections=200")
        started = self._run([str(self.bin / "pg_ctl"), "-D", str(data), "-l",
                             str(self.root / "server.log"), "-o", opts, "-w", "-t", "60", "start"])
        if started.returncode != 0:
            log = (self.root / "server.log").read_text(errors="replace")[-300:]
            self.stop()
            raise ServiceUnavailable(f"PostgreSQL did not start: {' '.join(log.split())}")
        return self

    def uri(self, database: str = "postgres", password: bool = True,
            driver: str = "postgresql") -> str:
        auth = f"{PG_USER}:{self.password}" if password else PG_USER
        return f"{driver}://{auth}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create database `name` (dropped first if it exists); return its URI with password."""
        import psycopg

        with psycopg.connect(self.uri(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.uri(name)

    def stop(self) -> None:
        """Stop at once (`-m immediate`) and remove its files."""
        if self.root is None:
            return
        if self.bin is not None and (self.root / "data" / "postmaster.pid").is_file():
            with contextlib.suppress(Exception):
                self._run([str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m",
                           "immediate", "-w", "stop"], timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None


# ---------------------------------------------------------------- S3 (moto)


class S3Server:
    """`moto_server` on 127.0.0.1 with one bucket; `env` holds what a client needs to use it."""

    def __init__(self, root: Path, bucket: str = "mlflow-artifacts",
                 key_id: str = "testing", secret: str | None = None) -> None:
        self.root, self.bucket, self.port = Path(root), bucket, free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.env = {"MLFLOW_S3_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": key_id,
                    "AWS_SECRET_ACCESS_KEY": secret or secrets.token_hex(16),
                    "AWS_DEFAULT_REGION": "us-east-1"}
        self.proc: subprocess.Popen | None = None

    @property
    def bucket_uri(self) -> str:
        return f"s3://{self.bucket}/mlartifacts"

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint,
                            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
                            region_name=self.env["AWS_DEFAULT_REGION"])

    def start(self, timeout: float = 90) -> S3Server:
        try:
            import moto.server  # noqa: F401
        except ImportError as e:
            raise ServiceUnavailable(f"moto[server] is not installed ({e})") from None
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / "moto.log").open("a") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log, stderr=log, start_new_session=True)
        wait_until(lambda: urllib.request.urlopen(self.endpoint, timeout=2).status == 200,
                   timeout, f"moto_server on port {self.port}")
        self.client().create_bucket(Bucket=self.bucket)
        return self

    def keys(self) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def stop(self) -> None:
        _kill_group(self.proc)
        self.proc = None


# ---------------------------------------------------------------- mlflow server


class MlflowServer:
    """`mlflow server` on 127.0.0.1: a sqlite store in `root` by default, or `backend` (e.g. a
    postgresql:// URI); artifacts in `root/artifacts`, or proxied to `artifacts` (e.g. an s3://
    URI, `--artifacts-destination`). Stopped (SIGKILL, an outage) and restarted on the same port
    and store."""

    def __init__(self, root: Path, backend: str | None = None, artifacts: str | None = None,
                 env: dict[str, str] | None = None, workers: int = 1) -> None:
        self.root, self.port = Path(root), free_port()
        self.backend = backend or f"sqlite:///{self.root / 'server.db'}"
        self.artifacts, self.env, self.workers = artifacts, env or {}, workers
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        where = (["--artifacts-destination", self.artifacts] if self.artifacts else
                 ["--default-artifact-root", str(self.root / "artifacts")])
        return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", self.backend,
                *where, "--host", "127.0.0.1", "--port", str(self.port),
                "--workers", str(self.workers)]

    def start(self, timeout: float = 180) -> MlflowServer:
        self.root.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **self.env}
        with (self.root / "server.log").open("a") as log:
            self.proc = subprocess.Popen(self.command(), env=env, stdout=log, stderr=log,
                                         start_new_session=True)
        try:
            wait_until(self.healthy, timeout, f"the MLflow server on port {self.port}")
        except (TimeoutError, Exited):
            tail = (self.root / "server.log").read_text(errors="replace")[-2000:]
            self.stop()
            raise RuntimeError(f"the MLflow server on port {self.port} did not start within "
                               f"{timeout} s; its log ends:\n{tail}") from None
        return self

    def healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise Exited(f"mlflow server exited with {self.proc.returncode}")
        with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as r:
            return r.status == 200

    def stop(self) -> None:
        """Kill the server and its workers at once (an outage, not a clean shutdown)."""
        _kill_group(self.proc)
        self.proc = None
