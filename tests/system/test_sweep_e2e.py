"""A tiny sweep end to end (Tune + Optuna + MLflow), and crash-then-resume of the driver."""

import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from mlflow.tracking import MlflowClient

from samtrain.config.train_config import TrainConfig
from sweeps.cli import main
from sweeps.report.document import git_commit
from sweeps.store.provenance import launch_environment
from sweeps.store.schema import parse_params, train_config_of
from tests.support import ROOT
from tests.support.faults import RUNTIME_PARAMS

pytestmark = pytest.mark.ray
TINY = ROOT / "search_spaces" / "tiny.yaml"


def children(client, name):
    exp = client.get_experiment_by_name(name)
    return client.search_runs([exp.experiment_id], "tags.`sweep.role` = 'child'", max_results=1000)


def test_tiny_sweep_end_to_end(ray_local, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert main(["run", str(TINY), "--storage", "runs", "--tracking-uri", uri, "--name", "t1"]) == 0
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("t1")
    parents = client.search_runs([exp.experiment_id], "tags.`sweep.role` = 'parent'")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0]
    assert [a.path for a in client.list_artifacts(parent.info.run_id)] == ["environment.json", "space.yaml"]
    runs = children(client, "t1")
    assert len(runs) == 3  # sgd samples nothing: one search run; sam: budget 2
    assert sorted(r.data.tags["method"] for r in runs) == ["sam", "sam", "sgd"]
    for r in runs:
        tags, params = r.data.tags, r.data.params
        assert tags["mlflow.parentRunId"] == parent.info.run_id
        assert tags["status"] == "completed" and r.info.status == "FINISHED"
        assert tags["phase"] == "search" and tags["trial_id"]
        cfg = train_config_of(parse_params(params))
        assert tags["group_key"] == cfg.group_key()
        assert set(params) == set(cfg.applied_params()) | {"method"} | RUNTIME_PARAMS  # what acted
        assert tags["sweep.id"] == json.loads((tmp_path / "runs" / "t1" / "sweep.json").read_text())[
            "sweep_id"] and tags["node_id"]
        assert params["perturbation"] == ("none" if tags["method"] == "sgd" else "ascent")
        history = client.get_metric_history(r.info.run_id, "val_acc")
        assert [m.step for m in history] == [1, 2]
        assert r.data.metrics["val_acc"] > 0.5 and r.data.metrics["test_acc"] > 0.5
        assert [m.step for m in client.get_metric_history(r.info.run_id, "test_acc")] == [2]
        assert {"forget_events", "ever_forgotten", "unforgettable", "clean_fit"} <= set(r.data.metrics)
        if tags["method"] == "sam":
            assert 0.01 <= float(params["rho"]) <= 0.2
    # the Optuna study lives in the sweep directory, with per-method parameter names
    study = optuna.load_study(study_name="t1", storage=f"sqlite:///{tmp_path}/runs/t1/optuna.db")
    assert len(study.trials) == 3
    assert sum("sam/rho" in t.params for t in study.trials) == 2

    capsys.readouterr()
    assert main(["status", "t1", "--storage", "runs"]) == 0
    out = capsys.readouterr().out
    assert "sgd          search   1/1: completed 1" in out
    assert "sam          search   2/2: completed 2" in out
    assert main(["best", "t1", "--storage", "runs", "--method", "sam"]) == 0
    best = TrainConfig.from_yaml_text(capsys.readouterr().out)
    assert best.perturbation == "ascent"

    # confirm: best config per method x 2 fresh seeds (never the selecting search seed 0)
    assert main(["confirm", "t1", "--storage", "runs", "--seeds", "2"]) == 0
    confirm = [r for r in children(client, "t1") if r.data.tags["phase"] == "confirm"]
    assert sorted((r.data.tags["method"], r.data.params["seed"]) for r in confirm) == [
        ("sam", "1"), ("sam", "2"), ("sgd", "1"), ("sgd", "2")]
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in confirm)
    sam = [r for r in runs if r.data.tags["method"] == "sam"]
    top = max(r.data.metrics["val_acc"] for r in sam)
    (confirmed,) = {r.data.tags["group_key"] for r in confirm if r.data.tags["method"] == "sam"}
    assert confirmed in {r.data.tags["group_key"] for r in sam if r.data.metrics["val_acc"] == top}
    assert main(["confirm", "t1", "--storage", "runs", "--seeds", "2"]) == 0   # nothing missing
    assert len(children(client, "t1")) == 7

    # report: tables, plots, provenance, logged to the parent run
    assert main(["report", "t1", "--storage", "runs", "--format", "latex"]) == 0
    out = capsys.readouterr().out
    assert "\\textbf" in out and "$\\Delta$ vs baseline" in out
    report = tmp_path / "runs" / "t1" / "report"
    for f in ("report.md", "report.csv", "report.tex", "metric_vs_rho.png", "learning_curves.png"):
        assert (report / f).stat().st_size > 0, f
    md = (report / "report.md").read_text()
    assert f"git_commit: `{git_commit()}`" in md and len(git_commit()) == 40
    assert "sam vs sgd" in md or "sam beats sgd" in md or "sam is worse than sgd" in md
    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert "report/report.md" in logged and "report/learning_curves.png" in logged
    # the tuning-budget section: sam's 2 trials, sgd's 1, the i.i.d. caveat, the figures
    assert "## Tuning budget and hyperparameter importance" in md
    assert "TPE trials are not i.i.d. draws" in md and "| 2 | - | " in md
    assert {"report/tuning_curves.png", "report/sensitivity.png"} <= logged


