"""Report rows on known numbers: each winner's test score over fresh seeds only, Δ vs the
baseline (paired t by seed, Welch otherwise) and Holm, to the formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sweeps.results.rows import best_method, method_rows, metric_on_test_split
from tests.support.report_case import (
    OBF_TEST,
    SAM_TEST,
    STUDY,
    compute_matched_records,
    report_records,
)


@pytest.fixture(scope="module")
def records(make_record):
    return report_records(make_record)


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


def test_the_test_metric_follows_the_validation_metric():
    assert metric_on_test_split("val_acc") == ("test_acc", "max")
    assert metric_on_test_split("val_loss") == ("test_loss", "min")


def test_best_method_is_the_best_test_mean(records):
    rows = method_rows(records, STUDY)
    assert rows["obf"].test.mean == pytest.approx(sum(OBF_TEST.values()) / 2)
    assert best_method(rows, "max") == "obf" and best_method(rows, "min") == "sgd"
    assert best_method({}, "max") is None


def test_the_pick_among_confirmed_configs_is_the_best_confirm_validation_mean(make_record):
    """`confirm --top 2`: the search winner A confirms worse on validation than B; B is the pick
    (its test scores make the row), every confirmed config is listed, the test picks nothing."""
    study = STUDY
    r, t = make_record, iter(range(100))
    A, B = {"rho": 0.05, "perturb_batch_size": 16}, {"rho": 0.1, "perturb_batch_size": 32}
    records = [r("sgd", "search", "completed", 0, {"perturbation": "none"}, {"val_acc": 0.6}, next(t)),
               r("sam", "search", "completed", 0, A, {"val_acc": 0.80}, next(t)),
               r("sam", "search", "completed", 0, B, {"val_acc": 0.78}, next(t))]
    for seed in (1, 2, 3):
        records += [r("sgd", "confirm", "completed", seed, {"perturbation": "none"},
                      {"val_acc": 0.6, "test_acc": {1: 0.60, 2: 0.615, 3: 0.62}[seed]}, next(t)),
                    r("sam", "confirm", "completed", seed, A,
                      {"val_acc": 0.70, "test_acc": 0.90}, next(t)),     # best test: not picked
                    r("sam", "confirm", "completed", seed, B,
                      {"val_acc": 0.75, "test_acc": 0.70 + 0.01 * seed}, next(t))]
    sam = method_rows(records, study)["sam"]
    assert sam.winner.params["rho"] == 0.05 and sam.pick.params["rho"] == 0.1
    assert [c.score.params["rho"] for c in sam.confirmed] == [0.1, 0.05]
    assert sam.confirmed[0].confirm_val.mean == pytest.approx(0.75)
    assert sam.test_by_seed == pytest.approx({1: 0.71, 2: 0.72, 3: 0.73})
    assert sam.config == {"perturb_batch_size": 32, "rho": 0.1}   # every searched key
    assert sam.comparison.test == "paired t"                      # vs sgd's pick, by seed
    assert sam.comparison.diff == pytest.approx((0.11 + 0.105 + 0.11) / 3)


def test_the_row_shows_every_searched_key_even_when_all_runs_share_its_value(make_record):
    """OBF searches rho only here, but all its runs have rho 0.05: the key is still shown."""
    records = [make_record("obf", "search", "completed", 0, {"perturbation": "obf", "rho": 0.05},
                           {"val_acc": 0.7}, 1)]
    assert method_rows(records, STUDY)["obf"].config == {"rho": 0.05}


def test_equal_compute_comparisons_are_against_the_matched_arm_in_their_own_holm_family(
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
    # one comparison in the equal-compute family: Holm leaves it as it is
    assert sam.matched_p_holm == pytest.approx(sam.matched_comparison.p)
    # the equal-epoch family has two members (sam and the arm itself vs sgd)
    ps = sorted([sam.comparison.p, rows["sgd_x2"].comparison.p])
    assert sam.p_holm == pytest.approx(min(1, 2 * ps[0]) if sam.comparison.p == ps[0]
                                       else max(min(1, 2 * ps[0]), ps[1]))
    assert rows["sgd_x2"].matched_arm is None and rows["sgd"].matched_comparison is None
