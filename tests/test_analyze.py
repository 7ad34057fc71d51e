"""`sweep analyze`: Kendall τ of forgetting/sharpness diagnostics vs test accuracy and the gap."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image
from scipy import stats

from samtrain.config import TrainConfig
from sweeps.analyze import (
    analyze_records,
    best_sentence,
    kendall_ci,
    resampled_tau_b,
    write_analysis,
)
from sweeps.cli import main
from sweeps.report import build_report
from sweeps.store.reader import RunRecord
from sweeps.store.writer import SweepWriter
from sweeps.study import parse_study
from sweeps.sweep_dir import SweepMeta, sweep_dir

N = 10
TEST = [0.50 + 0.03 * i for i in range(N)]                       # strictly increasing
INDEPENDENT = [0.3, 0.9, 0.1, 0.7, 0.5, 0.2, 0.8, 0.4, 0.6, 0.0]  # tau vs TEST: -0.16


def rec(i: int, final: dict, method: str = "sam", phase: str = "search",
        status: str = "completed", epoch: int = 3) -> RunRecord:
    return RunRecord(run_id=f"r{i}", method=method, phase=phase, status=status, group_key=f"g{i}",
                     seed=i, params={"epochs": 3}, final={"epoch": float(epoch), **final})


def runs(**columns: list[float]) -> list[RunRecord]:
    """Records i = 0..N-1 whose final metric `k` is `columns[k][i]` (NaN: not logged)."""
    return [rec(i, {k: v[i] for k, v in columns.items() if not math.isnan(v[i])},
                method="sam" if i % 2 else "sgd", phase="confirm" if i > 6 else "search")
            for i in range(N)]


def row(a, name):
    return next(r for r in a.rows if r.name == name)


def test_resampled_tau_b_is_scipys_tau_b_of_each_resample_ties_included():
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 4, 9).astype(float), rng.integers(0, 3, 9).astype(float)
    idx = rng.integers(0, 9, (200, 9))
    got = resampled_tau_b(x, y, idx)
    want = np.array([stats.kendalltau(x[i], y[i]).statistic for i in idx])
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert got[~np.isnan(got)] == pytest.approx(want[~np.isnan(want)], abs=1e-12)
    assert math.isnan(resampled_tau_b(x, y, np.zeros((1, 9), int))[0])   # one run drawn 9 times


def test_concordant_discordant_and_independent_diagnostics():
    a = analyze_records(runs(test_acc=TEST, hessian_top_eig=[2 * t for t in TEST],
                             ever_forgotten=[1 - t for t in TEST], forget_events=INDEPENDENT))
    assert a.target == "test_acc" and not a.fallback and len(a.runs) == N
    assert [r.name for r in a.rows] == ["forget_events", "ever_forgotten", "hessian_top_eig"]
    up, down, ind = (row(a, k).vs_target for k in ("hessian_top_eig", "ever_forgotten",
                                                     "forget_events"))
    assert up.tau == pytest.approx(1) and (up.ci_low, up.ci_high) == (1.0, 1.0) and up.n == N
    assert down.tau == pytest.approx(-1) and (down.ci_low, down.ci_high) == (-1.0, -1.0)
    assert ind.tau == pytest.approx(stats.kendalltau(INDEPENDENT, TEST).statistic)
    assert ind.ci_low < 0 < ind.ci_high and ind.ci_high - ind.ci_low > 0.5
    assert ind.p == pytest.approx(stats.kendalltau(INDEPENDENT, TEST).pvalue)
    # a fixed seed: the same interval again; another seed: (slightly) another
    assert kendall_ci(INDEPENDENT, TEST) == ind
    assert kendall_ci(INDEPENDENT, TEST, seed=1) != ind


def test_constant_too_few_absent_and_non_finite_values():
    nan, inf = math.nan, math.inf
    sharp = [0.1, 0.4, nan, 0.2, inf, 0.9, 0.3, nan, 0.5, 0.7]
    a = analyze_records(runs(test_acc=TEST, perturbed_kl=[0.2] * N, sharpness_adaptive=sharp,
                             hessian_trace=[1.0, 2.0, 3.0] + [nan] * 7))
    assert [r.name for r in a.rows] == ["sharpness_adaptive"]
    assert a.skipped == {"perturbed_kl": "constant", "hessian_trace": "3 finite values < 4"}
    keep = [i for i, v in enumerate(sharp) if math.isfinite(v)]
    c = row(a, "sharpness_adaptive").vs_target
    assert c.n == 7 and c.tau == pytest.approx(
        stats.kendalltau([sharp[i] for i in keep], [TEST[i] for i in keep]).statistic)
    assert "noisy_fit" not in a.skipped   # absent from every run: not mentioned
    assert "Skipped: perturbed_kl (constant), hessian_trace (3 finite values < 4)." in a.notes()
    assert row(a, "sharpness_adaptive").vs_gap is None   # no clean_fit: no gap


def test_gap_is_clean_fit_minus_test_acc():
    clean = [0.95, 0.99, 0.90, 1.00, 0.97, 0.93, 0.96, 0.91, 0.98, 0.94]
    diag = [0.3, 0.1, 0.7, 0.2, 0.9, 0.5, 0.8, 0.6, 0.0, 0.4]
    a = analyze_records(runs(test_acc=TEST, clean_fit=clean, unforgettable=diag))
    gap = [c - t for c, t in zip(clean, TEST, strict=True)]
    g = row(a, "unforgettable").vs_gap
    assert g.n == N and g.tau == pytest.approx(stats.kendalltau(diag, gap).statistic)
    assert g.tau != pytest.approx(stats.kendalltau(diag, TEST).statistic)
    assert g.tau != pytest.approx(stats.kendalltau(diag, clean).statistic)
    assert row(a, "clean_fit").vs_gap is not None
    assert "τ vs gap (clean_fit − test_acc) [95% CI]" in a.table_md()


def test_only_completed_full_length_runs_count():
    good = runs(test_acc=TEST, ever_forgotten=TEST)
    bad = [rec(20, {"test_acc": 0.99, "ever_forgotten": 0.0}, status="pruned", epoch=1),
           rec(21, {"test_acc": 0.99, "ever_forgotten": 0.0}, status="diverged"),
           rec(22, {"test_acc": 0.99, "ever_forgotten": 0.0}, epoch=2)]
    c = row(analyze_records(good + bad), "ever_forgotten").vs_target
    assert c.n == N and c.tau == pytest.approx(1)


def test_falls_back_to_val_acc_without_a_test_metric_and_says_so():
    a = analyze_records(runs(val_acc=TEST, clean_fit=INDEPENDENT, ever_forgotten=TEST[::-1]))
    assert a.target == "val_acc" and a.fallback
    assert row(a, "ever_forgotten").vs_target.tau == pytest.approx(-1)
    gap = [c - v for c, v in zip(INDEPENDENT, TEST, strict=True)]
    assert row(a, "ever_forgotten").vs_gap.tau == pytest.approx(
        stats.kendalltau(TEST[::-1], gap).statistic)
    assert any("No run has test_acc: val_acc" in line for line in a.notes())
    assert "τ vs val_acc [95% CI]" in a.table_md() and "clean_fit − val_acc" in a.table_md()
    assert "by validation accuracy best" in a.sentence and "val_acc standing in" in a.sentence


def test_sentence_names_the_best_ranker_and_what_its_interval_excludes():
    rng = np.random.default_rng(0)
    weak = list(rng.permutation(TEST))
    a = analyze_records(runs(test_acc=TEST, ever_forgotten=[1 - t for t in TEST],
                             hessian_top_eig=weak, forget_events=INDEPENDENT))
    h, f = row(a, "hessian_top_eig").vs_target, row(a, "forget_events").vs_target
    assert abs(h.tau) < 0.1 and abs(f.tau) < 0.2
    assert a.sentence == (
        f"ever_forgotten ranks runs by test accuracy best (tau = -1.00 [-1.00, -1.00], n = {N}); "
        f"its |tau| interval [1.00, 1.00] excludes the |tau| of every other diagnostic: "
        f"forget_events ({abs(f.tau):.2f}), hessian_top_eig ({abs(h.tau):.2f}).")
    # two close rankers: the best one's interval does not exclude the other
    near, nearer = TEST[:], TEST[:]
    nearer[0], nearer[1] = nearer[1], nearer[0]                    # tau 43/45
    near[4], near[5], near[7], near[8] = near[5], near[4], near[8], near[7]   # tau 41/45
    b = analyze_records(runs(test_acc=TEST, unforgettable=nearer, perturbed_flip=INDEPENDENT,
                             forget_events=[-t for t in near]))
    u = row(b, "unforgettable").vs_target
    assert u.tau == pytest.approx(43 / 45) and u.abs_interval()[0] < 41 / 45 < u.abs_interval()[1]
    assert b.sentence.startswith(f"unforgettable ranks runs by test accuracy best (tau = {u.fmt()}")
    assert ("excludes the |tau| of perturbed_flip (0.16) but not of forget_events (0.91)"
            in b.sentence)
    assert "nothing to rank" in best_sentence(analyze_records(runs(test_acc=TEST)))
    one = analyze_records(runs(test_acc=TEST, clean_fit=TEST))
    assert one.sentence.endswith("it is the only diagnostic with enough values to rank.")


def test_write_analysis_files(tmp_path):
    a = analyze_records(runs(test_acc=TEST, clean_fit=INDEPENDENT, ever_forgotten=TEST[::-1],
                             hessian_trace=INDEPENDENT[::-1]))
    files = write_analysis(a, tmp_path / "out")
    assert [p.name for p in files] == ["analysis.md", "analysis.csv", "analysis_scatter.png"]
    with Image.open(files[2]) as im:
        im.verify()
    md = files[0].read_text()
    assert "## Generalization vs forgetting and sharpness" in md and a.table_md() in md
    assert a.sentence in md and "![analysis_scatter](analysis_scatter.png)" in md
    got = {r["diagnostic"]: r for r in csv.DictReader(io.StringIO(files[1].read_text()))}
    assert set(got) == {"clean_fit", "ever_forgotten", "hessian_trace"}
    e = row(a, "ever_forgotten")
    assert float(got["ever_forgotten"]["tau"]) == pytest.approx(e.vs_target.tau)
    assert float(got["ever_forgotten"]["tau_gap"]) == pytest.approx(e.vs_gap.tau)
    assert int(got["ever_forgotten"]["n"]) == N and got["ever_forgotten"]["target"] == "test_acc"
    empty = write_analysis(analyze_records([]), tmp_path / "empty")   # no rows: no figure
    assert [p.name for p in empty] == ["analysis.md", "analysis.csv"]


STUDY = parse_study("name: s\nmetric: val_acc\nbaseline: sgd\nmethods:\n"
                    "  sgd: {fixed: {perturbation: none}}\n"
                    "  sam: {space: {rho: {loguniform: [0.01, 0.5]}}}\n")


def test_report_has_the_section_only_when_runs_have_diagnostics(make_record, tmp_path):
    def records(diag: bool) -> list[RunRecord]:
        out = []
        for i in range(6):
            method, cfg = ("sgd", {"perturbation": "none"}) if i % 2 else ("sam", {"rho": 0.05})
            final = {"val_acc": 0.6 + 0.02 * i, "test_acc": 0.55 + 0.02 * i,
                     **({"ever_forgotten": 0.4 - 0.05 * i, "clean_fit": 0.9} if diag else {})}
            out.append(make_record(method, "search" if i < 2 else "confirm", "completed", i,
                                   cfg, final, i))
        return out

    res = build_report(records(True), STUDY, tmp_path / "with", "md")
    md = (tmp_path / "with" / "report.md").read_text()
    assert "## Generalization vs forgetting and sharpness" in md
    assert "ever_forgotten ranks runs by test accuracy best (tau = -1.00" in md
    assert "clean_fit (constant)" in md
    assert {"analysis.md", "analysis.csv", "analysis_scatter.png"} <= {p.name for p in res.files}
    res = build_report(records(False), STUDY, tmp_path / "without", "md")
    assert "Generalization vs" not in (tmp_path / "without" / "report.md").read_text()
    assert not any(p.name.startswith("analysis") for p in res.files)


def test_analyze_missing_sweep_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["analyze", "nope", "--storage", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert "sweep analyze: error: sweep 'nope' not found" in err and err.count("\n") == 0
    assert not (tmp_path / "runs").exists() and not (tmp_path / "mlflow.db").exists()


def test_analyze_end_to_end_through_mlflow(tmp_path, capsys):
    uri, storage = f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "runs"
    meta = SweepMeta.new(STUDY, uri)
    sweep_dir(storage, "s").write(STUDY, meta)
    w = SweepWriter(uri, "s", meta.sweep_id)
    parent = w.open_parent()
    for i in range(5):
        run = w.child(f"t{i}", "sam", TrainConfig(dataset="digits", epochs=2, seed=i), "search")
        w.log_epoch(run, {"epoch": 1, "val_acc": 0.5, "forget_events": 9, "clean_fit": 0.5})
        w.log_epoch(run, {"epoch": 2, "val_acc": 0.6 + 0.01 * i, "test_acc": 0.6 + 0.02 * i,
                          "forget_events": 10 - i, "clean_fit": 0.9, "hessian_top_eig": 3.0})
        w.finish(run, "completed")
    pruned = w.child("t9", "sam", TrainConfig(dataset="digits", epochs=2, seed=9), "search")
    w.log_epoch(pruned, {"epoch": 1, "val_acc": 0.1, "forget_events": 0})
    w.finish(pruned, "pruned")
    assert main(["analyze", "s", "--storage", str(storage), "--tracking-uri", uri]) == 0
    out = capsys.readouterr().out
    assert "| forget_events | 5 | -1.00 [-1.00, -1.00] | 5 | 1.00 [1.00, 1.00] |" in out
    assert "forget_events ranks runs by test accuracy best (tau = -1.00" in out
    assert "hessian_top_eig (constant)" in out and "clean_fit (constant)" in out
    report = storage / "s" / "report"
    assert {p.name for p in report.iterdir()} == {"analysis.md", "analysis.csv",
                                                  "analysis_scatter.png"}
    logged = {f.path for f in MlflowClient(uri).list_artifacts(parent, "analysis")}
    assert logged == {"analysis/analysis.md", "analysis/analysis.csv",
                      "analysis/analysis_scatter.png"}
