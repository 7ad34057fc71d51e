"""A team's tracking store: MLflow on PostgreSQL, many trials logging at once, secrets kept.

The servers are started here on 127.0.0.1 (tests/support/services.py): PostgreSQL from Debian's
`postgresql` package (`.ci/run` installs it: `scripts/ensure_postgresql.sh`), an S3 server
(`moto_server`) for artifacts, `mlflow server` on both. Every test here skips, naming the
reason, where PostgreSQL cannot be installed or started.

- 64 synthetic trials report every epoch through the project's own path (MLflowTrialCallback ->
  Outbox -> SweepWriter, `benchmarks/tracking_load.py`) to the server, which is killed
  (SIGKILL) and restarted on the same port and database mid-load; the database is then read
  with SQL: one run per trial, all params, every point once with its value. The drivers send a
  basic-auth password from `MLFLOW_TRACKING_PASSWORD` that neither the output nor the outbox holds.
- A real sweep logs straight to PostgreSQL, its password in `PGPASSWORD` (a password in
  `--tracking-uri` is refused), while AWS and MLflow secrets sit in its environment; none of them
  appears in any file the sweep, its report or Ray wrote, in its output, or in an MLflow param,
  tag or metric.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from benchmarks.tracking_load import Backend, run_load
from tests.support.faults import Sweep, private_ray_tmpdir, study_yaml, sweep_env
from tests.support.services import PostgreSQL, S3Server, ServiceUnavailable

TRIALS, EPOCHS, METRICS = 64, 5, 8  # a report per trial per second: 64 writes/s offered
PLANTED = {"db": f"pgPLANTED{secrets.token_hex(6)}", "aws": f"awsPLANTED{secrets.token_hex(8)}",
           "mlflow": f"mlflowPLANTED{secrets.token_hex(6)}"}


@pytest.fixture(scope="module")
def pg():
    try:
        server = PostgreSQL(password=PLANTED["db"]).start()
    except ServiceUnavailable as e:
        pytest.skip(f"PostgreSQL unavailable: {e}")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    try:
        server = S3Server(tmp_path_factory.mktemp("s3"), secret=PLANTED["aws"]).start()
    except ServiceUnavailable as e:
        pytest.skip(f"S3 server unavailable: {e}")
    yield server
    server.stop()


def test_64_trials_log_every_epoch_once_through_a_server_killed_mid_load(pg, s3, tmp_path,
                                                                          capfd, monkeypatch):
    study = tmp_path / "study.yaml"
    study.write_text("name: load\n")
    backend = Backend("server-postgres", tmp_path, pg, s3)
    # the drivers (spawned: they inherit this environment) send basic auth from MLflow's own
    # variables (this server ignores it); the password is never written
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PLANTED["mlflow"])
    try:
        run = run_load(backend, trials=TRIALS, drivers=1, epochs=EPOCHS, metrics=METRICS,
                       epoch_s=1.0, kill_at=0.4, source_file=str(study))
    finally:
        backend.close()
    c = run.count
    assert run.outage_s is not None and not run.left, (run.left, run.last_errors)
    assert (c.runs, c.duplicate_runs, c.params_ok) == (TRIALS, 0, TRIALS), c
    assert c.points == c.expected == TRIALS * EPOCHS * METRICS, c
    assert c.lost == 0 and c.duplicated == 0, c
    assert run.exact and len(run.delays_ms) == TRIALS * EPOCHS
    # artifacts went through the server to S3: the parent's study file
    assert any(k.endswith("/artifacts/study.yaml") for k in s3.keys()), s3.keys()
    out, err = capfd.readouterr()  # the drivers' output (MLflow prints run URLs unless told not to)
    assert PLANTED["mlflow"] not in out + err
    journal = next(tmp_path.glob("load-*/d0/outbox/journal.jsonl"))
    assert _leaks(journal.parent.parent, list(PLANTED.values())) == []


def _leaks(root: Path, secrets_: list[str]) -> list[str]:
    """Files under `root` holding any of `secrets_` (bytes, binary files included)."""
    found = []
    for f in root.rglob("*"):
        if f.is_file() and not f.is_symlink():
            try:
                data = f.read_bytes()
            except OSError:
                continue
            found += [f"{f}: {s[:6]}..." for s in secrets_ if s.encode() in data]
    return found


@pytest.mark.ray
def test_planted_credentials_appear_nowhere_the_project_writes(pg, tmp_path, monkeypatch):
    with_password = pg.create_database("secrets")  # postgresql://sweep:<planted>@127.0.0.1:PORT/..
    uri = with_password.replace(f":{PLANTED['db']}@", "@")  # the user alone: no secret
    assert PLANTED["db"] not in uri and "sweep@127.0.0.1" in uri
    planted = list(PLANTED.values())
    (tmp_path / "s.yaml").write_text(study_yaml("secrets", epochs=2, sam=False, batch_size=64))
    env_secrets = {"AWS_ACCESS_KEY_ID": "AKIAPLANTEDKEY", "AWS_SECRET_ACCESS_KEY": PLANTED["aws"],
                   "MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": PLANTED["mlflow"]}
    logs = tmp_path / "logs"
    with private_ray_tmpdir() as ray_tmp:
        env = sweep_env(ray_tmp, **env_secrets)
        env.pop("PGPASSWORD", None)
        # a password in --tracking-uri: refused at once, nothing written, the password masked
        refused = Sweep(["run", "s.yaml", "--storage", "runs", "--tracking-uri", with_password],
                        env, tmp_path, logs)
        rc, out, err = refused.wait(timeout=120)
        assert rc == 2 and len(err.splitlines()) == 1, refused.tail()
        assert "'postgresql://sweep:***@127.0.0.1:" in err and "PGPASSWORD" in err, err
        assert not (tmp_path / "runs").exists()
        # the password from PGPASSWORD, which libpq reads (MLflow's SQLAlchemy store, psycopg)
        run = Sweep(["run", "s.yaml", "--storage", "runs", "--tracking-uri", uri],
                    {**env, "PGPASSWORD": PLANTED["db"]}, tmp_path, logs)
        try:
            rc, out, err = run.wait(timeout=300)
        finally:
            run.kill()
        assert rc == 0, run.tail()
        ray_leaks = _leaks(Path(ray_tmp), planted)  # Ray's session logs, before they are removed
    assert f'"tracking_uri": "{uri}"' in (tmp_path / "runs" / "secrets" / "sweep.json").read_text()

    # a later command gets the password from PGPASSWORD (libpq) too, not from a file of the sweep
    status = Sweep(["status", "secrets", "--storage", "runs"], env, tmp_path, logs)
    rc, out, err = status.wait(timeout=120)
    assert rc == 2 and "does not accept a connection" in err and "PGPASSWORD" in err, status.tail()
    report = Sweep(["report", "secrets", "--storage", "runs"], {**env, "PGPASSWORD": PLANTED["db"]},
                   tmp_path, logs)
    rc, out, err = report.wait(timeout=180)
    assert rc == 0, report.tail()
    assert (tmp_path / "runs" / "secrets" / "report" / "report.md").is_file()
    assert uri in (tmp_path / "runs" / "secrets" / "report" / "report.md").read_text()

    # files: sweep.json, the outbox journal, Tune's experiment state, checkpoints, the report, the
    # artifacts (./mlruns of a database store), every command's stdout and stderr
    assert ray_leaks == [] and _leaks(tmp_path, planted) == []
    monkeypatch.setenv("PGPASSWORD", PLANTED["db"])
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("secrets")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 2  # the parent and one trial
    for r in runs:
        text = repr((r.data.params, r.data.tags, r.data.metrics, r.info))
        assert not [s for s in planted if s in text], r.info.run_id
