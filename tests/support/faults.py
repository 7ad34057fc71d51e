"""Helpers of the fault tests (tests/system/test_faults.py, tests/system/test_multinode.py).

`sweep` commands run as subprocesses, each Ray cluster in a private `RAY_TMPDIR` (a plain
`ray.init()` joins the cluster recorded in `$RAY_TMPDIR/ray/ray_current_cluster`, whoever started
it). Everything a test starts is ended by process id: its subprocesses by their session, leftover
Ray processes by the private `RAY_TMPDIR` in their environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
from mlflow.tracking import MlflowClient

from tests.support.services import MlflowServer, free_port  # noqa: F401 - the fault tests' too

# what each run records of its training process besides its TrainConfig (torch, CUDA, device)
RUNTIME_PARAMS = frozenset({"torch_version", "cuda_version", "cuda_available", "device", "device_name",
                            "val_correct"})  # the last: which validation examples a run got right
# GCS notices a dead node in ~5 s instead of ~16 s; read by the process that starts the GCS
FAST_NODE_DEATH = {"RAY_health_check_period_ms": "500", "RAY_health_check_failure_threshold": "2",
                   "RAY_health_check_timeout_ms": "500"}


def study_yaml(name: str, epochs: int, budget: int = 1, *, sam: bool = True, batch_size: int = 4,
               extra: str = "") -> str:
    """sgd (1 trial) and, with `sam`, sam (`budget` trials) on digits; batch 4 makes an epoch
    last about 0.5 s (sgd) to 1 s (sam) on an idle 2-core machine; every epoch checkpointed."""
    methods = "  sgd: {fixed: {perturbation: none}}\n"
    if sam:
        methods += ("  sam: {fixed: {perturbation: ascent}, "
                    "space: {rho: {loguniform: [0.01, 0.2]}}}\n")
    return (f"name: {name}\nbudget: {budget}\ncheckpoint_interval_s: 0\n{extra}"
            f"base: {{dataset: digits, model: small_cnn, epochs: {epochs}, batch_size: {batch_size}, "
            f"lr: 0.02}}\nmethods:\n{methods}")


# ---------------------------------------------------------------- processes


@contextlib.contextmanager
def private_ray_tmpdir() -> Iterator[str]:
    """A short private `RAY_TMPDIR` (Ray's socket paths must stay under 107 characters); on
    exit, every process still carrying it in its environment is killed, and it is removed."""
    d = tempfile.mkdtemp(prefix="rft", dir="/tmp")
    try:
        yield d
    finally:
        kill_marked(d)
        shutil.rmtree(d, ignore_errors=True)


def kill_marked(ray_tmpdir: str) -> list[int]:
    """SIGKILL the processes (not this one) whose environment holds `RAY_TMPDIR=ray_tmpdir`."""
    marker, killed = f"RAY_TMPDIR={ray_tmpdir}\0".encode(), []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker in (proc / "environ").read_bytes():
                os.kill(int(proc.name), signal.SIGKILL)
                killed.append(int(proc.name))
        except OSError:
            continue
    return killed


def sweep_env(ray_tmpdir: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return {**env, "RAY_TMPDIR": ray_tmpdir, "PYTHONUNBUFFERED": "1",
            "RAY_USAGE_STATS_ENABLED": "0", **extra}


# `python -m sweeps` with a shorter wait for an unreachable tracking server at the end of a sweep
_SHORT_FLUSH = ("import runpy, sys; from sweeps.execution import mlflow_callback as m; "
                "m.FLUSH_AT_END_S = float(sys.argv.pop(1)); "
                "runpy.run_module('sweeps', run_name='__main__', alter_sys=True)")


class Sweep:
    """`python -m sweeps ARGS` in its own session, output to files in `logs`. `flush_at_end_s`: how
    long the sweep's end waits for an unreachable tracking server instead of FLUSH_AT_END_S (a test
    whose server is down at the end of the sweep need not wait the 30 s)."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, logs: Path,
                 flush_at_end_s: float | None = None) -> None:
        logs.mkdir(parents=True, exist_ok=True)
        n = len(list(logs.glob("*.out")))
        self.out, self.err = logs / f"{n}-{args[0]}.out", logs / f"{n}-{args[0]}.err"
        cmd = ([sys.executable, "-m", "sweeps"] if flush_at_end_s is None else
               [sys.executable, "-c", _SHORT_FLUSH, str(flush_at_end_s)])
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen([*cmd, *args], cwd=cwd, env=env, stdout=out, stderr=err,
                                         start_new_session=True)

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float) -> tuple[int, str, str]:
        """Exit code, stdout, stderr; killed (and failing the test) after `timeout` seconds."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"`sweep` still running after {timeout} s; "
                                 f"stderr: {self.err.read_text()[-3000:]}") from None
        return rc, self.out.read_text(), self.err.read_text()

    def kill(self) -> None:
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def tail(self) -> str:
        return f"stdout: {self.out.read_text()[-2000:]}\nstderr: {self.err.read_text()[-3000:]}"


def ray_worker(pid: int, ray_tmpdir: str) -> bool:
    """Whether `pid` (read from a trial's results) is still a Ray worker of the cluster using
    `ray_tmpdir`: a test signals only its own processes."""
    try:
        proc = Path(f"/proc/{pid}")
        return (b"ray::" in (proc / "cmdline").read_bytes()
                and f"RAY_TMPDIR={ray_tmpdir}\0".encode() in (proc / "environ").read_bytes())
    except OSError:
        return False


@contextlib.contextmanager
def paused(pids: list[int]) -> Iterator[None]:
    """SIGSTOP `pids` (trial processes) for the block; SIGCONT them after it."""
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def note(what: str) -> None:
    """A timestamped progress line (shown with a failing test's output, or with `pytest -s`)."""
    print(f"[{time.strftime('%H:%M:%S')}] {what}", flush=True)


def wait_for(check: Callable[[], Any], timeout: float, what: str, sweep: Sweep | None = None,
             interval: float = 0.3) -> Any:
    """Poll `check()` until it returns something truthy; fail after `timeout` s or when `sweep`
    exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            value = check()
            if value:
                return value
        if sweep is not None and not sweep.running():
            raise AssertionError(f"the sweep ended before {what}\n{sweep.tail()}")
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}"
                         + (f"\n{sweep.tail()}" if sweep else ""))


# ---------------------------------------------------------------- records


def children(uri: str, name: str) -> list[Any]:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(name)
    if exp is None:
        return []
    return client.search_runs([exp.experiment_id], "tags.`sweep.role` = 'child'", max_results=1000)


def steps(uri: str, run: Any, key: str) -> list[int]:
    """The steps of every value logged for metric `key` of `run`, in step order."""
    return sorted(m.step for m in MlflowClient(uri).get_metric_history(run.info.run_id, key))


def tune_results(experiment: Path) -> dict[str, list[dict[str, Any]]]:
    """`{trial directory name: its results}` from Tune's `result.json` files."""
    out = {}
    for f in sorted(experiment.glob("*/result.json")):
        out[f.parent.name] = [json.loads(line) for line in f.read_text().splitlines() if line]
    return out


def optuna_trials(storage: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{storage / name / 'optuna.db'}")
    return study.trials


def assert_like_a_local_sweep(uri: str, name: str, storage: Path, n_trials: int,
                              methods: dict[str, int]) -> list[Any]:
    """A FINISHED parent; one FINISHED, `completed` child per trial id under it, with the tags
    and params of a local sweep (tests/system/test_sweep_e2e.py); every Optuna trial COMPLETE, once,
    `methods` trials per method. Returns the children."""
    from sweeps.store.schema import parse_params, train_config_of

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(name)
    (parent,) = client.search_runs([exp.experiment_id], "tags.`sweep.role` = 'parent'")
    assert parent.info.status == "FINISHED"
    runs = children(uri, name)
    ids = [r.data.tags["trial_id"] for r in runs]
    assert len(ids) == len(set(ids)) == n_trials, ids
    tags = {"sweep.name", "sweep.id", "sweep.role", "method", "group_key", "trial_id", "phase",
            "status", "node_id", "mlflow.parentRunId", "mlflow.runName"}
    for r in runs:
        assert tags <= set(r.data.tags), sorted(tags - set(r.data.tags))
        cfg = train_config_of(parse_params(r.data.params))  # only the fields that act are params
        assert set(r.data.params) == set(cfg.applied_params()) | {"method"} | RUNTIME_PARAMS
        assert r.info.status == "FINISHED" and r.data.tags["status"] == "completed", r.data.tags
        assert r.data.tags["mlflow.parentRunId"] == parent.info.run_id
    got = {m: sum(r.data.tags["method"] == m for r in runs) for m in methods}
    assert got == methods
    trials = optuna_trials(storage, name)
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * n_trials
    assert {m: sum(t.user_attrs["method"] == m for t in trials) for m in methods} == methods
    return runs
