"""Records and report from a small fake sweep written to a temporary sqlite MLflow store."""

from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path

import pytest
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
from PIL import Image

from samtrain.config import TrainConfig
from sweeps.plots import plot_rho_pbs_heatmap
from sweeps.records import RunRecord, load_records, parse_params
from sweeps.report import build_report, collect_provenance, log_report_to_mlflow

SWEEP = "fake_sweep"
EPOCHS = 3
SPACE_YAML = "name: fake_sweep\nmethods: {sgd: {}}\n"

# (method, phase, status, seed, config, final val_acc); val_acc rises 0.1 per epoch to `final`
SAM_A = {"perturbation": "ascent", "rho": 0.05, "perturb_batch_size": 32}
SAM_B = {"perturbation": "ascent", "rho": 0.1, "perturb_batch_size": 16}
SAM_C = {"perturbation": "ascent", "rho": 0.01, "perturb_batch_size": 64}
OBF_X = {"perturbation": "obf", "rho": 0.05, "perturb_batch_size": 16, "obf_gamma": 1e-6}
OBF_Y = {"perturbation": "obf", "rho": 0.2, "perturb_batch_size": 32, "obf_gamma": 1e-3}
SGD = {"perturbation": "none"}
RUNS = [
    ("sgd", "search", "completed", 0, SGD, 0.60),
    ("sgd", "confirm", "completed", 1, SGD, 0.62),
    ("sgd", "confirm", "completed", 2, SGD, 0.64),
    ("sam", "search", "completed", 0, SAM_A, 0.80),  # best search run, but never confirmed
    ("sam", "search", "completed", 0, SAM_B, 0.74),
    ("sam", "search", "pruned", 0, SAM_C, 0.50),
    ("sam", "search", "diverged", 0, {**SAM_A, "rho": 0.4}, math.nan),
    ("sam", "confirm", "completed", 1, SAM_B, 0.76),
    ("sam", "confirm", "completed", 2, SAM_B, 0.70),  # superseded by the re-run below
    ("sam", "confirm", "completed", 2, SAM_B, 0.78),
    ("obf", "search", "completed", 0, OBF_X, 0.80),
    ("obf", "search", "completed", 1, OBF_X, 0.82),
    ("obf", "search", "completed", 0, OBF_Y, 0.70),
]


def _epochs(status: str) -> int:
    return 1 if status == "pruned" else EPOCHS


def _write_sweep(uri: str, artifacts: Path) -> tuple[str, list[str]]:
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment(SWEEP, artifact_location=artifacts.as_uri())
    parent = client.create_run(exp, run_name=SWEEP,
                               tags={"sweep.name": SWEEP, "sweep.role": "parent"})
    pid = parent.info.run_id
    space = artifacts.parent / "space.yaml"
    space.write_text(SPACE_YAML)
    client.log_artifact(pid, str(space))
    ids = []
    for i, (method, phase, status, seed, cfg_values, final) in enumerate(RUNS):
        cfg = TrainConfig(dataset="digits", epochs=EPOCHS, seed=seed, **cfg_values)
        start = int(time.time() * 1000) + 1000 * i  # distinct start times: records' order
        run = client.create_run(exp, run_name=f"{method}-{i}", start_time=start, tags={
            "mlflow.parentRunId": pid, "sweep.name": SWEEP, "sweep.role": "child",
            "method": method, "group_key": cfg.group_key(), "trial_id": f"t{i}",
            "phase": phase, "status": status})
        rid = run.info.run_id
        ids.append(rid)
        client.log_batch(rid, params=[
            Param(k, str(v)) for k, v in cfg.flat_params().items()])
        n = _epochs(status)
        cost = 200 if cfg.perturbation != "none" else 100
        metrics = []
        for e in range(1, n + 1):
            acc = final - 0.1 * (EPOCHS - e) if status != "pruned" else final
            values = {"epoch": e, "train_loss": 1.0 / e, "train_acc": acc + 0.05,
                      "perturb_loss": 1.1 / e, "val_loss": 1.2 / e, "val_acc": acc, "lr": 0.1,
                      "rho": cfg.rho, "epoch_seconds": 2.0, "images_per_second": 500.0,
                      "grad_evals": cost * e}
            metrics += [Metric(k, float(v), start + e, e) for k, v in values.items()]
        client.log_batch(rid, metrics=metrics)
        client.set_terminated(rid, "FAILED" if status == "diverged" else "FINISHED")
    client.set_terminated(pid)
    return pid, ids


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{tmp}/mlflow.db"
    pid, ids = _write_sweep(uri, tmp / "artifacts")
    return uri, pid, ids, tmp


@pytest.fixture(scope="module")
def loaded(sweep):
    uri, pid, ids, _ = sweep
    return load_records(uri, SWEEP)


def test_load_records(sweep, loaded):
    _, pid, ids, _ = sweep
    parent_id, records = loaded
    assert parent_id == pid
    assert [r.run_id for r in records] == ids
    sam_b = records[4]
    assert (sam_b.method, sam_b.phase, sam_b.status, sam_b.seed) == ("sam", "search",
                                                                    "completed", 0)
    assert sam_b.params["rho"] == 0.1 and sam_b.params["perturb_batch_size"] == 16
    assert sam_b.params["synthetic_shape"] == (3, 32, 32) and sam_b.params["adaptive"] is None
    assert sam_b.params["obf_sigmoid"] is True and sam_b.params["model"] == "small_cnn"
    assert sam_b.final["val_acc"] == pytest.approx(0.74)
    assert [h["epoch"] for h in sam_b.history] == [1, 2, 3]
    assert [h["val_acc"] for h in sam_b.history] == pytest.approx([0.54, 0.64, 0.74])
    assert sam_b.device_seconds == 6.0 and sam_b.grad_evals == 600
    assert records[5].status == "pruned" and len(records[5].history) == 1
    assert math.isnan(records[6].final["val_acc"])


