"""search_spaces/suites/two_workloads.yaml end to end, smaller: `sweep suite` runs both
workloads (search, confirm, report), writes the suite report with its aggregate table and
performance profile, nests each workload's MLflow parent run under the suite's run, and skips
the finished workloads when run again. Fashion-MNIST's files are written from the digits images
(`tests.support.fashion_files`): no registry ships the data."""

from __future__ import annotations

import pytest
import yaml
from mlflow.tracking import MlflowClient

from sweeps.cli import main
from tests.support import ROOT
from tests.support.fashion_files import write_fashion_from_digits

pytestmark = pytest.mark.ray
SUITE = ROOT / "search_spaces" / "suites" / "two_workloads.yaml"


def small_suite(tmp_path) -> None:
    suite = yaml.safe_load(SUITE.read_text())
    assert [w["id"] for w in suite["workloads"]] == ["fashion_cnn", "digits_cnn"]
    suite.update(budget=1, confirm_seeds=2)
    suite["base"].update(epochs=1, batch_size=64)
    suite["workloads"][0]["base"].update(data_dir=str(tmp_path / "fashion"), train_subset=600,
                                         val_size=200)
    suite["workloads"][1]["base"].update(train_subset=600, val_size=200)
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))


def test_two_workload_suite_reports_in_aggregate_and_nests_its_mlflow_runs(
        ray_local, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_fashion_from_digits(tmp_path / "fashion")
    small_suite(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    argv = ["suite", "suite.yaml", "--storage", "runs", "--tracking-uri", uri]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "W / T / L vs sgd" in out and "Mean rank" in out

    report = tmp_path / "runs" / "two_workloads" / "report"
    md = (report / "report.md").read_text()
    assert "## Aggregate" in md and "| sam | 0 / 2 / 0 |" in md  # 2 seeds: no test can reject
    assert "resamples every workload's confirm seeds" in md and "### fashion_cnn" in md
    assert (report / "performance_profile.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for wid in ("fashion_cnn", "digits_cnn"):  # each workload is an ordinary sweep
        assert (tmp_path / "runs" / f"two_workloads__{wid}" / "report" / "report.md").is_file()

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("two_workloads")
    (suite_run,) = client.search_runs([exp.experiment_id])
    assert suite_run.data.tags["sweep.role"] == "suite" and suite_run.info.status == "FINISHED"
    assert {a.path for a in client.list_artifacts(suite_run.info.run_id, "report")} == {
        "report/report.md", "report/performance_profile.png"}
    children = {}
    for wid in ("fashion_cnn", "digits_cnn"):
        sweep_exp = client.get_experiment_by_name(f"two_workloads__{wid}")
        runs = client.search_runs([sweep_exp.experiment_id])
        (parent,) = [r for r in runs if r.data.tags["sweep.role"] == "parent"]
        assert parent.data.tags["mlflow.parentRunId"] == suite_run.info.run_id
        assert parent.data.tags["suite.workload"] == wid
        children[wid] = len([r for r in runs if r.data.tags["sweep.role"] == "child"])
        assert children[wid] == 2 + 2 * 2  # one search run per method, 2 confirm seeds each

    assert main(argv) == 0  # again: both workloads finished, nothing runs
    out = capsys.readouterr().out
    assert out.count("finished earlier") == 2
    for wid, n in children.items():
        sweep_exp = client.get_experiment_by_name(f"two_workloads__{wid}")
        assert len(client.search_runs([sweep_exp.experiment_id],
                                      "tags.`sweep.role` = 'child'")) == n
    assert len(client.search_runs([exp.experiment_id])) == 1
    assert not (tmp_path / "mlruns").exists()  # the suite's artifacts sit beside the sqlite file
