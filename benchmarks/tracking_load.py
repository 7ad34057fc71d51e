"""Many trials logging at once: writes/s and the delay from a trial's report to MLflow, counted.

N concurrent synthetic trials report every epoch (E epochs, K metrics each) through the
project's own MLflow path, as a sweep's driver sees them: Tune's events call
`MLflowTrialCallback` (on_trial_start, on_trial_result, on_trial_complete) from the driver's one
event thread, the callback appends to the sweep's `Outbox` journal, and the outbox thread
delivers through `SweepWriter`. `--drivers D` runs D such drivers (D sweeps of N / D trials, one
process each) against the same store at once, as a team's sweeps would. Trial i starts at
i x epoch_s / N and reports every `--epoch-s` seconds.

Backends (`--backends`):
- `sqlite`: the default tracking store, a sqlite file opened by every driver;
- `server-postgres`: `mlflow server` (`--server-workers`, default 1) on a PostgreSQL started
  here (Debian's `postgresql`, `tests/support/services.py`), artifacts proxied to an S3 server
  (`moto_server`); the drivers use its http:// URI;
- `postgres`: the drivers open the same PostgreSQL database directly (postgresql:// URI).

Measured per run: writes/s reported (outbox operations the callback appended per second while
the trials reported) and delivered (from the first report to the last delivery; one operation:
child = search + create + params, epoch = one log_batch, finish = log_batch + terminate),
writes per request (the outbox sends a run's waiting epochs as one log_batch), metric points/s;
the delay of every epoch from the callback's report timestamp to the end of the request that
stored it (committed: any reader sees it), p50/p95/max. Afterwards the backend database itself
is read (SQL): runs per trial, params per run, metric rows per (run, key, step) and their values
against what was reported: lost and duplicated are counted, not assumed. `--kill F` kills the
MLflow server (SIGKILL, whole process group) once a fraction F of the operations is delivered
and restarts it on the same port and database; the drivers keep reporting meanwhile.

    python -m benchmarks.tracking_load [--trials 16,64] [--drivers 1] [--epochs 10] [--metrics 12]
        [--epoch-s 1.0] [--backends sqlite,server-postgres,postgres] [--kill 0.4] [--quick]
"""

from __future__ import annotations

import argparse
import datetime
import heapq
import multiprocessing as mp
import os
import platform
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

BACKENDS = ("sqlite", "server-postgres", "postgres")


# ---------------------------------------------------------------- one driver (its own process)


def metric_value(trial: int, epoch: int, k: int) -> float:
    """What trial `trial` reports for metric `m{k}` at `epoch` (exact in binary: compared ==)."""
    return trial + epoch / 8 + k / 64


def trial_result(trial: int, epoch: int, epochs: int, metrics: int) -> dict[str, Any]:
    """A Tune result as the driver sees it: `epoch` plus K - 1 metrics, Tune's bookkeeping,
    the loop's status and node."""
    r: dict[str, Any] = {"epoch": epoch, "training_iteration": epoch, "time_this_iter_s": 0.1,
                         "status": "completed" if epoch == epochs else "running",
                         "node_id": f"node-{trial % 4}"}
    r.update({f"m{k}": metric_value(trial, epoch, k) for k in range(1, metrics)})
    return r


def drive(spec: dict[str, Any], ready: Any, go: Any, out: Any) -> None:
    """One sweep's driver process: its figures, or the error that ended it, on `out`."""
    import traceback

    try:
        out.put(_drive(spec, ready, go))
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
        out.put({"error": traceback.format_exc()})


