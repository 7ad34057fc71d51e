"""The fair-comparison rules of the report rows on hand-built records: a diverged confirm seed
counts as a failure, an equal-compute arm worse than its cheaper baseline is not the reference,
the tuning budget per method, the power statement, pairwise groups of the compared methods."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sweeps.results.budget import Budget, budget_note
from sweeps.results.paired import compare, sign_flip_p
from sweeps.results.pairwise import pairwise_comparisons
from sweeps.results.power import n_for_power
from sweeps.results.rows import method_pairs, method_rows
from sweeps.study.study_file import parse_study
from tests.support.report_case import STUDY

SGD, SAM, OBF = {"perturbation": "none"}, {"rho": 0.1}, {"perturbation": "obf", "rho": 0.1}


def _confirm(r, t, method, cfg, tests: dict[int, float], epochs: int = 3) -> list:
    return [r(method, "confirm", "completed", s, cfg, {"val_acc": 0.7, "test_acc": v}, next(t),
              epochs=epochs) for s, v in tests.items()]


def test_a_diverged_confirm_seed_counts_as_a_failure_at_the_worst_score(make_record):
    r, t = make_record, iter(range(100))
    sgd = {1: 0.60, 2: 0.62, 3: 0.61, 4: 0.63, 5: 0.59, 6: 0.62}
    sam = {1: 0.70, 2: 0.71, 3: 0.72, 4: 0.70, 5: 0.73}          # seed 6 diverged
    records = [r("sgd", "search", "completed", 0, SGD, {"val_acc": 0.6}, next(t)),
               r("sam", "search", "completed", 0, SAM, {"val_acc": 0.7}, next(t))]
    records += _confirm(r, t, "sgd", SGD, sgd) + _confirm(r, t, "sam", SAM, sam)
    records.append(r("sam", "confirm", "diverged", 6, SAM, {"val_acc": math.nan}, next(t)))
    row = method_rows(records, STUDY)["sam"]
    assert row.lost_seeds == {6: "diverged"} and row.test.n == 5        # named beside n
    assert row.scores_by_seed[6] == 0.59                   # the worst confirm test score
    c = row.comparison
    assert (c.n, c.failures) == (6, 1)                     # in the pairs, not dropped
    d = [sam.get(s, 0.59) - sgd[s] for s in sorted(sgd)]
    assert c.diff == pytest.approx(np.mean(d)) and c.p == pytest.approx(sign_flip_p(d))
    assert c.p > 2 / 64                                    # without the failure: 2 / 32 at n = 5


MATCHED = """compute_matched: true
base: {dataset: digits, epochs: 3}
methods:
  sgd: {fixed: {perturbation: none}}
  sam: {space: {rho: {loguniform: [0.01, 0.5]}}}