def test_sweep_train_logs_params_metrics_and_checkpoint(ray_local, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the default: ./mlflow.db
    cfg = ROOT / "configs" / "digits.yaml"
    assert main(["train", str(cfg), "--set", "epochs=2", "--name", "d1", "--storage", "runs"]) == 0
    out = capsys.readouterr().out
    assert "final: epoch 2 status completed" in out
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("d1")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags["status"] == "completed"
    assert run.data.params["dataset"] == "digits" and run.data.params["epochs"] == "2"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_acc")] == [1, 2]
    assert run.data.metrics["startup_seconds"] > 0
    assert [a.path for a in client.list_artifacts(run.info.run_id, "checkpoint")] == [
        "checkpoint/state.pt"]
    assert run.data.params["device"] == "cpu" and run.data.params["torch_version"]
    # the same name with other values: one more run in the same experiment
    more = ["--name", "d1", "--storage", "runs", "--launcher", "inprocess"]
    assert main(["train", str(cfg), "--set", "epochs=3", *more]) == 0
    assert "final: epoch 3 status completed" in capsys.readouterr().out
    runs = {r.data.params["epochs"]: r for r in client.search_runs([exp.experiment_id])}
    assert sorted(runs) == ["2", "3"] and runs["2"].info.run_id == run.info.run_id
    for r in runs.values():
        assert r.data.tags["sweep.role"] == "single" and r.data.tags["sweep.id"] == "train:d1"
        assert r.data.tags["mlflow.source.git.commit"] == git_commit()
        assert "environment.json" in {a.path for a in client.list_artifacts(r.info.run_id)}
    assert runs["2"].data.tags["trial_id"] != runs["3"].data.tags["trial_id"]
    # the same values again: the finished run is reused, nothing is trained, and it says so
    assert main(["train", str(cfg), "--set", "epochs=2", *more]) == 0
    out = capsys.readouterr().out
    assert "already ran these values to the end" in out and "nothing was trained" in out
    assert f"train-{run.data.tags['trial_id']}" in out and "final: epoch 2 status completed" in out
    assert len(client.search_runs([exp.experiment_id])) == 2
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_acc")] == [1, 2]


def test_killed_driver_then_resume_finishes_every_trial_once(tmp_path):
    space = tmp_path / "space.yaml"
    text = TINY.read_text().replace("budget: 2", "budget: 3").replace("epochs: 2", "epochs: 4")
    space.write_text(text)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TUNE_GLOBAL_CHECKPOINT_S": "1"}
    cmd = [sys.executable, "-m", "sweeps", "run", str(space), "--name", "k", "--storage",
           str(tmp_path / "runs"), "--tracking-uri", uri]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = MlflowClient(uri)
    deadline = time.time() + 240
    try:
        while time.time() < deadline:  # kill once some trials finished and others are running
            time.sleep(1)
            try:
                tags = [r.data.tags["status"] for r in children(client, "k")]
            except Exception:  # experiment not created yet
                continue
            if tags.count("completed") >= 2 and "running" in tags:
                break
        else:
            pytest.fail("the sweep never reached a state worth killing")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert any(r.info.status == "RUNNING" for r in children(client, "k"))

    resume = subprocess.run([sys.executable, "-m", "sweeps", "resume", "k", "--storage",
                             str(tmp_path / "runs")], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=400)
    assert resume.returncode == 0, resume.stderr[-3000:]
    runs = children(client, "k")
    trial_ids = [r.data.tags["trial_id"] for r in runs]
    assert len(trial_ids) == len(set(trial_ids)) == 4        # no lost trials, no duplicates
    assert sorted(r.data.tags["method"] for r in runs) == ["sam"] * 3 + ["sgd"]  # exact budgets
    ot = optuna.load_study(study_name="k", storage=f"sqlite:///{tmp_path}/runs/k/optuna.db")
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in ot.trials) == 4
    assert all(r.info.status == "FINISHED" for r in runs)    # none left RUNNING
    assert all(r.data.tags["status"] == "completed" for r in runs)
    assert all(r.data.metrics["epoch"] == 4 for r in runs)


