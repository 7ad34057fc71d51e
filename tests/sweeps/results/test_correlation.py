"""Rank correlations of diagnostics with generalization (`sweeps.results.correlation`): Kendall
τ-b and its bootstrap interval against scipy, exact p-values, no collapsed intervals, a config's
seeds as one point, the gap, which runs count, the val_acc fallback."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sweeps.results.correlation import analyze_records, kendall_ci, resampled_tau_b
from sweeps.results.kendall import kendall_p
from sweeps.store.schema import RunRecord
from tests.support.analysis_case import INDEPENDENT, TEST, N, rec, row, runs


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
    # every resample of a perfect ordering is ±1: no valid interval, said instead of [1, 1]
    assert up.tau == pytest.approx(1) and math.isnan(up.ci_low) and up.n == N
    assert up.why_no_interval == f"no valid interval at n = {N}" and not up.has_interval
    assert down.tau == pytest.approx(-1) and down.fmt() == f"-1.00 [no valid interval at n = {N}]"
    assert down.p == pytest.approx(2 / math.factorial(N))     # exact: 2 of N! orderings
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
    assert a.skipped == {"perturbed_kl": "constant",
                         "hessian_trace": "3 configs with finite values < 4"}
    keep = [i for i, v in enumerate(sharp) if math.isfinite(v)]
    c = row(a, "sharpness_adaptive").vs_target
    assert c.n == 7 and c.tau == pytest.approx(
        stats.kendalltau([sharp[i] for i in keep], [TEST[i] for i in keep]).statistic)
    assert "noisy_fit" not in a.skipped   # absent from every run: not mentioned
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
    assert a.gap_label == "clean_fit − val_acc"


def test_within_method_tau_per_method_their_mean_and_why_a_method_has_none():
    from sweeps.study.study_file import parse_study

    third = [rec(10 + i, {"test_acc": 0.7, "ever_forgotten": 0.1 * i}, method="obf")
             for i in range(5)]                                   # a constant target
    fourth = [rec(20 + i, {"test_acc": 0.6 + 0.01 * i, "ever_forgotten": 0.1 * i},
                  method="asam") for i in range(3)]               # too few runs
    a = analyze_records(runs(test_acc=TEST, ever_forgotten=INDEPENDENT) + third + fourth)
    e = row(a, "ever_forgotten")
    assert a.methods == ["asam", "obf", "sam", "sgd"]             # no study: sorted
    for m, parity in (("sam", 1), ("sgd", 0)):
        idx = [i for i in range(N) if i % 2 == parity]
        want = stats.kendalltau([INDEPENDENT[i] for i in idx], [TEST[i] for i in idx])
        c = e.within[m]
        assert (c.n, c.tau, c.p) == (5, pytest.approx(want.statistic), pytest.approx(want.pvalue))
        assert c == kendall_ci([INDEPENDENT[i] for i in idx], [TEST[i] for i in idx])
    assert e.within_skipped == {"obf": "constant test_acc",
                                "asam": "3 configs with finite values < 4"}
    assert e.within_mean.tau == pytest.approx((e.within["sam"].tau + e.within["sgd"].tau) / 2)
    assert (e.within_mean.groups, e.within_mean.n) == (2, N)
    assert e.within_mean.ci_low <= e.within_mean.tau <= e.within_mean.ci_high
    study = parse_study("name: s\nmetric: val_acc\nmethods:\n  sgd: {fixed: {perturbation: none}}\n"
                        "  sam: {fixed: {rho: 0.05}}\n")
    assert analyze_records(runs(test_acc=TEST, ever_forgotten=INDEPENDENT) + third,
                           study=study).methods == ["sgd", "sam", "obf"]


def test_tau_on_4_perfectly_ordered_points_is_exact_with_no_degenerate_interval():
    c = kendall_ci([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.4])
    assert c.tau == pytest.approx(1) and c.p == pytest.approx(1 / 12)    # 2 of 24 orderings
    assert f"{c.p:.3f}" == "0.083"
    assert math.isnan(c.ci_low) and math.isnan(c.ci_high)
    assert c.fmt() == "1.00 [no valid interval at n = 4]"


def test_p_value_with_ties_is_the_exact_permutation_p():
    import itertools

    x, y = [1, 2, 3, 4, 5], [1, 2, 2, 4, 3]
    t0 = stats.kendalltau(x, y).statistic
    taus = [stats.kendalltau(x, perm).statistic for perm in itertools.permutations(y)]
    want = np.mean([abs(t) >= abs(t0) - 1e-12 for t in taus])
    assert kendall_p(x, y) == pytest.approx(want)
    assert kendall_ci(x, y).p == pytest.approx(want)


def test_seeds_of_one_config_are_one_point_never_independent_configs():
    # 3 configs x 3 seeds: over the runs the diagnostic tracks the target within each config's
    # seeds; over the configs (means) it is perfectly discordant
    recs = []
    for c, (diag, test) in enumerate([(0.1, 0.9), (0.2, 0.8), (0.3, 0.7)]):
        for s in range(3):
            recs.append(RunRecord(f"r{c}{s}", "sam", "confirm", "completed", f"g{c}", s,
                                  {"epochs": 3}, {"epoch": 3.0, "ever_forgotten": diag + 0.1 * s,
                                                  "test_acc": test + 0.1 * s}))
    a = analyze_records(recs + [RunRecord("x", "sam", "search", "completed", "g3", 0,
                                          {"epochs": 3}, {"epoch": 3.0, "ever_forgotten": 0.5,
                                                          "test_acc": 0.6})])
    e = row(a, "ever_forgotten")
    assert e.vs_target.n == 4 and e.within["sam"].n == 4           # configs, not 10 runs
    assert e.vs_target.tau == pytest.approx(-1)