def _drive(spec: dict[str, Any], ready: Any, go: Any) -> dict[str, Any]:
    """Set up, wait for `go`, run the trials' schedule, flush, return the figures."""
    from samtrain.config.train_config import TrainConfig
    from sweeps.execution.mlflow_callback import MLflowTrialCallback
    from sweeps.search.trial_config import trial_config
    from sweeps.store import outbox
    from sweeps.store.writer import MLflowTarget

    if not spec["merge"]:
        outbox.MERGE_POINTS = 0  # one request per operation, as before merging
    n, epochs, metrics, epoch_s = spec["trials"], spec["epochs"], spec["metrics"], spec["epoch_s"]
    target = MLflowTarget(spec["uri"], spec["name"], spec["sweep_id"],
                          source_file=spec.get("source_file"))
    cb = MLflowTrialCallback(target, spec["outbox"])
    cb.setup()
    box = cb.outbox
    delays_ms: list[float] = []
    stats = {"ops": 0, "requests": 0, "last_ms": 0.0}
    deliver = box.deliver

    def timed_deliver(entries: list[dict[str, Any]]) -> None:  # one request of the outbox thread
        deliver(entries)
        now = time.time() * 1000
        stats["ops"] += len(entries)
        stats["requests"] += 1
        stats["last_ms"] = now
        delays_ms.extend(now - e["timestamp_ms"] for e in entries if e["op"] == "log_epoch")

    box.deliver = timed_deliver
    base = spec["first_trial"]
    trials = [SimpleNamespace(trial_id=f"{spec['name']}-t{base + i:04d}",
                              config=trial_config("sam", "search", TrainConfig(
                                  dataset="digits", epochs=epochs, seed=base + i,
                                  rho=0.01 + (base + i) / 1000)),
                              last_result={}, checkpoint=None, status="RUNNING")
              for i in range(n)]
    box.flush(60)  # the parent run exists before the clock starts
    stats["ops"] = stats["requests"] = 0
    delays_ms.clear()
    ready.set()
    go.wait()
    t0 = time.monotonic()
    first_ms = time.time() * 1000
    queue = [(i * epoch_s / n, i, 0) for i in range(n)]  # (due, trial, epoch): 0 = start
    heapq.heapify(queue)
    while queue:
        due, i, e = heapq.heappop(queue)
        time.sleep(max(0.0, t0 + due - time.monotonic()))
        t = trials[i]
        if e == 0:
            cb.on_trial_start(0, trials, t)
        else:
            result = trial_result(base + i, e, epochs, metrics)
            t.last_result = result
            cb.on_trial_result(0, trials, t, result)
        if e < epochs:
            heapq.heappush(queue, (due + epoch_s, i, e + 1))
        else:
            t.status = "TERMINATED"
            cb.on_trial_complete(0, trials, t)
    reported_s = time.monotonic() - t0
    left = box.flush(spec["flush_s"])
    cb.on_experiment_end(trials)
    return {"name": spec["name"], "delays_ms": delays_ms, "ops": stats["ops"],
            "requests": stats["requests"],
            "first_ms": first_ms, "last_ms": stats["last_ms"], "reported_s": reported_s,
            "left": left + cb.undelivered, "last_error": box.last_error}


# ---------------------------------------------------------------- counting what the store holds


@dataclass
class Count:
    runs: int = 0            # child runs found
    duplicate_runs: int = 0  # runs beyond one per trial
    params_ok: int = 0       # runs with exactly the params of the fields that act
    points: int = 0          # metric rows found
    expected: int = 0        # metric points reported
    lost: int = 0            # reported (run, key, step) missing or with another value
    duplicated: int = 0      # rows beyond one per (run, key, step)
    problems: list[str] = field(default_factory=list)


