"""Faults a sweep survives, end to end: a killed trial, tracking-server outages.

Each `sweep` runs as a subprocess on its own local Ray (private `RAY_TMPDIR`, see
tests/support/faults.py); tiny digits trials, every step bounded by a timeout.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import threading
from pathlib import Path

import optuna
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from sweeps.cli import main
from sweeps.store.outbox import Outbox, unreachable
from sweeps.store.provenance import git_commit
from sweeps.store.writer import SweepWriter
from tests.support.faults import (
    MlflowServer,
    Sweep,
    assert_like_a_local_sweep,
    children,
    free_port,
    note,
    optuna_trials,
    paused,
    private_ray_tmpdir,
    ray_worker,
    steps,
    study_yaml,
    sweep_env,
    tune_results,
    wait_for,
)


def kill_a_trial(experiment: Path, epochs: int, sweep: Sweep, after: int, ray_tmp: str
                 ) -> tuple[str, dict]:
    """SIGKILL the process of the first trial whose latest result is epoch `after`..`epochs - 1`
    (its earlier epochs are checkpointed); return its directory name and that result."""
    def target():
        for trial, results in tune_results(experiment).items():
            last = results[-1]
            if after <= last["epoch"] < epochs and ray_worker(last["pid"], ray_tmp):
                return trial, last
        return None

    trial, last = wait_for(target, 150, f"a trial past epoch {after}", sweep, interval=0.1)
    os.kill(last["pid"], signal.SIGKILL)
    return trial, last


def run_and_kill(tmp_path: Path, name: str, text: str, epochs: int, after: int
                 ) -> tuple[str, dict, int, str, str]:
    (tmp_path / "s.yaml").write_text(text)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with private_ray_tmpdir() as ray_tmp:
        sweep = Sweep(["run", "s.yaml", "--storage", "runs", "--tracking-uri", uri],
                      sweep_env(ray_tmp), tmp_path, tmp_path / "logs")
        try:
            trial, seen = kill_a_trial(tmp_path / "runs" / name / "search", epochs, sweep, after,
                                       ray_tmp)
            rc, out, err = sweep.wait(timeout=240)
        finally:
            sweep.kill()
    return trial, seen, rc, out, err


@pytest.mark.ray
def test_a_killed_trial_resumes_from_its_checkpoint_in_the_same_run(tmp_path):
    epochs = 5
    trial, seen, rc, out, err = run_and_kill(tmp_path, "kill", study_yaml("kill", epochs),
                                             epochs, after=2)
    assert rc == 0, err[-3000:]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    runs = assert_like_a_local_sweep(uri, "kill", tmp_path / "runs", 2, {"sgd": 1, "sam": 1})
    (run,) = [r for r in runs if r.data.tags["trial_id"] == trial.rsplit("-", 1)[1]]
    assert sorted(set(steps(uri, run, "epoch"))) == list(range(1, epochs + 1))
    # each process reports `startup_seconds` with the first epoch it trains: the new one began
    # after the checkpoint of an epoch >= seen - 1, not at epoch 1
    first, restarted = steps(uri, run, "startup_seconds")
    assert first == 1 and seen["epoch"] <= restarted <= epochs, (seen["epoch"], restarted)
    results = tune_results(tmp_path / "runs" / "kill" / "search")[trial]
    assert results[-1]["epoch"] == epochs and results[-1]["pid"] != seen["pid"]


@pytest.mark.ray
def test_a_trial_that_always_dies_fails_the_sweep_naming_it_and_resume(tmp_path):
    epochs = 4
    text = study_yaml("dies", epochs, sam=False, extra="max_failures: 0\n")
    trial, _, rc, out, err = run_and_kill(tmp_path, "dies", text, epochs, after=1)
    assert rc == 1, (out[-2000:], err[-3000:])
    assert f"failed: {trial}:" in err and "`sweep resume dies`" in err, err[-3000:]
    (run,) = children(f"sqlite:///{tmp_path / 'mlflow.db'}", "dies")
    assert run.data.tags["status"] == "failed" and run.info.status == "FAILED"
    assert [t.state for t in optuna_trials(tmp_path / "runs", "dies")] == [
        optuna.trial.TrialState.FAIL]


# ---------------------------------------------------------------- tracking-server outages


def _epochs_trained(experiment: Path) -> int:
    return sum(len(r) for r in tune_results(experiment).values())


def _delivered(box: Path) -> int:
    return int((box / "delivered").read_text() or 0)


def _running_trials(experiment: Path, epochs: int, ray_tmp: str) -> list[int]:
    return [r[-1]["pid"] for r in tune_results(experiment).values()
            if r[-1]["epoch"] < epochs and ray_worker(r[-1]["pid"], ray_tmp)]


def two_outages(server: MlflowServer, sweep: Sweep, experiment: Path, box: Path, epochs: int,
                ray_tmp: str) -> None:
    """Stop the server once epochs reach MLflow; check that training goes on; restart it and let
    the running driver deliver what it kept (the trials paused, so that the sweep cannot end
    first); stop the server again for the end of the sweep."""
    wait_for(lambda: any(r.data.metrics.get("epoch") for r in children(server.uri, "out")), 150,
             "epochs in MLflow", sweep)
    server.stop()
    note("server stopped")
    at_stop, delivered = _epochs_trained(experiment), _delivered(box)
    wait_for(lambda: _epochs_trained(experiment) >= at_stop + 2, 60, "training without MLflow",
             sweep)
    pids = wait_for(lambda: _running_trials(experiment, epochs, ray_tmp), 30, "running trials", sweep)
    with paused(pids):
        note(f"trials {pids} paused")
        server.start()
        note("server restarted")
        wait_for(lambda: _delivered(box) == (box / "journal.jsonl").read_text().count("\n")
                 > delivered, 60, "delivery after the restart", sweep)
        server.stop()
        note("everything delivered; server stopped again")


@pytest.mark.ray
def test_tracking_outages_lose_nothing_and_duplicate_nothing(tmp_path, monkeypatch, capsys):
    for var in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.setenv(var, os.environ.get(var, ""))  # `sweep status` (in-process) sets them
        monkeypatch.delenv(var)
    epochs = 10
    (tmp_path / "s.yaml").write_text(study_yaml("out", epochs, batch_size=8))
    server = MlflowServer(tmp_path)
    experiment, box = tmp_path / "runs" / "out" / "search", tmp_path / "runs" / "out" / "outbox"
    try:
        server.start()
        with private_ray_tmpdir() as ray_tmp:
            sweep = Sweep(["run", "s.yaml", "--storage", "runs", "--tracking-uri", server.uri],
                          sweep_env(ray_tmp), tmp_path, tmp_path / "logs", flush_at_end_s=3.0)
            try:
                two_outages(server, sweep, experiment, box, epochs, ray_tmp)
                rc, out, err = sweep.wait(timeout=240)
                note("sweep ended")
            finally:
                sweep.kill()
        assert rc == 0, err[-3000:]
        kept = re.search(r"MLflow: (\d+) record\(s\) could not be delivered", out)
        assert kept and int(kept[1]) > 0 and str(box) in out, out[-2000:]
        server.start()
        assert main(["status", "out", "--storage", str(tmp_path / "runs")]) == 0  # delivers the rest
        assert "completed 1" in capsys.readouterr().out
        runs = assert_like_a_local_sweep(server.uri, "out", tmp_path / "runs", 2,
                                         {"sgd": 1, "sam": 1})
        for r in runs:  # every epoch once: nothing lost, nothing logged twice
            for key in ("epoch", "val_acc", "train_loss", "grad_evals"):
                assert steps(server.uri, r, key) == list(range(1, epochs + 1)), (key, r.data.tags)
        client = MlflowClient(server.uri)
        for r in runs:  # provenance through the server's artifact proxy, once, outages or not
            assert r.data.tags["mlflow.source.git.commit"] == git_commit()
            assert [a.path for a in client.list_artifacts(r.info.run_id)
                    if a.path != "checkpoint"] == ["config.json", "environment.json"]
        journal = (box / "journal.jsonl").read_text().splitlines()
        assert _delivered(box) == len(journal) and not (box / "rejected.jsonl").exists()
    finally:
        server.stop()


# ---------------------------------------------------------------- the outbox's MLflow errors


def _fake_server(reply: bytes | None) -> int:
    """A TCP server that reads a request, then sends `reply` (None: answers nothing)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)

    def serve() -> None:
        while True:
            conn, _ = sock.accept()
            conn.recv(65536)
            if reply is not None:
                conn.sendall(reply)
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return sock.getsockname()[1]


