"""Summary statistics on known numbers."""

from __future__ import annotations

import math

import pytest

from sweeps.results.stats import compare, holm, summarize, t_quantile


def test_known_values():
    s = summarize([1, 2, 3, 4])
    assert s.n == 4 and s.mean == 2.5
    assert s.std == pytest.approx(1.2909944, abs=1e-6)
    half = 3.182446 * s.std / 2
    assert s.ci_low == pytest.approx(2.5 - half, abs=1e-5)
    assert s.ci_high == pytest.approx(2.5 + half, abs=1e-5)
    assert s.half_width == pytest.approx(half, abs=1e-5)
    assert s.fmt(2) == "2.50 ± 1.29"
    assert s.fmt_ci(2) == "[0.45, 4.55]"


def test_t_quantiles():
    assert t_quantile(0.975, 3) == pytest.approx(3.182446, abs=1e-6)
    assert t_quantile(0.975, 1) == pytest.approx(12.706205, abs=1e-6)
    assert t_quantile(0.975, 30) == pytest.approx(2.042272, abs=1e-6)


def test_two_values():
    s = summarize([0.70, 0.80])
    assert s.mean == pytest.approx(0.75) and s.std == pytest.approx(0.0707107, abs=1e-6)
    assert s.half_width == pytest.approx(12.706205 * 0.0707107 / math.sqrt(2), abs=1e-5)


def test_single_value():
    s = summarize([0.9])
    assert (s.n, s.mean, s.std) == (1, 0.9, 0.0)
    assert math.isnan(s.ci_low) and math.isnan(s.ci_high) and s.fmt_ci() == "n/a"


def test_constant_values_and_confidence():
    s = summarize([0.5, 0.5, 0.5])
    assert s.std == 0.0 and s.ci_low == s.ci_high == 0.5
    wide, narrow = summarize([1, 2, 3, 4], 0.99), summarize([1, 2, 3, 4], 0.90)
    assert wide.half_width > summarize([1, 2, 3, 4]).half_width > narrow.half_width


def test_empty():
    with pytest.raises(ValueError, match="empty"):
        summarize([])


def test_compare_pairs_over_the_seeds_both_ran_and_falls_back_to_welch():
    from scipy import stats as st

    a, b = {1: 0.80, 2: 0.83, 3: 0.81, 7: 0.5}, {1: 0.70, 2: 0.72, 3: 0.74, 9: 0.9}
    c = compare(a, b)
    d = [0.10, 0.11, 0.07]
    assert (c.test, c.n, c.unpaired) == ("paired t", 3, 2)
    assert c.diff == pytest.approx(sum(d) / 3)
    assert c.p == pytest.approx(st.ttest_rel([0.80, 0.83, 0.81], [0.70, 0.72, 0.74]).pvalue)
    w = compare({1: 0.8, 2: 0.9}, {3: 0.6, 4: 0.65, 5: 0.7})
    assert (w.test, w.n, w.unpaired) == ("Welch t", 2, 0)
    assert w.p == pytest.approx(st.ttest_ind([0.8, 0.9], [0.6, 0.65, 0.7], equal_var=False).pvalue)
    assert compare({1: 0.8}, b) is None


def test_holm_known_values():
    assert holm({"a": 0.01, "b": 0.04, "c": 0.03}) == {"a": 0.03, "b": 0.06, "c": 0.06}
    out = holm({"a": 0.5, "b": math.nan})
    assert out["a"] == 0.5 and math.isnan(out["b"])
