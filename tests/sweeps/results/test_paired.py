"""The paired tests of a comparison on hand cases: exact sign-flip p-values, the interval that
inverts the test, truncation to the metric's range, the t option and the Welch fallback."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats as st

from sweeps.results.paired import (
    ACCURACY_BOUNDS,
    compare,
    sign_flip_interval,
    sign_flip_p,
)


@pytest.mark.parametrize("n, smallest", [(3, 0.25), (5, 0.0625), (6, 0.03125), (8, 2 / 256)])
def test_the_smallest_exact_p_is_two_over_2_to_the_n(n, smallest):
    assert sign_flip_p([0.1 + i / 100 for i in range(n)]) == pytest.approx(smallest)


def test_sign_flip_p_counts_the_patterns_at_least_as_extreme():
    d = [0.3, -0.1, 0.2, 0.05]
    patterns = [np.array(s) * d for s in itertools.product([-1, 1], repeat=4)]
    by_hand = sum(abs(p.sum()) >= abs(sum(d)) - 1e-12 for p in patterns) / 16
    assert by_hand == pytest.approx(6 / 16)  # |0.45| reached by 0.45, 0.35 (-0.05 flipped)... x2
    assert sign_flip_p(d) == pytest.approx(by_hand)
    assert sign_flip_p([0.0, 0.0, 0.0]) == 1.0


def test_monte_carlo_beyond_16_pairs_is_seeded_and_close_to_the_t_test():
    d = np.random.default_rng(3).normal(0.3, 1.0, 30)
    p = sign_flip_p(d)
    assert p == sign_flip_p(d)                       # fixed seed: the same p every time
    assert p == pytest.approx(st.ttest_1samp(d, 0).pvalue, abs=0.03)


def test_the_interval_inverts_the_test():
    d = np.array([0.10, 0.12, 0.08, 0.11, 0.09, 0.10, 0.13, 0.07])
    low, high = sign_flip_interval(d)
    assert low < d.mean() < high
    assert sign_flip_p(d - (low + 1e-6)) > 0.05 and sign_flip_p(d - (high - 1e-6)) > 0.05
    assert sign_flip_p(d - (low - 1e-4)) <= 0.05 and sign_flip_p(d - (high + 1e-4)) <= 0.05


def test_where_the_test_cannot_reject_the_interval_is_the_metric_range():
    c = compare({1: 0.9, 2: 0.92, 3: 0.95}, {1: 0.5, 2: 0.52, 3: 0.51}, bounds=ACCURACY_BOUNDS)
    assert (c.test, c.n, c.p) == ("sign-flip permutation (exact)", 3, 0.25)
    assert (c.ci_low, c.ci_high) == (-1.0, 1.0)
    assert c.sd == pytest.approx(np.std([0.4, 0.4, 0.44], ddof=1))
    # printed as what it is, not as the range; 6 pairs can reject (2 / 64 < 0.05) and are bounded
    assert c.unbounded and c.fmt() == "+0.4133 [unbounded at n = 3]"
    six = compare({s: 0.9 + s / 100 for s in range(6)}, {s: 0.5 for s in range(6)},
                  bounds=ACCURACY_BOUNDS)
    assert not six.unbounded and six.fmt() == f"+0.4250 [{six.ci_low:+.4f}, {six.ci_high:+.4f}]"
    assert six.ci_high < 1.0
    assert not compare({1: 0.9, 2: 0.92, 3: 0.95}, {1: 0.5, 2: 0.52, 3: 0.51}, test="t").unbounded


def test_a_t_interval_of_an_accuracy_difference_stops_at_1():
    c = compare({1: 0.99, 2: 0.8, 3: 0.9}, {1: 0.1, 2: 0.7, 3: 0.7}, test="t",
                bounds=ACCURACY_BOUNDS)
    free = st.ttest_rel([0.99, 0.8, 0.9], [0.1, 0.7, 0.7]).confidence_interval()
    assert free.high > 1 and c.ci_high == 1.0 and c.ci_low == pytest.approx(max(free.low, -1))


def test_t_option_and_welch_fallback():
    a, b = {1: 0.80, 2: 0.83, 3: 0.81, 7: 0.5}, {1: 0.70, 2: 0.72, 3: 0.74, 9: 0.9}
    c = compare(a, b, test="t")
    assert (c.test, c.n, c.unpaired) == ("paired t", 3, 2)
    assert c.diff == pytest.approx((0.10 + 0.11 + 0.07) / 3)
    assert c.p == pytest.approx(st.ttest_rel([0.80, 0.83, 0.81], [0.70, 0.72, 0.74]).pvalue)
    w = compare({1: 0.8, 2: 0.9}, {3: 0.6, 4: 0.65, 5: 0.7})
    assert (w.test, w.n, w.paired) == ("Welch t", 2, False)
    assert w.p == pytest.approx(st.ttest_ind([0.8, 0.9], [0.6, 0.65, 0.7], equal_var=False).pvalue)
    assert compare({1: 0.8}, b) is None
    with pytest.raises(ValueError, match="test: value 'z' is unknown; allowed: permutation, t"):
        compare(a, b, test="z")
    assert compare({1: 0.5, 2: 0.25}, {1: 0.5, 2: 0.25}, test="t").p == 1.0  # nothing differs


def test_the_t_test_of_identical_scores_finds_no_difference():
    c = compare({1: 0.8, 2: 0.7, 3: 0.9}, {1: 0.8, 2: 0.7, 3: 0.9}, test="t")
    assert (c.diff, c.p, c.ci_low, c.ci_high) == (0.0, 1.0, 0.0, 0.0)
    constant = compare({1: 0.75, 2: 0.5}, {1: 0.5, 2: 0.25}, test="t")  # scipy: t infinite
    assert constant.diff == 0.25 and constant.p == 0.0
    exact = compare({1: 0.75, 2: 0.5}, {1: 0.5, 2: 0.25})  # the default: 2 pairs, p >= 0.5
    assert exact.p == 0.5
