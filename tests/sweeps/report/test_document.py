"""`sweep report` on known numbers: files, the table in every format, the generated verdict."""

from __future__ import annotations

import csv
import io

import pytest
from PIL import Image

from sweeps.report.document import build_report
from sweeps.study.study_file import parse_study
from tests.support.report_case import STUDY, compute_matched_records, report_records


@pytest.fixture(scope="module")
def records(make_record):
    return report_records(make_record)

def test_report_files_tables_and_generated_verdict(records, tmp_path):
    res = build_report(records, STUDY, tmp_path, "md", {"git_commit": "abc123"})
    names = {p.name for p in res.files}
    assert names == {"report.md", "report.csv", "report.tex", "test_scores.png",
                     "learning_curves.png", "metric_vs_rho.png", "rho_m.png", "tradeoff.png",
                     "method_groups.png", "tuning_curves.png", "sensitivity.png"}
    for p in res.files:
        assert p.stat().st_size > 0
        if p.suffix == ".png":
            with Image.open(p) as im:
                im.verify()
    assert res.best_method == "obf"
    table = res.table_text
    assert "Δ vs baseline [95% CI]" in table and "p (Holm)" in table
    assert "| **obf** |" in table and "| 0.8300 ± 0.0424 |" in table   # bold: best on validation
    # a one-run accuracy without its validation-set size: SE unknown, only the best is "within"
    assert ("| sam | perturb_batch_size=16, rho=0.05 | 0.8000 ± n/a (1) | 1 of 2 | 0.7200 ± 0.0200 |"
            in table)
    assert "+0.1000 [unbounded at n = 3] (sign-flip permutation (exact), n = 3)" in table
    assert "(Welch t, n = 2)" in table and "Tuning: trials / grad evals / device s" in table
    assert "| 3 / 1,400 / 14.0 |" in table     # sam: 2 completed trials, 1 pruned at epoch 1
    assert "| sgd | - | 0.6000 ± n/a (1) | 1 of 1 | 0.6200 ± 0.0200 |" in table and "baseline" in table
    assert "9 (1 diverged, 1 pruned)" in table and "| 3 (+1 diverged, counted as failures) |" in table
    sam_line = next(v for v in res.verdict if v.startswith("sam"))
    # raw p 0.25 (the smallest an exact sign-flip test has at n = 3), adjusted in the report's
    # one Holm family (sam, obf vs sgd; sam vs obf)
    assert res.rows["sam"].comparison.p == 0.25 and res.rows["sam"].p_holm > 0.25
    assert ("sam vs sgd at equal epochs: not distinguishable at n = 3 (Holm-corrected p = "
            f"{res.rows['sam'].p_holm:.2g} ") in sam_line
    assert f"{res.rows['sam'].comparison.diff:+.4f}" in sam_line
    assert "80 % power at the observed difference and spread would need n = 7 paired" in sam_line
    md = (tmp_path / "report.md").read_text()
    assert table in md and "## Verdict" in md and sam_line in md and "abc123" in md
    assert all(r.run_id in md for r in records)
    tex = (tmp_path / "report.tex").read_text()
    assert r"\textbf{obf}" in tex and r"$\Delta$ vs baseline" in tex and r"val\_acc" in tex
    rows = {row["method"]: row for row in csv.DictReader(io.StringIO(
        (tmp_path / "report.csv").read_text()))}
    assert float(rows["sam"]["mean"]) == pytest.approx(0.72)
    assert float(rows["sam"]["delta"]) == pytest.approx(0.10) and rows["sam"]["test"] == (
        "sign-flip permutation (exact)")
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
    assert res.rows["sam"].test is None
    assert res.best_method == "obf"        # named on validation: the best search score
    assert "not enough confirm runs" in res.verdict[0]


def test_the_report_shows_both_deltas_and_says_both_verdicts(make_record, tmp_path):
    tests = {"sgd": [0.60, 0.62, 0.61], "sam": [0.70, 0.73, 0.71], "sgd_x2": [0.69, 0.74, 0.70]}
    study, records = compute_matched_records(make_record, tests)
    res = build_report(records, study, tmp_path, "md", analysis=False)
    head = res.table_text.splitlines()[0]
    assert "Δ vs baseline [95% CI]" in head and "Δ vs equal-compute reference [95% CI]" in head
    sam_row = next(line for line in res.table_text.splitlines() if line.startswith("| sam |"))
    assert "(paired t, n = 3) vs sgd_x2 |" in sam_row
    sam = [v for v in res.verdict if v.startswith("sam")]
    assert len(sam) == 2 and "sgd at equal epochs" in sam[0] and "sgd_x2 at equal compute" in sam[1]
    assert "sam beats sgd at equal epochs" in sam[0]          # +0.10, tight: significant
    assert "not distinguishable at n = 3" in sam[1]           # +0.003 vs the 2x-epoch arm
    row = next(x for x in csv.DictReader(io.StringIO((tmp_path / "report.csv").read_text()))
               if x["method"] == "sam")
    assert row["matched_arm"] == "sgd_x2" and float(row["matched_delta"]) == pytest.approx(0.01 / 3)
