"""The verdict calibration benchmark at small size: simulated studies have the intended
pairing and failures, go through the real engine, and the figures have their shape."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from benchmarks.verdict_calibration import (
    METHODS,
    PAIRED_SD,
    calibrate,
    simulate,
    study,
    table,
    verdicts,
)


def test_simulated_studies_pair_their_seeds_and_sometimes_diverge():
    rng = np.random.default_rng(1)
    recs = simulate(rng, 6, {"sam": 0.5})
    confirm = [r for r in recs if r.phase == "confirm" and r.status == "completed"]
    by = {(r.method, r.seed): r.final["test_acc"] for r in confirm}
    # the seed effect is shared: methods' scores correlate across seeds far above chance
    sgd = [by.get(("sgd", s), np.nan) for s in range(1, 7)]
    gsam = [by.get(("gsam", s), np.nan) for s in range(1, 7)]
    ok = ~np.isnan(sgd) & ~np.isnan(gsam)
    assert np.corrcoef(np.array(sgd)[ok], np.array(gsam)[ok])[0, 1] > 0.3
    assert np.mean([by[("sam", s)] for s in range(1, 7) if ("sam", s) in by]) > 1.0
    diverged = sum(any(r.status == "diverged" for r in simulate(rng, 5, {})) for _ in range(400))
    assert 5 <= diverged <= 40                      # about 5 % of studies


def test_a_large_effect_is_reported_and_the_baseline_is_left_out_of_the_pairs():
    spec = study("t")
    base, pairs = verdicts(simulate(np.random.default_rng(2), 6, {"sam": 20 * PAIRED_SD}), spec)
    assert any(v.startswith("sam beats sgd at equal epochs") for v in base)
    assert len(base) == len(METHODS) - 1 and not any("sgd" in v for v in pairs if v.startswith("- "))


@pytest.mark.parametrize("test", ["permutation", "t"])
def test_calibration_figures_have_their_shape(test):
    r = calibrate(6, test, studies=20, seed=3)
    assert set(r) == {"null_baseline", "null_pairwise", "null_any", "detected", "stated_power"}
    assert all(0.0 <= v <= 1.0 for v in r.values())
    assert r["null_any"] >= max(r["null_baseline"], r["null_pairwise"])
    # the family: 4 methods vs the baseline and their 6 pairs; Holm's first step alpha / 10
    level, df, ncp = 0.05 / 10, 5, np.sqrt(6)   # a one-SD difference over 6 pairs
    crit = stats.t.ppf(1 - level / 2, df)
    t_power = stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp)
    # the exact sign-flip test over 6 pairs cannot reach 0.005 (its smallest p is 2/64)
    assert r["stated_power"] == (0.0 if test == "permutation" else pytest.approx(t_power))
    assert f"| {test} | 6 | {r['null_baseline']:.1%} |" in table({(6, test): r}, 20)
