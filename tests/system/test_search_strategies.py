"""Search strategies end to end (Ray Tune + Optuna + MLflow, digits, 1 epoch): a grid runs
exactly its points, random and quasi-random samplers run, start points run first, and
`sweep extend` adds trials to a finished sweep without running any finished trial again."""

from __future__ import annotations

from collections import Counter

import optuna
import pytest
from mlflow.tracking import MlflowClient

from sweeps.cli import main

pytestmark = pytest.mark.ray

STUDY = """name: {name}
budget: {budget}
seed: 0
sampler: {sampler}
scheduler: none
base: {{dataset: digits, model: small_cnn, epochs: 1, batch_size: 64, lr: 0.1, train_subset: 256}}
methods:
  sgd: {{fixed: {{perturbation: none}}}}
  sam:
    fixed: {{perturbation: ascent}}
    space:
      rho: {{loguniform: [0.01, 0.2]{values}}}
      perturb_batch_size: {{choice: [16, 32]}}
{more}"""


def _run(tmp_path, name: str, sampler: str, budget: str = "null", values: str = "",
         more: str = "") -> tuple[list, optuna.Study]:
    path = tmp_path / f"{name}.yaml"
    path.write_text(STUDY.format(name=name, budget=budget, sampler=sampler, values=values,
                                 more=more))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert main(["run", str(path), "--storage", "runs", "--tracking-uri", uri]) == 0
    return _runs(tmp_path, name)


def _runs(tmp_path, name: str) -> tuple[list, optuna.Study]:
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name(name)
    runs = client.search_runs([exp.experiment_id], "tags.`sweep.role` = 'child'",
                              order_by=["attributes.start_time ASC"], max_results=1000)
    ot = optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path}/runs/{name}/optuna.db")
    return runs, ot


def _point(run) -> tuple:
    return float(run.data.params["rho"]), int(run.data.params["perturb_batch_size"])


def test_grid_random_qmc_start_points_and_extend(ray_local, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    # grid: exactly the cartesian product, each point once, sgd once
    runs, ot = _run(tmp_path, "grid", "grid", values=", values: [0.02, 0.1]")
    sam = [r for r in runs if r.data.tags["method"] == "sam"]
    assert len(runs) == 5 and Counter(r.data.tags["method"] for r in runs) == {"sam": 4, "sgd": 1}
    assert sorted(_point(r) for r in sam) == [(0.02, 16), (0.02, 32), (0.1, 16), (0.1, 32)]
    assert all(r.data.tags["status"] == "completed" for r in runs)
    assert [t.state for t in ot.trials] == [optuna.trial.TrialState.COMPLETE] * 5

    # random: the budget per method, in range
    runs, _ = _run(tmp_path, "rand", "random", budget="2")
    assert Counter(r.data.tags["method"] for r in runs) == {"sam": 2, "sgd": 1}
    assert all(0.01 <= _point(r)[0] <= 0.2 for r in runs if r.data.tags["method"] == "sam")

    # qmc with a start point: the start point is sam's first trial
    runs, ot = _run(tmp_path, "q", "qmc", budget="3",
                    more="    start_from: [{rho: 0.05, perturb_batch_size: 32}]\n")
    sam = [r for r in runs if r.data.tags["method"] == "sam"]
    assert len(sam) == 3 and ot.trials[1].user_attrs == {
        "method": "sam", "planned": {"rho": 0.05, "perturb_batch_size": 32}}
    assert _point(min(sam, key=lambda r: r.info.start_time)) == (0.05, 32)
    before = {r.data.tags["trial_id"]: r.info.end_time for r in runs}

    # extend the finished sweep: 2 more sam trials (sgd samples nothing), nothing run again
    assert main(["extend", "q", "--storage", "runs", "--trials", "2"]) == 0
    runs, ot = _runs(tmp_path, "q")
    assert Counter(r.data.tags["method"] for r in runs) == {"sam": 5, "sgd": 1}
    assert len({r.data.tags["trial_id"] for r in runs}) == 6
    assert {t: e for t, e in ((r.data.tags["trial_id"], r.info.end_time) for r in runs)
            if t in before} == before                              # the first 4 untouched
    assert [t.state for t in ot.trials] == [optuna.trial.TrialState.COMPLETE] * 6
    assert (tmp_path / "runs" / "q" / "search-2").is_dir()
    capsys.readouterr()
    assert main(["status", "q", "--storage", "runs"]) == 0
    assert "sam          search   5/5: completed 5" in capsys.readouterr().out   # budget 3 + 2
    assert main(["extend", "grid", "--storage", "runs", "--trials", "1"]) == 2  # a grid is done


def test_a_multi_objective_search_runs_and_reports_its_pareto_set(ray_local, tmp_path, monkeypatch,
                                                                   capsys):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "mo.yaml"
    path.write_text(STUDY.format(name="mo", budget=3, sampler="tpe", values="", more="").replace(
        "scheduler: none", "scheduler: none\nobjectives: [{metric: val_acc, mode: max}, "
                           "{metric: device_seconds, mode: min}]"))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert main(["run", str(path), "--storage", "runs", "--tracking-uri", uri]) == 0
    runs, ot = _runs(tmp_path, "mo")
    assert len(runs) == 4 and all(r.data.tags["status"] == "completed" for r in runs)
    assert ot.directions == [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE]
    done = [t for t in ot.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 4 and all(len(t.values) == 2 and t.values[1] > 0 for t in done)
    for t in done:  # Optuna got each run's final val_acc and device-seconds
        assert len([r for r in runs if r.data.metrics["val_acc"] == t.values[0]
                    and r.data.metrics["device_seconds"] == pytest.approx(t.values[1])]) == 1
    capsys.readouterr()
    assert main(["best", "mo", "--storage", "runs", "--pareto"]) == 0
    out = capsys.readouterr().out
    assert "non-dominated config(s) over val_acc (max), device_seconds (min)" in out
    assert main(["report", "mo", "--storage", "runs"]) == 0
    md = (tmp_path / "runs" / "mo" / "report" / "report.md").read_text()
    assert "## Pareto set (multi-objective search)" in md
