"""How many paired seeds a comparison would need: power of the paired test, n for 80 % power.

The power of a two-sided paired test at level `alpha` with n pairs, true mean difference
`diff` and SD of the differences `sd` is that of the paired t-test (noncentral t with n - 1
degrees of freedom and noncentrality diff / sd * sqrt(n); Cohen 1988, ch. 2). The exact
sign-flip permutation test's p-values are multiples of 2 / 2^n, so at level alpha it rejects
only at its attainable level floor(alpha 2^(n-1)) / 2^(n-1): its power is the t-test's at that
level (0 where that is 0, i.e. 2 / 2^n > alpha: its smallest p), and its n needed is at least the
smallest n with 2 / 2^n <= alpha. Beyond `EXACT_MAX_N` pairs (Monte Carlo p-values) the level
is alpha itself.

The level is Holm's first step, alpha / m over a family of m comparisons (`holm_alpha`): the
level a comparison must reach when it is the strongest of its family (Holm 1979).

Example:
    >>> n_for_power(1.0, 1.0, 0.05, "t")
    10
    >>> n_for_power(1.0, 1.0, 0.05 / 4, "permutation")
    15
"""

from __future__ import annotations

import math

from scipy import stats as _st

from sweeps.results.paired import EXACT_MAX_N

__all__ = ["holm_alpha", "power", "n_for_power", "min_n_to_reject", "attainable_level"]

N_MAX = 100_000


def holm_alpha(alpha: float, family: int) -> float:
    """alpha / m: the level of Holm's first step in a family of m comparisons."""
    return alpha / max(family, 1)


def min_n_to_reject(alpha: float) -> int:
    """The smallest n whose sign-flip test can reach `alpha` (2 / 2^n <= alpha).

    >>> min_n_to_reject(0.05), min_n_to_reject(0.0125)
    (6, 8)
    """
    return max(2, math.ceil(math.log2(2.0 / alpha) - 1e-12))


def attainable_level(alpha: float, n: int) -> float:
    """The largest level at most `alpha` the exact sign-flip test over n pairs can reach.

    >>> attainable_level(0.005, 10), attainable_level(0.05, 5)
    (0.00390625, 0.0)
    """
    if n > EXACT_MAX_N:
        return alpha
    half = 2.0 ** (n - 1)
    return math.floor(alpha * half + 1e-9) / half


def power(diff: float, sd: float, n: int, alpha: float, test: str) -> float:
    """The power of the two-sided paired test (see the module docstring); NaN when undefined.

    >>> round(power(1.0, 1.0, 10, 0.05, "t"), 3), power(1.0, 1.0, 5, 0.05, "permutation")
    (0.803, 0.0)
    """
    if n < 2 or not (math.isfinite(diff) and math.isfinite(sd)):
        return math.nan
    if test == "permutation":
        alpha = attainable_level(alpha, n)
        if alpha == 0.0:
            return 0.0
    if sd == 0:
        return 1.0 if diff != 0 else alpha
    df, ncp = n - 1, abs(diff) / sd * math.sqrt(n)
    crit = float(_st.t.ppf(1 - alpha / 2, df))
    return float(_st.nct.sf(crit, df, ncp) + _st.nct.cdf(-crit, df, ncp))


def n_for_power(diff: float, sd: float, alpha: float, test: str,
                target: float = 0.8) -> int | None:
    """The smallest n whose power reaches `target`; None when no n does (no difference, an
    undefined SD, or more than 100,000 pairs)."""
    if not (math.isfinite(diff) and math.isfinite(sd)) or diff == 0:
        return None
    lo = min_n_to_reject(alpha) if test == "permutation" else 2
    if power(diff, sd, lo, alpha, test) >= target:
        return lo
    hi = lo
    while power(diff, sd, hi, alpha, test) < target:
        if hi > N_MAX:
            return None
        hi *= 2
    while hi - lo > 1:  # power grows with n: bisection
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if power(diff, sd, mid, alpha, test) >= target else (mid, hi)
    return hi