def test_mlflow_connection_errors_are_outages_and_its_refusals_are_not(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"experiment\": {"
    body = (b'{"error_code": "INVALID_PARAMETER_VALUE", "message": "Changing param values is not '
            b'allowed. Param with key=\'lr\' was already logged for run ID=\'7f50304e\'"}')
    refused = b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    ports = {"refused": free_port(), "cut mid-response": _fake_server(cut),
             "503": _fake_server(b"HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\n\r\n"),
             "silent": _fake_server(None), "a bad request": _fake_server(refused)}
    for what, port in ports.items():
        with pytest.raises(MlflowException) as e:
            MlflowClient(f"http://127.0.0.1:{port}").get_experiment_by_name("x")
        assert unreachable(e.value) == (what != "a bad request"), (what, str(e.value))


def test_the_outbox_fails_fast_on_a_dead_server(tmp_path, monkeypatch):
    """MLflow's own retries (about 4 min a call) are off once an outbox starts."""
    for var in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.setenv(var, "")  # recorded, so the outbox's setting is undone after the test
        monkeypatch.delenv(var)
    dead = f"http://127.0.0.1:{free_port()}"
    box = Outbox(tmp_path / "box", lambda: SweepWriter(dead, "s", "id")).start()
    box.put("open_parent")
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "0"
    assert box.close(timeout=3) == 1  # undelivered, and the error below already seen: no retries
    assert "Max retries exceeded" in (box.last_error or ""), box.last_error
