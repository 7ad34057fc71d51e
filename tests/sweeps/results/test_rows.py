"""Report rows on known numbers: each winner's test score over fresh seeds only, Δ vs the
baseline (the study's paired test by seed, Welch otherwise) and Holm, to the formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sweeps.results.rows import best_method, method_pairs, method_rows, metric_on_test_split
from tests.support.report_case import (
    SAM_TEST,
    STUDY,
    STUDY_T,
    compute_matched_records,
    report_records,
)


@pytest.fixture(scope="module")
def records(make_record):
    return report_records(make_record)


def test_rows_score_the_winner_on_the_test_set_over_fresh_seeds_only(records):
    rows = method_rows(records, STUDY_T)
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
    # one Holm family over every verdict of the report: sam and obf vs sgd, and sam vs obf
    pair = method_pairs(rows, STUDY_T)
    (pair_c,) = [v for v in pair.comparisons.values() if v is not None]
    ps = sorted([c.p, o.p, pair_c.p])
    adjusted = [min(1, 3 * ps[0])]
    adjusted += [max(adjusted[0], min(1, 2 * ps[1]))]
    adjusted += [max(adjusted[1], min(1, ps[2]))]
    by_p = dict(zip(ps, adjusted, strict=True))
    assert rows["sam"].p_holm == pytest.approx(by_p[c.p])
    assert rows["obf"].p_holm == pytest.approx(by_p[o.p])
    assert list(pair.p_holm.values()) == [pytest.approx(by_p[pair_c.p])]
    assert rows["sgd"].comparison is None and math.isnan(rows["sgd"].p_holm)


def test_the_test_metric_follows_the_validation_metric():
    assert metric_on_test_split("val_acc") == ("test_acc", "max")
    assert metric_on_test_split("val_loss") == ("test_loss", "min")


def test_the_default_test_is_the_exact_sign_flip_test(records):
    c = method_rows(records, STUDY)["sam"].comparison
    assert (c.test, c.n, c.p) == ("sign-flip permutation (exact)", 3, 0.25)   # 2 / 2^3
    assert (c.ci_low, c.ci_high) == (-1.0, 1.0)   # n = 3 cannot reject: the whole range


def test_best_method_is_named_on_validation_not_test(make_record):
    r, t, records = make_record, iter(range(100)), []
    val = {"sgd": 0.60, "sam": 0.75, "obf": 0.70}
    test = {"sgd": 0.60, "sam": 0.70, "obf": 0.90}            # obf best on test only
    for m, cfg in (("sgd", {"perturbation": "none"}), ("sam", {"rho": 0.1}),
                   ("obf", {"perturbation": "obf", "rho": 0.1})):
        records.append(r(m, "search", "completed", 0, cfg, {"val_acc": val[m] + 0.1}, next(t)))
        for seed in (1, 2):
            records.append(r(m, "confirm", "completed", seed, cfg,
                             {"val_acc": val[m], "test_acc": test[m]}, next(t)))
    rows = method_rows(records, STUDY)
    assert rows["sam"].val_score == pytest.approx(0.75)       # the confirm validation mean
    assert best_method(rows, "max") == "sam" and best_method(rows, "min") == "sgd"
    assert best_method({}, "max") is None


def test_top_k_picks_on_select_seeds_and_reports_confirm_seeds_only(make_record):
    """`confirm --top 2`: SELECT seeds choose B over the search winner A; B's test score comes
    from its CONFIRM seeds only, never from the SELECT seeds that chose it (winner's curse)."""
    r, t = make_record, iter(range(100))
    A, B = {"rho": 0.05, "perturb_batch_size": 16}, {"rho": 0.1, "perturb_batch_size": 32}
    records = [r("sgd", "search", "completed", 0, {"perturbation": "none"}, {"val_acc": 0.6}, next(t)),
               r("sam", "search", "completed", 0, A, {"val_acc": 0.80}, next(t)),
               r("sam", "search", "completed", 0, B, {"val_acc": 0.78}, next(t))]
    for seed in (11, 12):          # SELECT seeds: B wins on validation; lucky test scores
        records += [r("sam", "select", "completed", seed, A, {"val_acc": 0.70, "test_acc": 0.95},
                      next(t)),
                    r("sam", "select", "completed", seed, B, {"val_acc": 0.75, "test_acc": 0.99},
                      next(t))]
    for seed in (1, 2, 3):         # fresh CONFIRM seeds of the pick only
        records += [r("sgd", "confirm", "completed", seed, {"perturbation": "none"},
                      {"val_acc": 0.6, "test_acc": {1: 0.60, 2: 0.615, 3: 0.62}[seed]}, next(t)),
                    r("sam", "confirm", "completed", seed, B,
                      {"val_acc": 0.74, "test_acc": 0.70 + 0.01 * seed}, next(t))]
    sam = method_rows(records, STUDY)["sam"]
    assert sam.winner.params["rho"] == 0.05 and sam.pick.params["rho"] == 0.1
    assert [c.score.params["rho"] for c in sam.confirmed] == [0.1, 0.05]
    assert sam.confirmed[0].select_val.mean == pytest.approx(0.75)
    assert sam.confirmed[1].test is None                  # A: SELECT runs only, no test score
    assert sam.test_by_seed == pytest.approx({1: 0.71, 2: 0.72, 3: 0.73})   # no 0.99
    assert sam.test.mean == pytest.approx(0.72)
    assert sam.config == {"perturb_batch_size": 32, "rho": 0.1}   # every searched key
    assert sam.comparison.test == "sign-flip permutation (exact)"  # vs sgd's pick, by seed
    assert sam.comparison.diff == pytest.approx((0.11 + 0.105 + 0.11) / 3)


def test_with_top_1_the_single_confirmed_config_is_the_pick(make_record):
    r, t = make_record, iter(range(100))
    A, B = {"rho": 0.05, "perturb_batch_size": 16}, {"rho": 0.1, "perturb_batch_size": 32}
    records = [r("sam", "search", "completed", 0, A, {"val_acc": 0.80}, next(t)),
               r("sam", "search", "completed", 0, B, {"val_acc": 0.78}, next(t))]
    records += [r("sam", "confirm", "completed", s, A, {"val_acc": 0.6, "test_acc": 0.7}, next(t))
                for s in (1, 2)]
    sam = method_rows(records, STUDY)["sam"]
    assert sam.pick.params["rho"] == 0.05 and len(sam.confirmed) == 1
    assert sam.confirmed[0].select_val is None


def test_the_row_shows_every_searched_key_even_when_all_runs_share_its_value(make_record):
    """OBF searches rho only here, but all its runs have rho 0.05: the key is still shown."""
    records = [make_record("obf", "search", "completed", 0, {"perturbation": "obf", "rho": 0.05},
                           {"val_acc": 0.7}, 1)]
    assert method_rows(records, STUDY)["obf"].config == {"rho": 0.05}


def test_equal_compute_comparisons_are_against_the_matched_arm_in_the_reports_one_holm_family(
        make_record):
    """sam (2 gradient evaluations a step) vs sgd at equal epochs and vs sgd_x2 (2x epochs)."""
    tests = {"sgd": [0.60, 0.62, 0.61], "sam": [0.70, 0.73, 0.71], "sgd_x2": [0.66, 0.70, 0.67]}
    study, records = compute_matched_records(make_record, tests)
    assert study.matched == {"sam": "sgd_x2"}
    rows = method_rows(records, study)
    sam = rows["sam"]
    assert sam.matched_arm == "sgd_x2"
    d_epochs = np.subtract(tests["sam"], tests["sgd"])
    d_compute = np.subtract(tests["sam"], tests["sgd_x2"])
    assert sam.comparison.diff == pytest.approx(d_epochs.mean())
    assert sam.matched_comparison.diff == pytest.approx(d_compute.mean())
    assert sam.matched_comparison.p == pytest.approx(stats.ttest_rel(tests["sam"], tests["sgd_x2"]).pvalue)
    # one Holm family: sam vs sgd, the arm itself vs sgd, sam vs the arm (no pairs: one method)
    raw = {"epochs": sam.comparison.p, "arm": rows["sgd_x2"].comparison.p,
           "compute": sam.matched_comparison.p}
    ps = sorted(raw.values())
    adjusted = [min(1, 3 * ps[0])]
    adjusted += [max(adjusted[0], min(1, 2 * ps[1]))]
    adjusted += [max(adjusted[1], min(1, ps[2]))]
    by_p = dict(zip(ps, adjusted, strict=True))
    assert sam.p_holm == pytest.approx(by_p[raw["epochs"]])
    assert sam.matched_p_holm == pytest.approx(by_p[raw["compute"]])
    assert rows["sgd_x2"].p_holm == pytest.approx(by_p[raw["arm"]])
    assert rows["sgd_x2"].matched_arm is None and rows["sgd"].matched_comparison is None
