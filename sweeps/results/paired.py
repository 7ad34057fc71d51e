"""Method minus baseline over seeds: the paired test of a study, its p-value and its interval.

Seeds are paired when both methods ran them (a confirm seed draws the same split, label noise
and data order for every method), so the per-seed differences d_i carry the comparison.

- `permutation` (the default): the paired sign-flip permutation test (Fisher 1935; Good,
  "Permutation tests", 2000). Under H0 each d_i is as likely to have either sign; the two-sided
  p is the share of sign patterns whose |mean| is at least the observed |mean|. Exact over all
  2^n patterns for n <= 16, Monte Carlo beyond (20,000 patterns, fixed seed, p = (1 + k) /
  (1 + B)). It makes no normal assumption, but it cannot go below 2 / 2^n: 0.25 at n = 3,
  0.0625 at n = 5. Its interval inverts the same test: every shift mu whose test of d - mu is
  not rejected at 1 - confidence (found by bisection). Where the test can never reject
  (2 / 2^n > 1 - confidence: n <= 5 at 95 %) the interval is unbounded, cut to the metric's
  range, and printed as "unbounded at n = 5".
- `t`: the paired t-test and its Student-t interval.
- Welch's t-test only when fewer than 2 seeds are paired (whatever the study's test).

Intervals respect the metric's range: the difference of two accuracies lies in [-1, 1], so an
interval is cut there (`bounds`); the difference of two losses is unbounded.

Example:
    >>> round(sign_flip_p([0.1, 0.12, 0.08]), 4)   # n = 3: the smallest p there is
    0.25
    >>> c = compare({s: 0.8 + s / 100 for s in range(6)}, {s: 0.7 for s in range(6)})
    >>> c.test, c.n, round(c.p, 5), c.ci_high <= 1
    ('sign-flip permutation (exact)', 6, 0.03125, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import stats as _st

__all__ = ["EXACT_MAX_N", "TESTS", "Comparison", "sign_flip_p", "sign_flip_interval", "sign_flip_can_reject",
           "compare", "paired_differences"]

EXACT_MAX_N = 16        # all 2^n sign patterns up to here, Monte Carlo beyond
MONTE_CARLO_DRAWS = 20_000
TESTS = ("permutation", "t")
ACCURACY_BOUNDS = (-1.0, 1.0)
UNBOUNDED = (-math.inf, math.inf)


@dataclass(frozen=True)
class Comparison:
    """Method minus baseline: difference of means, its interval, the test's p-value.

    `n`: pairs (paired tests) or the method's values (Welch); `sd`: the SD of the paired
    differences (NaN for Welch); `failures`: seeds of either side that diverged or failed and
    are in the pairs at the worst score; `unpaired`: seeds only one side ran, left out."""

    diff: float
    ci_low: float
    ci_high: float
    p: float
    test: str
    n: int
    n_baseline: int
    unpaired: int = 0
    sd: float = math.nan
    failures: int = 0
    unbounded: bool = False   # the test cannot reject at this n: the interval is the whole range

    @property
    def paired(self) -> bool:
        return not self.test.startswith("Welch")

    def fmt(self, digits: int = 4) -> str:
        """`"+0.0123 [+0.0040, +0.0206]"`; `"+0.0123 [unbounded at n = 5]"` where the test
        cannot reject at this n (the exact sign-flip test below 6 pairs at 95 %)."""
        if math.isnan(self.ci_low):
            return f"{self.diff:+.{digits}f}"
        if self.unbounded:
            return f"{self.diff:+.{digits}f} [unbounded at n = {self.n}]"
        return f"{self.diff:+.{digits}f} [{self.ci_low:+.{digits}f}, {self.ci_high:+.{digits}f}]"


@cache
def _signs(n: int) -> np.ndarray:
    """The sign patterns of n pairs: all 2^n (n <= 16), else a fixed Monte Carlo draw."""
    if n <= EXACT_MAX_N:
        bits = (np.arange(2 ** n)[:, None] >> np.arange(n)) & 1
        return 1.0 - 2.0 * bits
    rng = np.random.default_rng(0)
    return rng.choice([-1.0, 1.0], size=(MONTE_CARLO_DRAWS, n))


def sign_flip_p(d: list[float] | np.ndarray) -> float:
    """Two-sided p of the paired sign-flip test of mean(d) = 0 (see the module docstring).

    >>> sign_flip_p([0.1, 0.12, 0.08, 0.11, 0.09])   # n = 5: every difference positive
    0.0625
    """
    x = np.asarray(d, dtype=float)
    n = x.size
    signs = _signs(n)
    observed = abs(x.sum())
    extreme = int((np.abs(signs @ x) >= observed - 1e-12 * max(1.0, observed)).sum())
    if n <= EXACT_MAX_N:
        return extreme / signs.shape[0]
    return (1 + extreme) / (1 + signs.shape[0])


def sign_flip_can_reject(n: int, confidence: float = 0.95) -> bool:
    """Whether the sign-flip test of n pairs can reach p < 1 - confidence at all (its smallest
    p is 2 / 2^n exactly, 2 / 20,001 by Monte Carlo).

    >>> sign_flip_can_reject(5), sign_flip_can_reject(6)
    (False, True)
    """
    return 2.0 / _signs(n).shape[0] <= 1.0 - confidence


def _boundary(x: np.ndarray, inside: float, outside: float, alpha: float) -> float:
    """Bisection between a shift the test accepts and one it rejects."""
    for _ in range(60):
        mid = (inside + outside) / 2
        if sign_flip_p(x - mid) > alpha:
            inside = mid
        else:
            outside = mid
    return (inside + outside) / 2


def sign_flip_interval(d: list[float] | np.ndarray, confidence: float = 0.95,
                       bounds: tuple[float, float] = UNBOUNDED) -> tuple[float, float]:
    """The shifts mu not rejected by the sign-flip test of d - mu at 1 - confidence, cut to
    `bounds` (unbounded where the test cannot reject at this n).

    >>> sign_flip_interval([0.1, 0.12, 0.08], bounds=(-1, 1))  # n = 3 never rejects at 0.05
    (-1.0, 1.0)
    """
    x = np.asarray(d, dtype=float)
    alpha = 1.0 - confidence
    if not sign_flip_can_reject(x.size, confidence):
        return float(bounds[0]), float(bounds[1])
    mean = float(x.mean())
    reach = 2.0 * float(np.abs(x - mean).max()) + 1e-9 + abs(mean)
    low = _boundary(x, mean, mean - reach, alpha)
    high = _boundary(x, mean, mean + reach, alpha)
    return max(low, float(bounds[0])), min(high, float(bounds[1]))


def _paired(a: np.ndarray, b: np.ndarray, test: str, confidence: float,
            bounds: tuple[float, float]) -> tuple[float, float, float, str]:
    d = a - b
    if test == "t":
        if d.size and np.all(d == 0):  # identical on every pair: nothing differs
            return 1.0, 0.0, 0.0, "paired t"
        res = _st.ttest_rel(a, b)
        if not math.isfinite(float(res.pvalue)):
            return math.nan, math.nan, math.nan, "paired t"
        ci = res.confidence_interval(confidence)
        return (float(res.pvalue), max(float(ci.low), bounds[0]), min(float(ci.high), bounds[1]),
                "paired t")
    kind = "exact" if d.size <= EXACT_MAX_N else "Monte Carlo"
    low, high = sign_flip_interval(d, confidence, bounds)
    return sign_flip_p(d), low, high, f"sign-flip permutation ({kind})"


def paired_differences(values: dict[int, float], baseline: dict[int, float]) -> np.ndarray:
    """method - baseline over the seeds both have, in seed order."""
    common = sorted(set(values) & set(baseline))
    return np.array([values[s] - baseline[s] for s in common], dtype=float)


def compare(values: dict[int, float], baseline: dict[int, float], test: str = "permutation",
            confidence: float = 0.95, bounds: tuple[float, float] = UNBOUNDED,
            failures: int = 0) -> Comparison | None:
    """Compare per-seed `values` with per-seed `baseline` values with the study's `test`
    (paired over the seeds both ran when at least 2, Welch's t-test otherwise); None when either
    side has fewer than 2 values. `failures` is recorded as given (see `Comparison`).

    >>> c = compare({1: 0.80, 2: 0.82, 3: 0.81}, {1: 0.70, 2: 0.73, 3: 0.71}, test="t")
    >>> c.test, round(c.diff, 4), round(c.p, 5)
    ('paired t', 0.0967, 0.00119)
    >>> compare({1: 0.80, 2: 0.82, 4: 0.9}, {1: 0.70, 2: 0.73, 3: 0.71}).unpaired
    2
    """
    if test not in TESTS:
        raise ValueError(f"test: value {test!r} is unknown; allowed: {', '.join(TESTS)}")
    if len(values) < 2 or len(baseline) < 2:
        return None
    common = sorted(set(values) & set(baseline))
    if len(common) >= 2:
        a = np.array([values[s] for s in common])
        b = np.array([baseline[s] for s in common])
        p, low, high, name = _paired(a, b, test, confidence, bounds)
        d = a - b
        return Comparison(float(d.mean()), low, high, p, name, len(common), len(common),
                          len(set(values) ^ set(baseline)), float(d.std(ddof=1)), failures,
                          test == "permutation" and not sign_flip_can_reject(d.size, confidence))
    a, b = np.array(list(values.values())), np.array(list(baseline.values()))
    res = _st.ttest_ind(a, b, equal_var=False)
    diff = float(a.mean() - b.mean())
    if not math.isfinite(float(res.pvalue)):  # no variance at all: nothing to test
        return Comparison(diff, math.nan, math.nan, math.nan, "Welch t", len(a), len(b),
                          failures=failures)
    ci = res.confidence_interval(confidence)
    return Comparison(diff, max(float(ci.low), bounds[0]), min(float(ci.high), bounds[1]),
                      float(res.pvalue), "Welch t", len(a), len(b), failures=failures)