def count_store(db_uri: str, names: list[str], trials: dict[str, int], epochs: int,
                metrics: int) -> Count:
    """Read the backend database: each trial's run once, its params, every point once, equal."""
    import sqlalchemy

    from samtrain.config.train_config import TrainConfig
    from sweeps.store.writer import run_params

    c = Count(expected=len(trials) * epochs * metrics)
    engine = sqlalchemy.create_engine(db_uri)
    q = {"names": names}
    runs_sql = sqlalchemy.text(
        "SELECT r.run_uuid, t.value FROM runs r JOIN experiments e ON e.experiment_id = "
        "r.experiment_id JOIN tags t ON t.run_uuid = r.run_uuid AND t.key = 'trial_id' "
        "WHERE e.name IN :names AND r.lifecycle_stage = 'active'").bindparams(
        sqlalchemy.bindparam("names", expanding=True))
    per_run = ("FROM {t} x JOIN runs r ON r.run_uuid = x.run_uuid JOIN experiments e ON "
               "e.experiment_id = r.experiment_id WHERE e.name IN :names")
    params_sql = sqlalchemy.text(f"SELECT x.run_uuid, count(*) {per_run.format(t='params')} "
                                 "GROUP BY x.run_uuid").bindparams(
        sqlalchemy.bindparam("names", expanding=True))
    metrics_sql = sqlalchemy.text(f"SELECT x.run_uuid, x.key, x.step, x.value "
                                  f"{per_run.format(t='metrics')}").bindparams(
        sqlalchemy.bindparam("names", expanding=True))
    with engine.connect() as conn:
        runs = conn.execute(runs_sql, q).all()
        params = dict(conn.execute(params_sql, q).all())
        rows = conn.execute(metrics_sql, q).all()
    engine.dispose()
    run_trial = {run: tid for run, tid in runs}
    found = sorted(run_trial.values())
    c.runs = len(found)
    c.duplicate_runs = len(found) - len(set(found))
    if set(found) != set(trials):
        c.problems.append(f"trials without a run: {sorted(set(trials) - set(found))[:5]}")
    # the method and the fields that act on a digits SAM run (`run_params`), every trial alike
    n_params = len(run_params("sam", TrainConfig(dataset="digits", epochs=epochs).model_dump()))
    c.params_ok = sum(params.get(run) == n_params for run in run_trial)
    seen: dict[tuple[str, str, int], list[float]] = {}
    for run, key, step, value in rows:
        seen.setdefault((run, key, int(step)), []).append(float(value))
    c.points = len(rows)
    c.duplicated = sum(len(v) - 1 for v in seen.values())
    by_trial = {tid: run for run, tid in runs}
    keys = ["epoch", *(f"m{k}" for k in range(1, metrics))]
    for tid, index in trials.items():
        run = by_trial.get(tid)
        for e in range(1, epochs + 1):
            for k, key in enumerate(keys):
                want = float(e) if k == 0 else metric_value(index, e, k)
                if run is None or want not in seen.get((run, key, e), []):
                    c.lost += 1
    return c


# ---------------------------------------------------------------- one load run


@dataclass
class LoadRun:
    backend: str
    trials: int
    drivers: int
    epochs: int
    metrics: int
    epoch_s: float
    ops: int
    requests: int
    seconds: float
    reported_s: float
    delays_ms: list[float]
    count: Count
    left: int
    outage_s: float | None = None
    last_errors: list[str] = field(default_factory=list)

    @property
    def writes_per_s(self) -> float:
        return self.ops / self.seconds

    @property
    def offered_per_s(self) -> float:
        return self.ops / self.reported_s

    @property
    def points_per_s(self) -> float:
        return self.count.expected / self.seconds

    def delay(self, q: float) -> float:
        d = sorted(self.delays_ms)
        return d[min(len(d) - 1, round(q * (len(d) - 1)))] / 1000 if d else float("nan")

    @property
    def exact(self) -> bool:
        c = self.count
        return (not self.left and c.runs == self.trials and not c.duplicate_runs
                and c.params_ok == self.trials and c.points == c.expected and not c.lost
                and not c.duplicated)

    def row(self) -> str:
        c = self.count
        kill = f", server killed ({self.outage_s:.0f} s down)" if self.outage_s is not None else ""
        return (f"| {self.backend}{kill} | {self.trials} ({self.drivers} x {self.trials // self.drivers}) "
                f"| {self.epochs} x {self.metrics} | {self.offered_per_s:.1f} | {self.writes_per_s:.1f} "
                f"| {self.ops / self.requests:.2f} | {self.points_per_s:.0f} "
                f"| {statistics.median(self.delays_ms) / 1000:.2f} / {self.delay(0.95):.2f} / "
                f"{max(self.delays_ms) / 1000:.2f} | {c.runs} / {c.params_ok} / {c.points:,} of "
                f"{c.expected:,} | {c.lost} | {c.duplicated + c.duplicate_runs} |")


HEADER = ["| backend | trials (drivers x trials) | epochs x metrics | writes/s reported "
          "| writes/s delivered | writes per request | points/s "
          "| report -> MLflow delay p50 / p95 / max (s) | runs / runs with all params / points "
          "| lost | duplicated |", "|---|---|---|---:|---:|---:|---:|---|---|---:|---:|"]


