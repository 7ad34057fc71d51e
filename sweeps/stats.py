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

__all__ = ["Summary", "summarize", "t_quantile"]


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
