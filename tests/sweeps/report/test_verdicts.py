"""The verdict sentences and the report's fairness sections on hand-built records: "beats"
only at Holm-adjusted p < 0.05, the n 80 % power needs otherwise, failures counted, the
equal-compute reference, the tuning budget and the pairwise groups."""

from __future__ import annotations

import pytest

from sweeps.report.document import build_report
from sweeps.report.tables import verdict_lines
from sweeps.results.rows import method_rows
from sweeps.study.study_file import parse_study

STUDY = parse_study("""compute_matched: true
base: {dataset: digits, epochs: 3}
methods:
  sgd: {fixed: {perturbation: none}}
  sam: {space: {rho: {loguniform: [0.01, 0.5]}}}
  obf: {fixed: {perturbation: obf}, space: {rho: {loguniform: [0.01, 0.5]}}}
""")
CFG = {"sgd": {"perturbation": "none"}, "sgd_x2": {"perturbation": "none"}, "sam": {"rho": 0.1},
       "obf": {"perturbation": "obf", "rho": 0.1}}
SEEDS = range(1, 9)
BASE = {s: 0.60 + 0.01 * (s % 3) for s in SEEDS}
TESTS = {"sgd": BASE, "sgd_x2": {s: v - 0.02 for s, v in BASE.items()},   # the arm: worse
         "sam": {s: v + 0.10 for s, v in BASE.items()},                    # clearly better
         "obf": {s: v + (0.03 if s % 2 else -0.02) for s, v in BASE.items()}}
VAL = {"sgd": 0.62, "sgd_x2": 0.60, "sam": 0.72, "obf": 0.63}


@pytest.fixture(scope="module")
def records(make_record):
    t, out = iter(range(1000)), []
    for m, cfg in CFG.items():
        epochs = 6 if m == "sgd_x2" else 3
        out.append(make_record(m, "search", "completed", 0, cfg, {"val_acc": VAL[m]}, next(t),
                               epochs=epochs))
        out += [make_record(m, "confirm", "completed", s, cfg,
                            {"val_acc": VAL[m], "test_acc": v}, next(t), epochs=epochs)
                for s, v in TESTS[m].items() if not (m == "obf" and s == 8)]
    out.append(make_record("obf", "confirm", "diverged", 8, CFG["obf"], {"val_acc": float("nan")},
                           next(t)))
    return out


def test_beats_only_below_the_holm_level_and_the_n_needed_otherwise(records):
    rows = method_rows(records, STUDY)
    lines = verdict_lines(rows, "sgd", "test_acc", "max")
    sam = next(v for v in lines if v.startswith("sam") and "equal epochs" in v)
    assert sam.startswith("sam beats sgd at equal epochs on test_acc: Δ test_acc = +0.1000")
    assert "sign-flip permutation (exact) over n = 8" in sam and rows["sam"].p_holm < 0.05
    obf = next(v for v in lines if v.startswith("obf") and "equal epochs" in v)
    assert obf.startswith("obf vs sgd at equal epochs: not distinguishable at n = 8")
    assert f"would need n = {rows['obf'].n_needed} paired seeds" in obf
    assert "1 diverged or failed seed(s) in the pairs, counted as failures" in obf
    assert not any("obf beats" in v for v in lines)


def test_the_equal_compute_verdict_names_the_better_reference(records):
    rows = method_rows(records, STUDY)
    assert rows["sam"].matched_reference == "sgd"
    line = next(v for v in verdict_lines(rows, "sgd", "test_acc", "max") if "equal compute" in v
                and "sam" in v[:40])
    assert line.startswith("sgd_x2 (given sam's compute) scores worse than the cheaper sgd on "
                           "validation (0.6000 vs 0.6200), so the equal-compute reference is the "
                           "better of the two, sgd. sam beats sgd at equal compute")


def test_the_report_has_the_groups_and_says_when_tuning_budgets_differ(records, tmp_path):
    res = build_report(records, STUDY, tmp_path, "md", analysis=False)
    md = (tmp_path / "report.md").read_text()
    assert "## The compared methods among themselves" in md
    assert "| sam | 0.7112 (8) | 0.7200 | a |" in md and "| obf | 0.6186 (7) | 0.6300 | b |" in md
    assert "- sam beats obf at equal epochs" in md
    assert res.best_method == "sam"
    assert "Tuning budgets differ" not in md       # one search trial each
    more = records + [r for r in records if r.method == "sam" and r.phase == "search"]
    more[-1] = type(more[-1])(**{**more[-1].__dict__, "run_id": "x", "trial_id": "t-extra"})
    md = (build_report(more, STUDY, tmp_path / "b", "md", analysis=False).files[0]).read_text()
    assert "- Tuning budgets differ: sgd 1 trial" in md and "sam 2 trials" in md


def test_the_confirmed_table_shows_the_select_means_that_picked(make_record, tmp_path):
    r, t = make_record, iter(range(100))
    a, b = {"rho": 0.05}, {"rho": 0.1}
    recs = [r("sam", "search", "completed", 0, a, {"val_acc": 0.80}, next(t)),
            r("sam", "search", "completed", 0, b, {"val_acc": 0.78}, next(t))]
    recs += [r("sam", "select", "completed", s, cfg, {"val_acc": v, "test_acc": 0.99}, next(t))
             for s in (11, 12) for cfg, v in ((a, 0.70), (b, 0.75))]
    recs += [r("sam", "confirm", "completed", s, b, {"val_acc": 0.74, "test_acc": 0.7}, next(t))
             for s in (1, 2)]
    study = parse_study("methods:\n  sam: {space: {rho: {loguniform: [0.01, 0.5]}}}\n")
    md = build_report(recs, study, tmp_path, "md", analysis=False).files[0].read_text()
    assert "| sam | rho=0.1 | 0.7800 (1) | 0.7500 (2) | 0.7400 (2) | 0.7000 ± 0.0000 |" in md
    assert "| sam | rho=0.05 | 0.8000 (1) | 0.7000 (2) | - | n/a | n/a | 0 |  |" in md
