"""`sweep report` on known numbers: test scores over fresh seeds, Δ vs baseline, Holm, formats."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
from PIL import Image
from scipy import stats

from samtrain.config import TrainConfig
from sweeps.report import build_report, method_rows
from sweeps.store.reader import load_records, parse_params
from sweeps.store.writer import SweepWriter
from sweeps.study import parse_study

STUDY = parse_study("""name: s
metric: val_acc
methods:
  sgd: {fixed: {perturbation: none}}
  sam: {space: {rho: {loguniform: [0.01, 0.5]}, perturb_batch_size: {choice: [16, 32]}}}
  obf: {fixed: {perturbation: obf}, space: {rho: {loguniform: [0.01, 0.5]}}}
""")
SGD, SAM_A, SAM_B = {"perturbation": "none"}, {"rho": 0.05, "perturb_batch_size": 16}, {
    "rho": 0.1, "perturb_batch_size": 32}
OBF = {"perturbation": "obf", "rho": 0.05}
SGD_TEST = {1: 0.60, 2: 0.62, 3: 0.64}
SAM_TEST = {1: 0.70, 2: 0.74, 3: 0.72}   # paired with sgd: differences 0.10, 0.12, 0.08
OBF_TEST = {4: 0.80, 5: 0.86}            # no seed in common with sgd's: Welch


@pytest.fixture(scope="module")
def records(make_record):
    r, out, t = make_record, [], iter(range(100))
    out += [r("sgd", "search", "completed", 0, SGD, {"val_acc": 0.60, "test_acc": 0.99}, next(t)),
            r("sam", "search", "completed", 0, SAM_A, {"val_acc": 0.80, "test_acc": 0.99}, next(t)),
            r("sam", "search", "completed", 0, SAM_B, {"val_acc": 0.74, "test_acc": 0.99}, next(t)),
            r("sam", "search", "pruned", 0, {"rho": 0.3}, {"val_acc": 0.5}, next(t), reached=1),
            r("obf", "search", "completed", 0, OBF, {"val_acc": 0.81, "test_acc": 0.99}, next(t))]
    out.append(r("sam", "confirm", "completed", 2, SAM_A, {"val_acc": 0.7, "test_acc": 0.10}, next(t)))
    for method, cfg, tests in (("sgd", SGD, SGD_TEST), ("sam", SAM_A, SAM_TEST), ("obf", OBF, OBF_TEST)):
        for seed, v in tests.items():  # the later run of a seed supersedes the one above
            out.append(r(method, "confirm", "completed", seed, cfg, {"val_acc": 0.7, "test_acc": v},
                         next(t)))
    out.append(r("sam", "confirm", "completed", 1, SAM_B, {"val_acc": 0.7, "test_acc": 0.95}, next(t)))
    out.append(r("sam", "confirm", "diverged", 4, SAM_A, {"val_acc": math.nan}, next(t)))
    for i, run in enumerate(out):  # run parameters the loop records (they vary, but are no config)
        run.params["msharp_loop_ms"] = 100.0 + i
    return out


def test_rows_score_the_winner_on_the_test_set_over_fresh_seeds_only(records):
    rows = method_rows(records, STUDY)
    sam = rows["sam"]
    assert sam.winner.score == pytest.approx(0.80) and sam.winner.n == 1   # selected on val
    assert sam.test_by_seed == SAM_TEST       # not the selecting run's 0.99, not SAM_B's run
    assert sam.test.mean == pytest.approx(0.72) and sam.test.std == pytest.approx(0.02)
    assert sam.test.ci_low == pytest.approx(0.72 - 4.302653 * 0.02 / math.sqrt(3), abs=1e-6)
    assert sam.config == {"rho": 0.05, "perturb_batch_size": 16}
    assert sam.runs == 9 and sam.statuses == {"completed": 7, "pruned": 1, "diverged": 1}
    assert sam.lost_seeds == {4: "diverged"}                # named, not silently dropped
    # paired t-test by seed against the baseline (sgd)
    c = sam.comparison
    d = np.array([0.10, 0.12, 0.08])
    assert c.test == "paired t" and c.diff == pytest.approx(0.10)
    half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / math.sqrt(3)
    assert (c.ci_low, c.ci_high) == pytest.approx((0.10 - half, 0.10 + half))
    t_stat = d.mean() / (d.std(ddof=1) / math.sqrt(3))
    assert c.p == pytest.approx(2 * stats.t.sf(t_stat, 2))
    # Welch against the baseline when the seeds differ
    o = rows["obf"].comparison
    a, b = np.array([0.80, 0.86]), np.array([0.60, 0.62, 0.64])
    se2 = a.var(ddof=1) / 2 + b.var(ddof=1) / 3
    df = se2 ** 2 / ((a.var(ddof=1) / 2) ** 2 / 1 + (b.var(ddof=1) / 3) ** 2 / 2)
    assert o.test == "Welch t" and o.diff == pytest.approx(0.21)
    assert o.p == pytest.approx(2 * stats.t.sf(0.21 / math.sqrt(se2), df))
    # Holm over the two comparisons
    p_small, p_large = sorted([c.p, o.p])
    holm = {c.p: min(1, 2 * p_small) if c.p == p_small else max(min(1, 2 * p_small), p_large)}
    assert rows["sam"].p_holm == pytest.approx(holm[c.p])
    assert max(rows["sam"].p_holm, rows["obf"].p_holm) == pytest.approx(max(2 * p_small, p_large))
    assert rows["sgd"].comparison is None and math.isnan(rows["sgd"].p_holm)


def test_report_files_tables_and_generated_verdict(records, tmp_path):
    res = build_report(records, STUDY, tmp_path, "md", {"git_commit": "abc123"})
    names = {p.name for p in res.files}
    assert names == {"report.md", "report.csv", "report.tex", "metric_vs_rho.png", "rho_m.png",
                     "metric_vs_compute.png", "learning_curves.png"}
    for p in res.files:
        assert p.stat().st_size > 0
        if p.suffix == ".png":
            with Image.open(p) as im:
                im.verify()
    assert res.best_method == "obf"
    table = res.table_text
    assert "Δ vs baseline [95% CI]" in table and "p (Holm)" in table
    assert "| **obf** |" in table and "**0.8300 ± 0.0424**" in table
    assert "| sam | perturb_batch_size=16, rho=0.05 | 0.8000 (1) | 0.7200 ± 0.0200 |" in table
    assert "+0.1000 [" in table and "(paired t)" in table and "(Welch t)" in table
    assert "| sgd | - | 0.6000 (1) | 0.6200 ± 0.0200 |" in table and "baseline" in table
    assert "9 (1 diverged, 1 pruned)" in table and "| 3 (+1 diverged) |" in table
    sam_line = next(v for v in res.verdict if v.startswith("sam"))
    expected = "beats" if res.rows["sam"].p_holm < 0.05 else "no significant difference"
    assert expected in sam_line and f"{res.rows['sam'].comparison.diff:+.4f}" in sam_line
    assert "1 of its confirm seed(s) diverged or failed and are not in the mean" in sam_line
    md = (tmp_path / "report.md").read_text()
    assert table in md and "## Verdict" in md and sam_line in md and "abc123" in md
    assert all(r.run_id in md for r in records)
    tex = (tmp_path / "report.tex").read_text()
    assert r"\textbf{obf}" in tex and r"$\Delta$ vs baseline" in tex and r"val\_acc" in tex
    rows = {row["method"]: row for row in csv.DictReader(io.StringIO(
        (tmp_path / "report.csv").read_text()))}
    assert float(rows["sam"]["mean"]) == pytest.approx(0.72)
    assert float(rows["sam"]["delta"]) == pytest.approx(0.10) and rows["sam"]["test"] == "paired t"
    assert rows["obf"]["best"] == "True" and rows["sgd"]["delta"] == ""
    assert build_report(records, STUDY, tmp_path / "x", "latex").table_text.startswith(r"\begin")
    with pytest.raises(ValueError, match="fmt"):
        build_report(records, STUDY, tmp_path, "html")


def test_min_mode_reports_test_loss_and_the_lowest_is_best(records, tmp_path, make_record):
    study = parse_study("metric: val_loss\nmode: min\nmethods: {a: {space: {rho: {uniform: "
                        "[0.01, 0.5]}}}, b: {space: {rho: {uniform: [0.01, 0.5]}}}}")
    r = make_record
    recs = [r("a", "search", "completed", 0, {"rho": 0.1}, {"val_loss": 0.3}, 1),
            r("a", "search", "completed", 0, {"rho": 0.2}, {"val_loss": 0.2}, 2),
            r("b", "search", "completed", 0, {"rho": 0.1}, {"val_loss": 0.4}, 3)]
    recs += [r("a", "confirm", "completed", s, {"rho": 0.2}, {"val_loss": 0.2, "test_loss": 0.5}, 10 + s)
             for s in (1, 2)]
    recs += [r("b", "confirm", "completed", s, {"rho": 0.1}, {"val_loss": 0.4, "test_loss": 0.9}, 20 + s)
             for s in (1, 2)]
    res = build_report(recs, study, tmp_path, "md")
    assert res.rows["a"].winner.params["rho"] == 0.2 and res.best_method == "a"
    assert "test_loss mean ± std" in res.table_text and "No baseline" in res.verdict[0]


def test_no_confirm_runs_yet(records, tmp_path):
    search_only = [r for r in records if r.phase == "search"]
    res = build_report(search_only, STUDY, tmp_path, "csv")
    assert res.best_method is None and res.rows["sam"].test is None
    assert "not enough confirm runs" in res.verdict[0]


def test_load_records_reads_what_the_writer_wrote(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    w = SweepWriter(uri, "s", "sid")
    w.open_parent()
    cfg = TrainConfig(dataset="digits", epochs=2, rho=0.1, perturb_batch_size=16)
    run = w.child("t1", "sam", cfg, "search")
    for e in (1, 2):
        w.log_epoch(run, {"epoch": e, "val_acc": 0.5 + 0.1 * e, "epoch_seconds": 2.0,
                          "grad_evals": 40 * e, "forget_events": 3 * e})
    w.finish(run, "completed")
    pid, (rec,) = load_records(uri, "s", "sid")
    assert pid == w.parent_run_id and rec.full_length and rec.trial_id == "t1"
    assert rec.params["rho"] == 0.1 and rec.params["synthetic_shape"] == (3, 32, 32)
    assert rec.group_key == cfg.group_key() and rec.seed == 0
    assert [h["val_acc"] for h in rec.history] == pytest.approx([0.6, 0.7])
    assert rec.final["forget_events"] == 6 and rec.device_seconds == 4.0 and rec.grad_evals == 80
    with pytest.raises(LookupError, match="no parent run"):
        load_records(uri, "s", "other-id")
    MlflowClient(uri).log_batch(run, params=[Param("msharp_path", "loop")],
                                metrics=[Metric("x", 1.0, 0, 3)])


def test_parse_params_types():
    p = parse_params({"lr": "0.05", "epochs": "2", "grad_clip": "None", "use_gpu": "False",
                      "data_dir": "2024", "obf_C": "-1.0", "val_size": "2000", "extra": "3"})
    assert p == {"lr": 0.05, "epochs": 2, "grad_clip": None, "use_gpu": False,
                 "data_dir": "2024", "obf_C": -1.0, "val_size": 2000, "extra": 3}