def test_parse_params_types():
    p = parse_params({"lr": "0.05", "epochs": "2", "grad_clip": "None", "use_gpu": "False",
                      "data_dir": "2024", "obf_C": "-1.0", "extra": "3"})
    assert p == {"lr": 0.05, "epochs": 2, "grad_clip": None, "use_gpu": False,
                 "data_dir": "2024", "obf_C": -1.0, "extra": 3}


def test_missing_sweep(sweep):
    with pytest.raises(LookupError, match="no MLflow experiment"):
        load_records(sweep[0], "nope")


def test_build_report(sweep, loaded, tmp_path):
    uri, pid, ids, tmp = sweep
    _, records = loaded
    prov = collect_provenance(pid, records, source_sha256="ab" * 32,
                              repo_dir=Path(__file__).parent)
    res = build_report(records, out_dir=tmp_path / "rep", study_metric="val_acc", mode="max",
                       fmt="md", provenance=prov)
    names = {p.name for p in res.files}
    assert names == {"report.md", "report.csv", "report.tex", "metric_vs_rho.png",
                     "rho_pbs_heatmap.png", "metric_vs_compute.png", "learning_curves.png"}
    for p in res.files:
        assert p.is_file() and p.stat().st_size > 0
        if p.suffix == ".png":
            with Image.open(p) as im:
                im.verify()
                assert im.format == "PNG"

    r = res.results
    assert res.best_method == "obf"
    # confirmed configs only; their search run (seed 0) counts; one run per seed (the latest)
    assert (r["sgd"].phase, r["sgd"].summary.n) == ("confirm", 3)
    assert r["sgd"].summary.mean == pytest.approx(0.62)
    assert (r["sam"].phase, r["sam"].summary.n) == ("confirm", 3)
    assert r["sam"].summary.mean == pytest.approx(0.76)
    assert r["sam"].summary.std == pytest.approx(0.02)
    assert r["sam"].config == {"rho": 0.1, "perturb_batch_size": 16}
    assert (r["obf"].phase, r["obf"].summary.n) == ("search", 2)
    assert r["obf"].summary.mean == pytest.approx(0.81)
    assert r["obf"].best_run.final["val_acc"] == pytest.approx(0.82)
    # compute over all runs of the method, pruned and diverged included
    assert r["sam"].runs == 7 and r["sam"].statuses == {"completed": 5, "pruned": 1,
                                                        "diverged": 1}
    assert r["sam"].device_seconds == 2.0 * (6 * 3 + 1)
    assert r["sam"].grad_evals == 600 * 6 + 200
    assert r["sgd"].grad_evals == 300 * 3

    table = res.table_text
    assert "| **obf** |" in table and "**0.8100 ± 0.0141**" in table
    assert "0.7600 ± 0.0200" in table and "0.6200 ± 0.0200" in table
    assert "7 (1 diverged, 1 pruned)" in table
    md = (tmp_path / "rep" / "report.md").read_text()
    assert table in md and "![learning_curves](learning_curves.png)" in md
    assert prov["git_commit"] and f"git_commit: `{prov['git_commit']}`" in md
    assert "ab" * 32 in md and pid in md and all(i in md for i in ids)

    tex = (tmp_path / "rep" / "report.tex").read_text()
    assert r"\textbf{obf}" in tex and r"\textbf{0.8100 $\pm$ 0.0141}" in tex
    assert r"\textbf{sam}" not in tex and r"val\_acc" in tex
    rows = {row["method"]: row for row in csv.DictReader(io.StringIO(
        (tmp_path / "rep" / "report.csv").read_text()))}
    assert float(rows["sam"]["mean"]) == pytest.approx(0.76)
    assert rows["obf"]["best"] == "True" and rows["sam"]["best"] == "False"
    assert rows["obf"]["ci_low"] and float(rows["obf"]["ci_low"]) < 0.81

    latex = build_report(records, out_dir=tmp_path / "rep2", fmt="latex").table_text
    assert latex.startswith(r"\begin{tabular}")

    log_report_to_mlflow(uri, pid, res.files)
    logged = {a.path for a in MlflowClient(uri).list_artifacts(pid, "report")}
    assert logged == {f"report/{n}" for n in names}


def test_min_mode_and_empty_method(tmp_path, loaded):
    _, records = loaded
    res = build_report(records, out_dir=tmp_path, study_metric="val_loss", mode="min")
    assert res.best_method is not None
    only_failed = [r for r in records if r.status == "diverged"]
    res = build_report(only_failed, out_dir=tmp_path / "x", fmt="csv")
    assert res.best_method is None and res.results["sam"].summary is None
    assert {p.name for p in res.files} >= {"report.md", "report.csv", "report.tex"}
    with pytest.raises(ValueError, match="fmt"):
        build_report(records, out_dir=tmp_path, fmt="html")


def test_heatmap_bins_continuous_rho(tmp_path):
    """Many rho values are binned on a log scale; perturb_batch_size None is the "full" row."""
    recs = [RunRecord(run_id=str(i), method="sam", phase="search", status="completed",
                      group_key=str(i), seed=0,
                      params={"perturbation": "ascent", "rho": 0.01 * 1.5 ** i,
                              "perturb_batch_size": [None, 16, 32][i % 3]},
                      final={"val_acc": 0.5 + 0.01 * i}) for i in range(12)]
    out = plot_rho_pbs_heatmap(recs, "val_acc", tmp_path / "h.png")
    assert out is not None and out.stat().st_size > 0
    assert plot_rho_pbs_heatmap(recs[:0], "val_acc", tmp_path / "none.png") is None