class Backend:
    """A tracking store for the drivers (`uri`) and the database to count in (`db_uri`)."""

    def __init__(self, name: str, root: Path, pg: Any = None, s3: Any = None,
                 server_workers: int = 1) -> None:
        self.name, self.root, self.server = name, root, None
        if name == "sqlite":
            self.uri = self.db_uri = f"sqlite:///{root / 'mlflow.db'}"
        elif name in ("server-postgres", "postgres"):
            self.db_uri = pg.create_database(f"load_{name.replace('-', '_')}_{int(time.time())}")
            if name == "postgres":  # the drivers' URI holds no password (the project refuses
                os.environ["PGPASSWORD"] = pg.password  # one): libpq reads it from here
                self.uri = self.db_uri.replace(f":{pg.password}@", "@")
            else:
                from tests.support.services import MlflowServer

                self.server = MlflowServer(root / "server", backend=self.db_uri,
                                           artifacts=s3.bucket_uri if s3 else None,
                                           env=s3.env if s3 else None, workers=server_workers)
                self.server.start()
                self.uri = self.server.uri
        else:
            raise ValueError(f"unknown backend {name!r}; one of {', '.join(BACKENDS)}")
        from mlflow.tracking import MlflowClient

        MlflowClient(self.uri).search_experiments()  # the store's tables exist before drivers start

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()


def _delivered(outboxes: list[Path]) -> int:
    total = 0
    for box in outboxes:
        f = box / "delivered"
        total += int(f.read_text() or 0) if f.is_file() else 0
    return total