def test_a_diverging_trial_reaches_optuna_infeasible_and_mlflow_diverged(ray_local, tmp_path,
                                                                         monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "boom.yaml").write_text(
        "name: boom\nbudget: 1\nscheduler: none\n"
        "base: {dataset: digits, model: small_cnn, epochs: 3, batch_size: 64, lr: 1.0e+8}\n"
        "methods:\n  sam:\n    fixed: {perturbation: ascent}\n"
        "    space: {rho: {loguniform: [0.01, 0.2]}}\n")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert main(["run", "boom.yaml", "--storage", "runs", "--tracking-uri", uri]) == 0
    (run,) = children(MlflowClient(uri), "boom")
    assert run.data.tags["status"] == "diverged" and run.info.status == "FAILED"
    study = optuna.load_study(study_name="boom", storage=f"sqlite:///{tmp_path}/runs/boom/optuna.db")
    (trial,) = study.trials
    assert trial.state == optuna.trial.TrialState.PRUNED and trial.constraints == {"diverged": 1.0}
    assert trial.user_attrs["status"] == "diverged" and list(trial.intermediate_values) == [1]
    capsys.readouterr()
    assert main(["status", "boom", "--storage", "runs"]) == 0
    assert "diverged 1" in capsys.readouterr().out


# Trials run one at a time (2 CPUs each), so the seeded TPE samples the same values every time:
# with seed 17 (Optuna 5.0.0) SAM's first two trials get lr 0.032 and then 0.0056, which learns
# far less by epoch 1, where ASHA (reduction factor 2) stops it.
STATES = """name: tiny
metric: val_acc
mode: max
budget: 3
seed: 17
scheduler: {type: asha, grace_period: 1, reduction_factor: 2}
resources: {workers: 1, cpus_per_worker: 2.0}
base: {dataset: digits, model: small_cnn, epochs: 2, batch_size: 64}
methods:
  sgd: {fixed: {perturbation: none, lr: 1.0e+8}}   # diverges in its first epoch
  sam:
    fixed: {perturbation: ascent, rho: 0.05}
    space: {lr: {loguniform: [3.0e-3, 9.0]}}
"""
MLFLOW_STATE = {"completed": "FINISHED", "pruned": "KILLED", "diverged": "FAILED"}


