"""Summary statistics over seeds: mean, sample std and a 95 % Student-t confidence interval.

Example:
    >>> s = summarize([1, 2, 3, 4])
    >>> round(s.mean, 4), round(s.std, 4), round(s.ci_low, 4), round(s.ci_high, 4)
    (2.5, 1.291, 0.4457, 4.5543)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

__all__ = ["Summary", "summarize", "t_quantile", "Comparison", "compare", "holm"]


@dataclass(frozen=True)
class Summary:
    """`n` values: mean, sample std (ddof=1, 0 for n=1), 95 % t-interval (NaN for n=1)."""

    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float

    @property
    def half_width(self) -> float:
        """Half the CI width (NaN for n=1)."""
        return (self.ci_high - self.ci_low) / 2

    def fmt(self, digits: int = 4) -> str:
        """`"mean ± std"`, e.g. `"0.7650 ± 0.0120"`."""
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"

    def fmt_ci(self, digits: int = 4) -> str:
        """`"[low, high]"`, or `"n/a"` when undefined (n=1)."""
        if math.isnan(self.ci_low):
            return "n/a"
        return f"[{self.ci_low:.{digits}f}, {self.ci_high:.{digits}f}]"


def t_quantile(p: float, df: int) -> float:
    """Student-t quantile: `t_quantile(0.975, 3)` is 3.182446..."""
    return float(_st.t.ppf(p, df))


def summarize(values: Sequence[float], confidence: float = 0.95) -> Summary:
    """Mean, sample std and the two-sided Student-t CI of the mean.

    >>> summarize([0.5]).std, summarize([0.5]).fmt_ci()
    (0.0, 'n/a')
    """
    x = np.asarray(values, dtype=float)
    n = int(x.size)
    if n == 0:
        raise ValueError("summarize: values is empty; need at least one value")
    mean = float(x.mean())
    if n == 1:
        return Summary(1, mean, 0.0, math.nan, math.nan)
    std = float(x.std(ddof=1))
    half = t_quantile(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)
    return Summary(n, mean, std, mean - half, mean + half)


@dataclass(frozen=True)
class Comparison:
    """Method minus baseline: difference of means, its 95 % CI, the t-test's p-value."""

    diff: float
    ci_low: float
    ci_high: float
    p: float
    test: str          # "paired t" (seeds both ran) or "Welch t"
    n: int             # pairs (paired) or the method's runs (Welch)
    n_baseline: int
    unpaired: int = 0  # seeds only one side ran, left out of a paired test

    def fmt(self, digits: int = 4) -> str:
        """`"+0.0123 [+0.0040, +0.0206]"`."""
        if math.isnan(self.ci_low):
            return f"{self.diff:+.{digits}f}"
        return f"{self.diff:+.{digits}f} [{self.ci_low:+.{digits}f}, {self.ci_high:+.{digits}f}]"


def compare(values: dict[int, float], baseline: dict[int, float],
            confidence: float = 0.95) -> Comparison | None:
    """Compare per-seed `values` with per-seed `baseline` values.

    Paired t-test on the per-seed differences over the seeds both ran (when at least 2; seeds
    only one side ran are left out and counted in `unpaired`), Welch's t-test on all values
    otherwise; None when either side has fewer than 2 values.

    >>> c = compare({1: 0.80, 2: 0.82, 3: 0.81}, {1: 0.70, 2: 0.73, 3: 0.71})
    >>> c.test, round(c.diff, 4), round(c.p, 5)
    ('paired t', 0.0967, 0.00119)
    >>> compare({1: 0.80, 2: 0.82, 4: 0.9}, {1: 0.70, 2: 0.73, 3: 0.71}).unpaired
    2
    """
    if len(values) < 2 or len(baseline) < 2:
        return None
    common = sorted(set(values) & set(baseline))
    if len(common) >= 2:
        a = np.array([values[s] for s in common])
        b = np.array([baseline[s] for s in common])
        res = _st.ttest_rel(a, b)
        test, n = "paired t", len(common)
    else:
        a, b = np.array(list(values.values())), np.array(list(baseline.values()))
        res = _st.ttest_ind(a, b, equal_var=False)
        test, n = "Welch t", len(a)
    diff = float(a.mean() - b.mean())
    unpaired = len(set(values) ^ set(baseline)) if test == "paired t" else 0
    if not math.isfinite(float(res.pvalue)):  # no variance at all: nothing to test
        return Comparison(diff, math.nan, math.nan, math.nan, test, n, len(b), unpaired)
    ci = res.confidence_interval(confidence)
    return Comparison(diff, float(ci.low), float(ci.high), float(res.pvalue), test, n, len(b),
                      unpaired)


def holm(pvalues: dict[str, float]) -> dict[str, float]:
    """Holm-Bonferroni adjusted p-values (NaN entries are left out of the family and stay NaN).

    >>> holm({"a": 0.01, "b": 0.04, "c": 0.03})
    {'a': 0.03, 'b': 0.06, 'c': 0.06}
    """
    valid = sorted((p, k) for k, p in pvalues.items() if math.isfinite(p))
    out = {k: math.nan for k in pvalues}
    running, m = 0.0, len(valid)
    for i, (p, k) in enumerate(valid):
        running = max(running, min(1.0, (m - i) * p))
        out[k] = running
    return {k: round(v, 12) if math.isfinite(v) else v for k, v in out.items()}