def run_load(backend: Backend, trials: int, drivers: int, epochs: int, metrics: int,
             epoch_s: float, kill_at: float | None = None, flush_s: float = 300.0,
             source_file: str | None = None, merge: bool = True) -> LoadRun:
    """`drivers` processes of `trials / drivers` trials each report to `backend`; counted after."""
    import uuid

    if trials % drivers:
        raise ValueError(f"--trials {trials} is not a multiple of --drivers {drivers}")
    per = trials // drivers
    tag = uuid.uuid4().hex[:8]
    run_root = backend.root / f"load-{tag}"
    ctx = mp.get_context("spawn")
    out, go = ctx.Queue(), ctx.Event()
    specs = [{"uri": backend.uri, "name": f"load-{tag}-d{d}", "sweep_id": uuid.uuid4().hex,
              "outbox": str(run_root / f"d{d}" / "outbox"), "trials": per, "epochs": epochs,
              "metrics": metrics, "epoch_s": epoch_s, "first_trial": d * per, "flush_s": flush_s,
              "source_file": source_file, "merge": merge} for d in range(drivers)]
    for s in specs:
        Path(s["outbox"]).mkdir(parents=True)
    readies = [ctx.Event() for _ in specs]
    procs = [ctx.Process(target=drive, args=(s, r, go, out)) for s, r in zip(specs, readies, strict=True)]
    for p in procs:
        p.start()
    for r, p in zip(readies, procs, strict=True):
        while not r.wait(1):
            if not p.is_alive():
                raise RuntimeError(f"a driver exited with {p.exitcode} while setting up")
    go.set()
    outage = None
    if kill_at is not None and backend.server is not None:
        boxes = [Path(s["outbox"]) for s in specs]
        total = drivers * (2 + per * (3 + epochs))  # parent, close; child, tags, epochs, finish
        deadline = time.monotonic() + epochs * epoch_s + 600
        while _delivered(boxes) < kill_at * total:
            if time.monotonic() > deadline or not any(p.is_alive() for p in procs):
                raise RuntimeError(f"the load never reached {kill_at:.0%} delivered")
            time.sleep(0.05)
        t = time.monotonic()
        backend.server.stop()
        backend.server.start()
        outage = time.monotonic() - t
    results = [out.get(timeout=epochs * epoch_s + flush_s + 600) for _ in procs]
    for p in procs:
        p.join()
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise RuntimeError(f"a driver failed:\n{errors[0]}")
    names = [r["name"] for r in results]
    index = {f"{s['name']}-t{s['first_trial'] + i:04d}": s["first_trial"] + i
             for s in specs for i in range(per)}
    count = count_store(backend.db_uri, names, index, epochs, metrics)
    seconds = (max(r["last_ms"] for r in results) - min(r["first_ms"] for r in results)) / 1000
    return LoadRun(backend.name if merge else f"{backend.name} (no merging)", trials, drivers,
                   epochs, metrics, epoch_s,
                   sum(r["ops"] for r in results), sum(r["requests"] for r in results), seconds,
                   max(r["reported_s"] for r in results),
                   [d for r in results for d in r["delays_ms"]], count,
                   sum(r["left"] for r in results), outage,
                   [r["last_error"] for r in results if r["last_error"]])


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tracking_load")
    parser.add_argument("--trials", default="16,64", help="comma-separated N (default 16,64)")
    parser.add_argument("--drivers", default="1", help="comma-separated D, each N a multiple")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--metrics", type=int, default=12, help="metrics per epoch (epoch included)")
    parser.add_argument("--epoch-s", type=float, default=1.0, help="seconds between a trial's reports")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--kill", type=float, default=0.4, help="with server-postgres: kill and "
                        "restart the server at this fraction of the load, as one more run of the "
                        "largest N (0: no kill run)")
    parser.add_argument("--server-workers", type=int, default=1)
    parser.add_argument("--merge", default="on", help="on, off or on,off: the outbox sends a "
                        "run's waiting epochs as one request (off: one request per operation)")
    parser.add_argument("--quick", action="store_true", help="N = 16, 4 epochs (a smoke run)")
    args, _ = parser.parse_known_args(argv)
    sizes = [16] if args.quick else [int(x) for x in args.trials.split(",")]
    epochs = 4 if args.quick else args.epochs
    drivers = [int(x) for x in args.drivers.split(",")]
    names = args.backends.split(",")

    from tests.support.services import PostgreSQL, S3Server, ServiceUnavailable

    root = Path(tempfile.mkdtemp(prefix="tracking-load-"))
    source = root / "study.yaml"
    source.write_text("name: load\n")
    pg = s3 = None
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [f"Machine: {platform.node()}, {platform.processor() or platform.machine()}, "
             f"{mp.cpu_count()} CPUs, load average {load}; "
             f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {epochs} epochs "
             f"x {args.metrics} metrics per trial, a report every {args.epoch_s:g} s per trial",
             "", *HEADER]
    print("\n".join(lines), flush=True)
    runs: list[LoadRun] = []
    try:
        if any("postgres" in n for n in names):
            try:
                pg = PostgreSQL().start()
                s3 = S3Server(root / "s3").start() if "server-postgres" in names else None
            except ServiceUnavailable as e:
                print(f"(PostgreSQL backends skipped: {e})", flush=True)
                names = [n for n in names if "postgres" not in n]
        for name in names:
            backend = Backend(name, root / name, pg, s3, args.server_workers)
            try:
                merges = [m == "on" for m in args.merge.split(",")]
                plan = [(n, d, None, m) for n in sizes for d in drivers if n % d == 0
                        for m in merges]
                if backend.server is not None and args.kill:
                    plan.append((max(sizes), drivers[0], args.kill, merges[0]))
                for n, d, kill, merge in plan:
                    # a direct database store keeps artifacts in the driver's ./mlruns: none here
                    run = run_load(backend, n, d, epochs, args.metrics, args.epoch_s, kill,
                                   source_file=None if name == "postgres" else str(source),
                                   merge=merge)
                    runs.append(run)
                    lines.append(run.row())
                    print(run.row() + ("" if run.exact else f"  <- NOT EXACT: {run.count}, "
                                       f"{run.left} left, {run.last_errors}"), flush=True)
            finally:
                backend.close()
        if s3 is not None:
            parents = [k for k in s3.keys() if k.endswith("/study.yaml")]
            lines += ["", f"Artifacts on S3 (moto): {len(parents)} parent runs' study files "
                      f"under s3://{s3.bucket}/mlartifacts/"]
            print(lines[-1], flush=True)
    finally:
        if s3 is not None:
            s3.stop()
        if pg is not None:
            pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    lines += ["", f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}"]
    exact = sum(r.exact for r in runs)
    lines += ["", f"{exact} of {len(runs)} runs exact: every trial one run with all its params, "
              "every reported point stored once with its value, nothing left undelivered"]
    print(lines[-1], flush=True)
    return lines


if __name__ == "__main__":
    main()
