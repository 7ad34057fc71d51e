"""Summary statistics on known numbers."""

from __future__ import annotations

import math

import pytest

from sweeps.results.stats import ACCURACY_RANGE, holm, metric_range, summarize, t_quantile


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


def test_holm_known_values():
    assert holm({"a": 0.01, "b": 0.04, "c": 0.03}) == {"a": 0.03, "b": 0.06, "c": 0.06}
    out = holm({"a": 0.5, "b": math.nan})
    assert out["a"] == 0.5 and math.isnan(out["b"])


def test_an_accuracy_interval_is_cut_to_0_1():
    free = summarize([0.95, 0.99])
    cut = summarize([0.95, 0.99], bounds=ACCURACY_RANGE)
    assert free.ci_high > 1 and cut.ci_high == 1.0 and cut.ci_low == pytest.approx(free.ci_low)
    low = summarize([0.01, 0.05], bounds=metric_range("test_acc"))
    assert low.ci_low == 0.0 and low.ci_high < 1
    assert metric_range("val_loss") == (0.0, math.inf)