def docs_python_block(containing: str) -> str:
    """The one Python block of docs/getting-started.md ("Reading results in Python") that
    holds `containing`."""
    blocks = (ROOT / "docs" / "getting-started.md").read_text().split("```python\n")[1:]
    (block,) = [b.split("```", 1)[0] for b in blocks if containing in b]
    return block


def test_run_states_provenance_environment_uri_and_the_docs_recipes(ray_local, tmp_path,
                                                                    monkeypatch, capsys):
    """A sweep with a completed, a pruned and a diverged trial, tracked where
    $MLFLOW_TRACKING_URI says: MLflow's state per outcome, the commit tag and the environment
    artifact on every run, the worker's torch and device as params; the recipes of
    docs/getting-started.md work."""
    import torch

    monkeypatch.chdir(tmp_path)
    (tmp_path / "store").mkdir()
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    (tmp_path / "s.yaml").write_text(STATES)
    assert main(["run", "s.yaml", "--storage", "runs"]) == 0
    assert not (tmp_path / "mlflow.db").exists()
    meta = json.loads((tmp_path / "runs" / "tiny" / "sweep.json").read_text())
    assert meta["tracking_uri"] == uri
    client = MlflowClient(uri)
    runs = children(client, "tiny")
    statuses = sorted((r.data.tags["method"], r.data.tags["status"]) for r in runs)
    assert ("sgd", "diverged") in statuses and ("sam", "pruned") in statuses
    assert ("sam", "completed") in statuses and len(runs) == 4
    for r in runs:
        assert r.info.status == MLFLOW_STATE[r.data.tags["status"]], r.data.tags
    (parent,) = client.search_runs([runs[0].info.experiment_id], "tags.`sweep.role` = 'parent'")
    env = launch_environment("s.yaml")  # the study file: not in a repository, so the package's
    assert env["git_commit"] == git_commit() and len(git_commit()) == 40
    for r in [parent, *runs]:
        assert r.data.tags["mlflow.source.git.commit"] == env["git_commit"]
        assert r.data.tags["git_dirty"] == str(env["git_dirty"]).lower()
        with open(client.download_artifacts(r.info.run_id, "environment.json")) as f:
            assert json.load(f) == env
    for r in runs:  # measured by the training process, once
        p = r.data.params
        assert (p["torch_version"], p["cuda_version"], p["device"]) == (
            torch.__version__, torch.version.cuda or "none", "cpu")
        assert p["cuda_available"] == str(torch.cuda.is_available()) and p["device_name"]

    capsys.readouterr()
    ns: dict = {}
    exec(docs_python_block("mlflow.search_runs("), ns)
    sam_done = sorted(r.info.run_id for r in runs
                      if (r.data.tags["method"], r.data.tags["status"]) == ("sam", "completed"))
    assert sorted(ns["sam"]["run_id"]) == sam_done
    assert list(ns["sam"]["metrics.val_acc"]) == sorted(ns["sam"]["metrics.val_acc"], reverse=True)
    assert set(ns["pruned"]["tags.status"]) == {"pruned"} and set(ns["pruned"]["status"]) == {"KILLED"}
    assert "sgd" in list(ns["diverged"]["tags.method"]) and set(ns["diverged"]["status"]) == {"FAILED"}
    assert len(ns["same_code"]) >= 5   # this sweep's parent and four trials, at least
    table = ns["table"]
    assert len(table) == 4 and sorted(table["config/trial/method"]) == ["sam"] * 3 + ["sgd"]
    assert sorted(table["trial_id"]) == sorted(r.data.tags["trial_id"] for r in runs)
