"""The n a comparison would need: noncentral-t power, and the permutation test's floor."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from sweeps.results.power import holm_alpha, min_n_to_reject, n_for_power, power


def test_power_is_the_noncentral_t_formula():
    n, diff, sd, alpha = 8, 0.02, 0.025, 0.05
    crit = st.t.ppf(1 - alpha / 2, n - 1)
    ncp = diff / sd * math.sqrt(n)
    expected = st.nct.sf(crit, n - 1, ncp) + st.nct.cdf(-crit, n - 1, ncp)
    assert power(diff, sd, n, alpha, "t") == pytest.approx(expected)
    # the exact sign-flip test over 8 pairs: p-values are multiples of 2/256; 12/256 <= 0.05
    crit = st.t.ppf(1 - (12 / 256) / 2, n - 1)
    attainable = st.nct.sf(crit, n - 1, ncp) + st.nct.cdf(-crit, n - 1, ncp)
    assert power(diff, sd, n, alpha, "permutation") == pytest.approx(attainable)


def test_power_matches_simulated_t_tests():
    rng = np.random.default_rng(0)
    d = rng.normal(0.5, 1.0, size=(4000, 12))
    rate = np.mean(st.ttest_1samp(d, 0, axis=1).pvalue < 0.05)
    assert power(0.5, 1.0, 12, 0.05, "t") == pytest.approx(rate, abs=0.025)


def test_the_permutation_test_needs_2_over_2_to_the_n_below_alpha():
    assert min_n_to_reject(0.05) == 6 and min_n_to_reject(0.05 / 4) == 8
    assert power(10.0, 1.0, 5, 0.05, "permutation") == 0.0
    assert n_for_power(10.0, 1.0, 0.05, "permutation") == 6    # a huge effect: the floor
    assert n_for_power(10.0, 1.0, 0.05, "t") == 3


def test_n_for_power_is_the_smallest_n_reaching_80_percent():
    n = n_for_power(0.01, 0.02, holm_alpha(0.05, 3), "t")
    assert power(0.01, 0.02, n, 0.05 / 3, "t") >= 0.8 > power(0.01, 0.02, n - 1, 0.05 / 3, "t")
    assert n_for_power(0.0, 0.02, 0.05, "t") is None
    assert n_for_power(0.01, math.nan, 0.05, "t") is None


def test_the_permutation_tests_power_is_the_t_tests_at_its_attainable_level():
    """Over 10 pairs the exact sign-flip test's p-values are multiples of 2/1024: at 0.005 it
    rejects only at p <= 4/1024."""
    from sweeps.results.power import attainable_level

    assert attainable_level(0.005, 10) == 4 / 1024
    assert power(1.0, 1.0, 10, 0.005, "permutation") == pytest.approx(
        power(1.0, 1.0, 10, 4 / 1024, "t"))
    assert power(1.0, 1.0, 10, 0.005, "permutation") < power(1.0, 1.0, 10, 0.005, "t")
