"""Kendall τ-b with bootstrap intervals: over paired values (`kendall_ci`), and the mean of τ-b
over groups of runs (`grouped_tau`: within-method and granulated τ), pure numpy/scipy.

`kendall_ci`: a paired percentile bootstrap over runs (`scipy.stats.bootstrap` over run indices,
(x, y) pairs resampled together, fixed seed); resamples with a constant variable (τ-b undefined)
are dropped. Percentile rather than BCa: BCa's jackknife acceleration is undefined when the
bootstrap distribution is degenerate. A bootstrap interval that collapses to a point (4
perfectly ordered points: every defined resample has τ = 1) is no interval: it is replaced by
"no valid interval at n = k" (`Correlation.why_no_interval`), never printed as [1, 1].

p-value (`kendall_p`): two-sided, exact where it can be: scipy's exact null distribution of τ
without ties (n <= 33), an exact permutation test of the pairings with ties for n <= 7 (Monte
Carlo with 9,999 permutations beyond), the normal approximation only for n > 33 without ties.
n = 4 perfectly ordered points: p = 2/4! = 1/12 = 0.083.

`grouped_tau`: the mean over groups of each group's τ-b (groups whose τ-b is undefined, a
constant variable, are left out); its interval is a stratified percentile bootstrap: each
group's runs are resampled with replacement within the group (its size kept), the mean taken
over the groups whose resampled τ-b is defined; resamples with none are dropped.

Example:
    >>> c = kendall_ci([1, 2, 3, 4, 5], [10, 20, 30, 40, 50], n_resamples=2000)
    >>> round(c.tau, 12), c.fmt(), round(c.p, 4), c.n
    (1.0, '1.00 [no valid interval at n = 5]', 0.0167, 5)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as _st

__all__ = ["N_RESAMPLES", "SEED", "CONFIDENCE", "Correlation", "resampled_tau_b", "kendall_ci",
           "percentile_ci", "tau_b", "config_means", "mean_of_resamples", "grouped_tau",
           "UNDEFINED", "kendall_p", "checked_interval"]

N_RESAMPLES = 9999
SEED = 0
CONFIDENCE = 0.95
_CELLS = 2_000_000     # resample x run cells per batch of a bootstrap


@dataclass(frozen=True)
class Correlation:
    """Kendall τ-b over `n` runs (or a mean of τ-b over `groups` groups of them), its bootstrap
    interval and p-value (NaN where undefined)."""

    n: int
    tau: float
    ci_low: float
    ci_high: float
    p: float
    dropped: int = 0     # bootstrap resamples with τ-b undefined (a constant variable)
    groups: int = 0      # groups averaged over (0: one plain τ-b)
    why_no_interval: str = ""   # e.g. "no valid interval at n = 4" (ci_low, ci_high: NaN)

    @property
    def defined(self) -> bool:
        return not math.isnan(self.tau)

    @property
    def has_interval(self) -> bool:
        return self.defined and not math.isnan(self.ci_low)

    def fmt(self, digits: int = 2) -> str:
        """`"-0.62 [-0.80, -0.41]"`, `"n/a"` when τ is undefined (a constant target)."""
        if math.isnan(self.tau):
            return "n/a"
        if self.why_no_interval:
            return f"{self.tau:.{digits}f} [{self.why_no_interval}]"
        if math.isnan(self.ci_low):
            return f"{self.tau:.{digits}f} [n/a]"
        return f"{self.tau:.{digits}f} [{self.ci_low:.{digits}f}, {self.ci_high:.{digits}f}]"

    def abs_interval(self) -> tuple[float, float]:
        """The interval of |τ|: [0, max] when it straddles 0 (NaN, NaN without an interval)."""
        lo, hi = abs(self.ci_low), abs(self.ci_high)
        if self.ci_low <= 0 <= self.ci_high:
            return 0.0, max(lo, hi)
        return min(lo, hi), max(lo, hi)


UNDEFINED = Correlation(0, math.nan, math.nan, math.nan, math.nan)


def _signs(v: np.ndarray) -> np.ndarray:
    return np.sign(v[..., :, None] - v[..., None, :])


def _ratio(num: np.ndarray, tx: np.ndarray, ty: np.ndarray) -> np.ndarray:
    den = np.sqrt(tx * ty)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def resampled_tau_b(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """τ-b of `(x[idx], y[idx])` for each row of the index array `idx` (resamples x n).

    A resample is a count per run c, so each sum over its pairs is the quadratic form
    c' S c of the runs' pair-sign matrix S (an index drawn twice ties with itself: sign 0):
    O(n²) per resample in a matrix product instead of O(n²) sign matrices per resample.

    >>> float(resampled_tau_b(np.array([1., 2, 3]), np.array([3., 1, 2]), np.array([[0, 1, 1]]))[0])
    -1.0
    """
    idx = np.atleast_2d(idx)
    b, n = idx.shape[0], x.size
    counts = np.bincount((np.arange(b)[:, None] * n + idx).ravel(), minlength=b * n)
    c = counts.reshape(b, n).astype(float)
    sx, sy = _signs(x), _signs(y)

    def form(m: np.ndarray) -> np.ndarray:
        return ((c @ m) * c).sum(axis=1)

    return _ratio(form(sx * sy), form(np.abs(sx)), form(np.abs(sy)))


def percentile_ci(dist: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float, int]:
    """The percentile interval of the finite entries of a bootstrap distribution, and how many
    entries were not finite (dropped)."""
    dist = np.asarray(dist, float)
    finite = dist[np.isfinite(dist)]
    alpha = (1 - confidence) / 2
    if not finite.size:
        return math.nan, math.nan, int(dist.size)
    lo, hi = np.quantile(finite, [alpha, 1 - alpha])
    return float(lo), float(hi), int(dist.size - finite.size)


def checked_interval(lo: float, hi: float, n: int) -> tuple[float, float, str]:
    """A bootstrap interval, or (NaN, NaN, why) when it collapsed to a point (no valid interval).

    >>> checked_interval(1.0, 1.0, 4)
    (nan, nan, 'no valid interval at n = 4')
    >>> checked_interval(-0.2, 0.6, 30)
    (-0.2, 0.6, '')
    """
    if math.isnan(lo) or hi - lo <= 1e-12:
        return math.nan, math.nan, f"no valid interval at n = {n}"
    return lo, hi, ""


def kendall_p(x: Sequence[float], y: Sequence[float], n_permutations: int = N_RESAMPLES,
              seed: int = SEED) -> float:
    """Two-sided p-value of τ-b = 0: exact without ties (n <= 33), else a permutation test of
    the pairings (exact while n! <= `n_permutations`, Monte Carlo beyond; fixed seed).

    >>> round(kendall_p([1, 2, 3, 4], [1, 2, 3, 4]), 4)      # 2 of 4! orderings: 1/12
    0.0833
    >>> round(kendall_p([1, 2, 3, 4], [1, 2, 2, 4]), 4)      # ties: exact over the 24 pairings
    0.1667
    """
    xa, ya = np.asarray(x, float), np.asarray(y, float)
    ties = np.unique(xa).size < xa.size or np.unique(ya).size < ya.size
    if not ties or xa.size > 33:
        return float(_st.kendalltau(xa, ya).pvalue)   # scipy: exact without ties up to n = 33

    def statistic(yp: np.ndarray, axis: int = -1) -> np.ndarray:
        yp = np.moveaxis(yp, axis, -1).reshape(-1, xa.size)
        sx, sy = _signs(xa), _signs(yp)
        return _ratio((sx * sy).sum((1, 2)), np.abs(sx).sum(), np.abs(sy).sum((1, 2)))

    res = _st.permutation_test((ya,), statistic, permutation_type="pairings", vectorized=True,
                               n_resamples=n_permutations, batch=max(1, _CELLS // xa.size ** 2),
                               rng=np.random.default_rng(seed))
    return float(res.pvalue)


def kendall_ci(x: Sequence[float], y: Sequence[float], n_resamples: int = N_RESAMPLES,
               seed: int = SEED, confidence: float = CONFIDENCE) -> Correlation:
    """τ-b of paired `(x, y)` with a paired percentile-bootstrap interval (fixed seed).

    >>> kendall_ci([1, 2, 3, 4], [1, 1, 1, 1]).fmt()
    'n/a'
    """
    xa, ya = np.asarray(x, float), np.asarray(y, float)
    n = int(xa.size)
    res = _st.kendalltau(xa, ya)
    tau = float(res.statistic)
    if math.isnan(tau):
        return Correlation(n, math.nan, math.nan, math.nan, math.nan)

    def statistic(idx: np.ndarray, axis: int = -1) -> np.ndarray:
        return resampled_tau_b(xa, ya, np.moveaxis(idx, axis, -1).reshape(-1, n))

    with warnings.catch_warnings():  # NaN resamples (a constant variable) are dropped below
        warnings.simplefilter("ignore", _st.DegenerateDataWarning)
        boot = _st.bootstrap((np.arange(n),), statistic, vectorized=True,
                             n_resamples=n_resamples, batch=max(1, _CELLS // n),
                             method="percentile", confidence_level=confidence,
                             rng=np.random.default_rng(seed))
    lo, hi, dropped = percentile_ci(boot.bootstrap_distribution, confidence)
    lo, hi, why = checked_interval(lo, hi, n)
    return Correlation(n, tau, lo, hi, kendall_p(xa, ya, n_resamples, seed), dropped, 0, why)


def _signs_tol(v: np.ndarray) -> np.ndarray:
    """Pair signs of the last axis, NaN entries (absent points) as ties, and differences within
    1e-9 relative as ties (means of equal values may differ in the last bits)."""
    d = v[..., :, None] - v[..., None, :]
    scale = np.maximum(np.abs(v[..., :, None]), np.abs(v[..., None, :]))
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(np.sign(d) * (np.abs(d) > 1e-9 * scale))


def config_means(x: Sequence[float], y: Sequence[float],
                 labels: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """x and y averaged over the runs that share a label (one point per label, in the order
    labels first appear): a config's seeds become one point.

    >>> config_means([1.0, 3.0, 5.0], [2.0, 4.0, 6.0], ["a", "a", "b"])
    (array([2., 5.]), array([3., 6.]))
    """
    codes, k = _codes(labels)
    xa, ya = np.asarray(x, float), np.asarray(y, float)
    count = np.bincount(codes, minlength=k)
    return np.bincount(codes, xa, k) / count, np.bincount(codes, ya, k) / count


def _codes(labels: Sequence[Any]) -> tuple[np.ndarray, int]:
    first: dict[str, int] = {}
    codes = np.array([first.setdefault(repr(v), len(first)) for v in labels], int)
    return codes, len(first)


def _resamples(x: np.ndarray, y: np.ndarray, labels: Sequence[Any] | None, n_resamples: int,
               rng: np.random.Generator) -> np.ndarray:
    """τ-b of `n_resamples` resamples of one group's runs (with replacement, size kept): over
    the runs, or with `labels` over the label means of each resample's runs."""
    n = x.size
    step = max(1, _CELLS // n)
    parts = []
    for i in range(0, n_resamples, step):
        idx = rng.integers(0, n, (min(step, n_resamples - i), n))
        if labels is None:
            parts.append(resampled_tau_b(x, y, idx))
            continue
        codes, k = _codes(labels)
        b = idx.shape[0]
        c = np.bincount((np.arange(b)[:, None] * n + idx).ravel(), minlength=b * n)
        c = c.reshape(b, n).astype(float)
        onehot = (codes[:, None] == np.arange(k)[None, :]).astype(float)
        w = c @ onehot
        with np.errstate(invalid="ignore", divide="ignore"):
            mx, my = (c * x) @ onehot / w, (c * y) @ onehot / w   # NaN: a label not drawn
        sx, sy = _signs_tol(mx), _signs_tol(my)
        parts.append(_ratio((sx * sy).sum((1, 2)), np.abs(sx).sum((1, 2)),
                            np.abs(sy).sum((1, 2))))
    return np.concatenate(parts)


def mean_of_resamples(dists: Sequence[np.ndarray]) -> np.ndarray:
    """Resample by resample, the mean of several statistics' bootstrap distributions over
    those defined (NaN where none is).

    >>> mean_of_resamples([np.array([1.0, np.nan]), np.array([0.0, np.nan])])
    array([0.5, nan])
    """
    with warnings.catch_warnings():   # an all-NaN column (nothing defined) stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.stack(dists), axis=0)


def tau_b(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall τ-b of (x, y), None when undefined (fewer than 2 values, or one is constant).

    >>> round(tau_b([1, 2, 3], [1, 3, 2]), 6), tau_b([1, 2], [4, 4])
    (0.333333, None)
    """
    if len(x) < 2:
        return None
    t = float(_st.kendalltau(x, y).statistic)
    return None if math.isnan(t) else t


Group = tuple[Sequence[float], Sequence[float]] | tuple[Sequence[float], Sequence[float], Sequence[Any]]


def grouped_tau(groups: Sequence[Group], n_resamples: int = N_RESAMPLES,
                seed: int | Sequence[int] = SEED,
                confidence: float = CONFIDENCE) -> tuple[Correlation, np.ndarray]:
    """The mean over `groups` of each group's τ-b, with a stratified bootstrap interval; also
    the bootstrap distribution of the mean (for averaging further, e.g. over axes).

    A group is (x, y) of its runs, or (x, y, labels): then τ-b is taken over the label means
    (`config_means`), in the bootstrap too. `n` counts the runs of the groups with a defined
    τ-b, `groups` those groups; the p-value is NaN (no test of a mean of dependent τs).

    >>> c, _ = grouped_tau([([1, 2, 3], [1, 2, 3]), ([1, 2, 3], [3, 2, 1]), ([1, 2], [5, 5])])
    >>> c.tau, c.n, c.groups
    (0.0, 6, 2)
    >>> g = ([1, 5, 3, 4], [1, 2, 3, 4])                 # τ-b over the runs: 1/3
    >>> grouped_tau([(*g, ["a", "a", "b", "b"])], 100)[0].tau   # over the means of a and b
    1.0
    """
    kept = []
    for g in groups:
        x, y = np.asarray(g[0], float), np.asarray(g[1], float)
        labels = g[2] if len(g) > 2 else None  # type: ignore[misc]
        t = tau_b(*config_means(x, y, labels)) if labels is not None else tau_b(x, y)
        if t is not None:
            kept.append((x, y, labels, t))
    if not kept:
        return UNDEFINED, np.full(n_resamples, np.nan)
    rng = np.random.default_rng(seed)
    dist = mean_of_resamples([_resamples(x, y, lab, n_resamples, rng) for x, y, lab, _ in kept])
    lo, hi, dropped = percentile_ci(dist, confidence)
    n = sum(x.size for x, *_ in kept)
    lo, hi, why = checked_interval(lo, hi, n)
    tau = float(np.mean([t for *_, t in kept]))
    return Correlation(n, tau, lo, hi, math.nan, dropped, len(kept), why), dist
