"""Granulated Kendall τ (Jiang et al. 2019) and the mean of τ over groups: the groups that hold
the other searched keys exactly fixed (a grid study), ψ per key and Ψ to the formula (against
scipy), the stratified bootstrap against a brute-force replay, and NaN with the reason where
nothing varies one key or the sampler is not a grid."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sweeps.results.correlation import analyze_records
from sweeps.results.granulated import axis_groups, granulated_tau, held_value
from sweeps.results.kendall import grouped_tau, resampled_tau_b
from sweeps.study.study_file import parse_study

STUDY = parse_study("name: g\nmetric: val_acc\nsampler: grid\nmethods:\n"
                    "  sgd: {fixed: {perturbation: none}}\n"
                    "  sam: {space: {rho: {loguniform: [0.01, 0.5], values: [0.02, 0.05, 0.19, 0.2]},"
                    " perturb_batch_size: {choice: [16, 32]}}}\n")
# (m, rho, test_acc, diagnostic): m = 32 has one more rho (0.19) than m = 16
GRID = [(16, 0.02, 0.70, 0.30), (16, 0.05, 0.74, 0.20), (16, 0.20, 0.72, 0.10),
        (32, 0.02, 0.71, 0.35), (32, 0.05, 0.73, 0.25), (32, 0.20, 0.75, 0.15),
        (32, 0.19, 0.76, 0.12)]


def tau(x, y):
    return stats.kendalltau(x, y).statistic


def grid_records(make_record, grid=GRID):
    out = [make_record("sam", "search", "completed", i, {"rho": rho, "perturb_batch_size": m},
                       {"val_acc": 0.5, "test_acc": t, "ever_forgotten": d}, i)
           for i, (m, rho, t, d) in enumerate(grid)]
    out += [make_record("sgd", "search", "completed", 9, {"perturbation": "none"},
                        {"val_acc": 0.4, "test_acc": 0.6, "ever_forgotten": 0.5}, 9)]
    return out


def test_a_key_is_held_at_its_exact_value_never_a_bin():
    assert [held_value(v) for v in (0.19, 0.2, None, 16)] == [0.19, 0.2, None, 16]
    assert held_value({"a": 1}) == "{'a': 1}"          # unhashable values: their repr


def test_groups_hold_the_method_and_the_other_keys_fixed(make_record):
    recs = grid_records(make_record)
    groups = axis_groups(recs, STUDY)
    assert sorted(groups) == ["perturb_batch_size", "rho"]
    # rho varies within m = 16 (runs 0-2) and m = 32 (runs 3-6); sgd searches nothing
    assert sorted(g.runs for g in groups["rho"]) == [(0, 1, 2), (3, 4, 5, 6)]
    # m varies at each exact rho: {0, 3}, {1, 4}, {2, 5}; rho 0.19 (run 6) has one m only,
    # and 0.19 is not "held" at 0.2 (no bins)
    assert sorted(g.runs for g in groups["perturb_batch_size"]) == [(0, 3), (1, 4), (2, 5)]
    assert {g.method for gs in groups.values() for g in gs} == {"sam"}


def test_psi_is_the_mean_over_keys_of_the_mean_tau_over_groups(make_record):
    recs = grid_records(make_record)
    a = analyze_records(recs, n_resamples=500, study=STUDY)
    g = next(r for r in a.rows if r.name == "ever_forgotten").granulated
    t = [x[2] for x in GRID]
    d = [x[3] for x in GRID]

    def group_tau(idx, key):
        """τ over the group's configs: runs sharing the key's value averaged into one point."""
        by: dict = {}
        for i in idx:
            by.setdefault(GRID[i][key], []).append(i)
        return tau([np.mean([d[i] for i in v]) for v in by.values()],
                   [np.mean([t[i] for i in v]) for v in by.values()])

    psi_rho = np.mean([group_tau([0, 1, 2], 1), group_tau([3, 4, 5, 6], 1)])
    psi_m = np.mean([group_tau([0, 3], 0), group_tau([1, 4], 0), group_tau([2, 5], 0)])
    assert g.by_axis["rho"].tau == pytest.approx(psi_rho)
    assert g.by_axis["perturb_batch_size"].tau == pytest.approx(psi_m)
    assert (g.by_axis["rho"].groups, g.by_axis["perturb_batch_size"].groups) == (2, 3)
    assert g.psi.tau == pytest.approx((psi_rho + psi_m) / 2) and g.psi.groups == 2
    assert g.psi.n == 7 and g.why == ""                    # the sgd run is in no group
    assert g.pairs == 3 + 6 + 1 + 1 + 1          # C(3, 2) + C(4, 2) rho pairs, one m pair a rho
    assert g.psi.ci_low <= g.psi.tau <= g.psi.ci_high
    # the same seed gives the same interval
    again = analyze_records(recs, n_resamples=500, study=STUDY)
    assert next(r for r in again.rows if r.name == "ever_forgotten").granulated == g


def test_undefined_without_groups_or_a_study_and_says_why(make_record):
    # every run with its own rho and its own m: no two configs share the rest
    study = parse_study(STUDY.source_text.replace("[16, 32]", "[16, 32, 64]"))
    lone = [(16, 0.02, 0.70, 0.30), (32, 0.05, 0.74, 0.20), (64, 0.20, 0.72, 0.10)]
    a = analyze_records(grid_records(make_record, lone), n_resamples=200, study=study)
    g = next(r for r in a.rows if r.name == "ever_forgotten").granulated
    assert math.isnan(g.psi.tau) and g.by_axis == {}
    assert "no two configs of a method differ in one searched key" in g.why
    assert a.granulated_note == g.why and a.axes == {"perturb_batch_size": 0, "rho": 0}
    b = analyze_records(grid_records(make_record), n_resamples=200)
    assert b.granulated_note == "no study given: the searched keys are unknown"
    assert math.isnan(next(r for r in b.rows if r.name == "ever_forgotten").granulated.psi.tau)
    # the same runs from a TPE study: keys are never held exactly fixed, so it is not available
    tpe = parse_study(STUDY.source_text.replace("sampler: grid", "sampler: tpe")
                      .replace(", values: [0.02, 0.05, 0.19, 0.2]", ""))
    t = analyze_records(grid_records(make_record), n_resamples=200, study=tpe)
    assert t.granulated_note.startswith("not available with sampler 'tpe'")
    assert "sampler: grid" in t.granulated_note
    assert math.isnan(next(r for r in t.rows if r.name == "ever_forgotten").granulated.psi.tau)
    # groups exist, but the diagnostic is constant within every one of them
    flat = [(m, rho, t, 0.5 if m == 16 else 0.6) for m, rho, t, _ in GRID]
    c = analyze_records(grid_records(make_record, flat), n_resamples=200, study=STUDY)
    row = next(r for r in c.rows if r.name == "ever_forgotten")
    assert row.granulated.by_axis.keys() == {"perturb_batch_size"}   # m does vary with it


def test_grouped_tau_is_the_mean_with_a_stratified_bootstrap():
    groups = [([1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0]), ([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]),
              ([1.0, 2.0], [5.0, 5.0])]                     # the last: τ undefined, left out
    c, dist = grouped_tau(groups, n_resamples=300, seed=7)
    assert c.tau == pytest.approx((tau(*groups[0]) + tau(*groups[1])) / 2)
    assert (c.n, c.groups) == (7, 2) and math.isnan(c.p)
    # replay: the same generator draws each kept group's resamples within that group
    rng = np.random.default_rng(7)
    per_group = []
    for x, y in groups[:2]:
        x, y = np.array(x), np.array(y)
        idx = rng.integers(0, x.size, (300, x.size))
        per_group.append([tau(x[i], y[i]) for i in idx])
    want = np.nanmean(np.array(per_group, float), axis=0)
    assert np.array_equal(np.isnan(dist), np.isnan(want))
    assert dist[~np.isnan(dist)] == pytest.approx(want[~np.isnan(want)])
    lo, hi = np.quantile(want[~np.isnan(want)], [0.025, 0.975])
    assert (c.ci_low, c.ci_high) == pytest.approx((lo, hi))
    concordant, _ = grouped_tau([([1, 2, 3], [4, 5, 6]), ([1, 2], [1, 2])], n_resamples=200)
    # every resample is 1: a collapsed interval is no interval, and says so
    assert concordant.tau == 1.0 and math.isnan(concordant.ci_low)
    assert concordant.fmt() == "1.00 [no valid interval at n = 5]"
    undefined, _ = grouped_tau([([1, 2], [3, 3])])
    assert math.isnan(undefined.tau) and undefined.fmt() == "n/a"


def test_granulated_tau_counts_only_groups_with_two_values_of_the_key():
    from sweeps.results.granulated import AxisGroup

    x, y = [0.1, 0.2, 0.3, math.nan, 0.5], [1.0, 2.0, 3.0, 4.0, 0.0]
    groups = {"rho": [AxisGroup("rho", "sam", (), (0, 1, 2), (0.1, 0.1, 0.2)),
                      AxisGroup("rho", "sam", (1,), (3, 4), (0.1, 0.2))]}   # run 3: x missing
    g = granulated_tau(x, y, groups, n_resamples=100)
    assert g.by_axis["rho"].groups == 1 and g.psi.tau == pytest.approx(1.0)
    assert resampled_tau_b(np.array(x[:3]), np.array(y[:3]), np.array([[0, 1, 2]]))[0] == 1.0


def test_a_group_with_labels_is_ranked_on_its_label_means_in_the_bootstrap_too():
    x, y = [1.0, 5.0, 3.0, 4.0, 2.0], [1.0, 2.0, 3.0, 4.0, 0.5]
    labels = ["a", "a", "b", "b", "c"]          # a config's seeds share its value of the key
    c, dist = grouped_tau([(x, y, labels)], n_resamples=300, seed=3)
    means = {k: [i for i, v in enumerate(labels) if v == k] for k in "abc"}
    assert c.tau == pytest.approx(tau([np.mean([x[i] for i in v]) for v in means.values()],
                                      [np.mean([y[i] for i in v]) for v in means.values()]))
    # replay: resample the runs, average each drawn label's runs, τ-b over the drawn labels
    rng = np.random.default_rng(3)
    want = []
    for idx in rng.integers(0, 5, (300, 5)):
        drawn = {}
        for i in idx:
            drawn.setdefault(labels[i], []).append(i)
        px = [np.mean([x[i] for i in v]) for v in drawn.values()]
        py = [np.mean([y[i] for i in v]) for v in drawn.values()]
        want.append(tau(px, py) if len(drawn) > 1 else math.nan)
    want = np.array(want, float)
    assert np.array_equal(np.isnan(dist), np.isnan(want))
    assert dist[~np.isnan(dist)] == pytest.approx(want[~np.isnan(want)])