"""


def _matched_records(r, arm_val: float) -> list:
    t, out = iter(range(100)), []
    tests = {"sgd": [0.60, 0.62, 0.61, 0.63, 0.60, 0.61],
             "sam": [0.70, 0.73, 0.71, 0.72, 0.69, 0.74],
             "sgd_x2": [0.55, 0.56, 0.54, 0.57, 0.55, 0.56]}
    for m, cfg, epochs, val in (("sgd", SGD, 3, 0.62), ("sam", SAM, 3, 0.72),
                                ("sgd_x2", SGD, 6, arm_val)):
        out.append(r(m, "search", "completed", 0, cfg, {"val_acc": val}, next(t), epochs=epochs))
        out += [r(m, "confirm", "completed", s, cfg, {"val_acc": val, "test_acc": v}, next(t),
                  epochs=epochs) for s, v in zip(range(1, 7), tests[m], strict=True)]
    return out


def test_an_arm_worse_than_its_cheaper_baseline_is_not_the_equal_compute_reference(make_record):
    study = parse_study(MATCHED)
    worse = method_rows(_matched_records(make_record, 0.55), study)["sam"]
    assert worse.matched_arm == "sgd_x2" and worse.matched_reference == "sgd"
    assert "sgd_x2 (given sam's compute) scores worse than the cheaper sgd on validation" in \
        worse.matched_note
    assert worse.matched_comparison.diff == pytest.approx(worse.comparison.diff)  # vs sgd
    better = method_rows(_matched_records(make_record, 0.65), study)["sam"]
    assert better.matched_reference == "sgd_x2" and better.matched_note is None
    assert better.matched_comparison.diff == pytest.approx(
        np.mean(np.subtract([0.70, 0.73, 0.71, 0.72, 0.69, 0.74],
                            [0.55, 0.56, 0.54, 0.57, 0.55, 0.56])))


def test_the_tuning_budget_counts_search_trials_only(make_record):
    r, t = make_record, iter(range(100))
    records = [r("sgd", "search", "completed", 0, SGD, {"val_acc": 0.6}, next(t))]
    records += [r("sam", "search", "completed", 0, {"rho": v}, {"val_acc": 0.7}, next(t))
                for v in (0.05, 0.1)]
    records.append(r("sam", "search", "pruned", 0, {"rho": 0.3}, {"val_acc": 0.5}, next(t),
                     reached=1))
    records += _confirm(r, t, "sam", {"rho": 0.05}, {1: 0.7, 2: 0.71})
    rows = method_rows(records, STUDY)
    # conftest: 200 grad evals and 2 device-s an epoch for SAM, 100 for SGD; 3 epochs, 1 pruned
    assert rows["sam"].budget == Budget(3, 200.0 * 7, 2.0 * 7)
    assert rows["sgd"].budget == Budget(1, 300.0, 6.0) and rows["obf"].budget.trials == 0
    note = budget_note({m: rows[m].budget for m in ("sgd", "sam")})
    assert note.startswith("Tuning budgets differ: sgd 1 trial (300 grad evals, 6.0 device-s), "
                           "sam 3 trials (1,400 grad evals, 14.0 device-s).")
    assert budget_note({"a": Budget(2, 1.0, 1.0), "b": Budget(2, 9.0, 9.0)}) is None


def test_not_significant_comparisons_state_the_seeds_80_percent_power_needs(make_record):
    r, t = make_record, iter(range(100))
    sgd, sam = {1: 0.60, 2: 0.62, 3: 0.61}, {1: 0.63, 2: 0.61, 3: 0.65}
    records = [r("sgd", "search", "completed", 0, SGD, {"val_acc": 0.6}, next(t)),
               r("sam", "search", "completed", 0, SAM, {"val_acc": 0.7}, next(t))]
    records += _confirm(r, t, "sgd", SGD, sgd) + _confirm(r, t, "sam", SAM, sam)
    c = method_rows(records, STUDY)["sam"]
    d = np.subtract(list(sam.values()), list(sgd.values()))
    assert c.n_needed == n_for_power(d.mean(), d.std(ddof=1), 0.05, "permutation")
    assert c.n_needed >= 6          # the exact test cannot reach 0.05 below n = 6


def test_pairwise_groups_join_methods_that_cannot_be_told_apart():
    seeds = range(1, 9)
    c = {s: 0.6 + 0.01 * s for s in seeds}
    a = {s: v + 0.10 for s, v in c.items()}                         # a - c: +0.10 on every seed
    b = {s: v + (0.2 if s % 2 else -0.1) for s, v in c.items()}     # b - c: +0.05, mixed signs
    pw = pairwise_comparisons({"c": c, "b": b, "a": a}, "max")
    assert pw.order == ("a", "b", "c")
    assert pw.p_holm[("a", "c")] == pytest.approx(3 * 2 / 256)     # Holm over 3 pairs
    assert pw.distinct("a", "c") and not pw.distinct("a", "b") and not pw.distinct("b", "c")
    assert pw.groups == (("a", "b"), ("b", "c")) and pw.letters() == {"a": "a", "b": "ab", "c": "b"}
    far = {s: v - 0.2 for s, v in c.items()}
    pw = pairwise_comparisons({"a": a, "b": b, "far": far}, "max")
    assert pw.groups == (("a", "b"), ("far",))
    assert pw.comparisons[("a", "b")] == compare(a, b)


def test_method_pairs_leave_out_the_baseline_and_the_arms(make_record):
    study = parse_study(MATCHED.replace(
        "  sam:", "  obf: {fixed: {perturbation: obf}, space: {rho: {loguniform: [0.01, 0.5]}}}\n  sam:"))
    records = _matched_records(make_record, 0.65)
    t = iter(range(200, 300))
    records.append(make_record("obf", "search", "completed", 0, OBF, {"val_acc": 0.7}, next(t)))
    records += _confirm(make_record, t, "obf", OBF, {s: 0.7 + 0.001 * s for s in range(1, 7)})
    pw = method_pairs(method_rows(records, study), study)
    assert set(pw.order) == {"sam", "obf"} and list(pw.comparisons) == [pw.order]
