"""Summary statistics over seeds: mean, sample std and a 95 % Student-t confidence interval,
and Holm's correction of a family of p-values. (Comparisons of two methods: `paired`.)

The interval respects the metric's range when given one (`bounds`): the mean accuracy of a few
seeds never gets an interval past 1 (`ACCURACY_RANGE`); a loss is unbounded above.

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

__all__ = ["Summary", "summarize", "t_quantile", "holm", "ACCURACY_RANGE", "metric_range"]

ACCURACY_RANGE = (0.0, 1.0)


def metric_range(metric: str) -> tuple[float, float]:
    """The values `metric` can take: [0, 1] for an accuracy, [0, inf) for a loss.

    >>> metric_range("test_acc"), metric_range("test_loss")
    ((0.0, 1.0), (0.0, inf))
    """
    return ACCURACY_RANGE if metric.endswith("_acc") else (0.0, math.inf)


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


def summarize(values: Sequence[float], confidence: float = 0.95,
              bounds: tuple[float, float] = (-math.inf, math.inf)) -> Summary:
    """Mean, sample std and the two-sided Student-t CI of the mean, cut to `bounds`.

    >>> summarize([0.5]).std, summarize([0.5]).fmt_ci()
    (0.0, 'n/a')
    >>> summarize([0.95, 0.99], bounds=ACCURACY_RANGE).fmt_ci()
    '[0.7159, 1.0000]'
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
    return Summary(n, mean, std, max(mean - half, bounds[0]), min(mean + half, bounds[1]))


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
