"""Does generalization track forgetting or sharpness? Rank correlations over a sweep's runs.

Over every completed, full-length run of a sweep (search and confirm phases), the Kendall τ-b
(`scipy.stats.kendalltau`) between each diagnostic's final value and (a) the test accuracy
(`test_acc`; `val_acc` when no run has a test metric, which the output says) and (b) the
generalization gap `clean_fit - test_acc` (training accuracy on unflipped labels minus test
accuracy). Each τ comes with a 95 % paired percentile-bootstrap interval over runs
(`scipy.stats.bootstrap`, (diagnostic, target) pairs resampled together, 9,999 resamples, fixed
seed); resamples in which either variable is constant (τ-b undefined) are dropped. Percentile
rather than BCa: BCa's jackknife acceleration is undefined when the bootstrap distribution is
degenerate (e.g. a perfectly concordant diagnostic, whose interval is [1, 1]).
Question after Vani et al. 2024 (arXiv 2406.06700); rank-correlation method after Jiang et
al. 2019 (arXiv 1912.02178) and Andriushchenko et al. 2023 (arXiv 2302.07011).

A diagnostic with fewer than `MIN_RUNS` finite values or constant values is skipped. Runs of
one config over several seeds are not independent draws of configs, so the intervals are
approximate; `clean_fit`'s τ vs the gap is partly by construction.

The tables, the generated sentence and the files are `sweeps.report.analysis`'s.

Example (on a sweep's records)::

    a = analyze_records(records)
    a.rows[0].name, a.rows[0].vs_target.fmt()
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as _st

from sweeps.store.schema import Phase, RunRecord

__all__ = ["DIAGNOSTICS", "MIN_RUNS", "Correlation", "DiagnosticRow", "Analysis",
           "resampled_tau_b", "kendall_ci", "eligible_runs", "analyze_records"]

DIAGNOSTICS = ("forget_events", "ever_forgotten", "unforgettable", "clean_fit", "noisy_fit",
               "perturbed_flip", "perturbed_kl", "sharpness_adaptive", "hessian_top_eig",
               "hessian_trace")
MIN_RUNS = 4
N_RESAMPLES = 9999
SEED = 0
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Correlation:
    """Kendall τ-b over `n` runs, its bootstrap interval and p-value (NaN where undefined)."""

    n: int
    tau: float
    ci_low: float
    ci_high: float
    p: float
    dropped: int = 0     # bootstrap resamples with a constant variable (τ-b undefined)

    def fmt(self, digits: int = 2) -> str:
        """`"-0.62 [-0.80, -0.41]"`, `"n/a"` when τ is undefined (a constant target)."""
        if math.isnan(self.tau):
            return "n/a"
        return f"{self.tau:.{digits}f} [{self.ci_low:.{digits}f}, {self.ci_high:.{digits}f}]"

    def abs_interval(self) -> tuple[float, float]:
        """The interval of |τ|: [0, max] when it straddles 0."""
        lo, hi = abs(self.ci_low), abs(self.ci_high)
        if self.ci_low <= 0 <= self.ci_high:
            return 0.0, max(lo, hi)
        return min(lo, hi), max(lo, hi)


@dataclass(frozen=True)
class DiagnosticRow:
    """One analysed diagnostic: τ vs the target and τ vs the gap (None: too few/constant)."""

    name: str
    vs_target: Correlation
    vs_gap: Correlation | None


@dataclass
class Analysis:
    """The correlations of one sweep's runs and the diagnostics that could not be ranked."""

    target: str                      # "test_acc", or "val_acc" (fallback)
    runs: list[RunRecord]
    rows: list[DiagnosticRow]
    skipped: dict[str, str] = field(default_factory=dict)
    n_resamples: int = N_RESAMPLES
    seed: int = SEED

    @property
    def fallback(self) -> bool:
        return self.target != "test_acc"

    @property
    def gap_label(self) -> str:
        return f"clean_fit − {self.target}"


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


def kendall_ci(x: Sequence[float], y: Sequence[float], n_resamples: int = N_RESAMPLES,
               seed: int = SEED, confidence: float = CONFIDENCE) -> Correlation:
    """τ-b of paired `(x, y)` with a paired percentile-bootstrap interval (fixed seed).

    Runs are resampled with replacement (`scipy.stats.bootstrap` over run indices, so each
    diagnostic value keeps its target value); resamples with a constant x or y are dropped.

    >>> c = kendall_ci([1, 2, 3, 4, 5], [10, 20, 30, 40, 50], n_resamples=2000)
    >>> round(c.tau, 12), c.ci_low, c.ci_high, c.n
    (1.0, 1.0, 1.0, 5)
    """
    xa, ya = np.asarray(x, float), np.asarray(y, float)
    n = int(xa.size)
    res = _st.kendalltau(xa, ya)
    tau, p = float(res.statistic), float(res.pvalue)
    if math.isnan(tau):
        return Correlation(n, math.nan, math.nan, math.nan, math.nan)

    def statistic(idx: np.ndarray, axis: int = -1) -> np.ndarray:
        return resampled_tau_b(xa, ya, np.moveaxis(idx, axis, -1).reshape(-1, n))

    with warnings.catch_warnings():  # NaN resamples (a constant variable) are dropped below
        warnings.simplefilter("ignore", _st.DegenerateDataWarning)
        boot = _st.bootstrap((np.arange(n),), statistic, vectorized=True,
                             n_resamples=n_resamples, batch=max(1, 2_000_000 // n),
                             method="percentile", confidence_level=confidence,
                             rng=np.random.default_rng(seed))
    dist = np.asarray(boot.bootstrap_distribution, float)
    finite = dist[np.isfinite(dist)]
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(finite, [alpha, 1 - alpha]) if finite.size else (math.nan, math.nan)
    return Correlation(n, tau, float(lo), float(hi), p, int(dist.size - finite.size))


def eligible_runs(records: Sequence[RunRecord]) -> list[RunRecord]:
    """Completed, full-length runs of the search and confirm phases."""
    return [r for r in records if r.full_length and r.phase in (Phase.SEARCH, Phase.CONFIRM)]


def _finite(v: float | None) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _pairs(runs: Sequence[RunRecord], diag: str, target: str,
           gap: bool) -> tuple[list[float], list[float]]:
    """(diagnostic, target or gap) of the runs where both are finite."""
    xs, ys = [], []
    for r in runs:
        x, t = r.final.get(diag), r.final.get(target)
        y = (r.final.get("clean_fit", math.nan) - t) if gap and _finite(t) else t
        if _finite(x) and _finite(y):
            xs.append(float(x))  # type: ignore[arg-type]
            ys.append(float(y))  # type: ignore[arg-type]
    return xs, ys


def _usable(xs: Sequence[float]) -> str | None:
    """Why a diagnostic's paired values cannot be ranked, or None when they can."""
    if len(xs) < MIN_RUNS:
        return f"{len(xs)} finite value{'s' if len(xs) != 1 else ''} < {MIN_RUNS}"
    if len(set(xs)) == 1:
        return "constant"
    return None


def analyze_records(records: Sequence[RunRecord], n_resamples: int = N_RESAMPLES,
                    seed: int = SEED) -> Analysis:
    """Correlate every present diagnostic with test accuracy and the gap over eligible runs.

    Example::

        a = analyze_records(records)
        a.rows[0].name, a.rows[0].vs_target.fmt()   # ('ever_forgotten', '-0.62 [-0.80, -0.41]')
    """
    runs = eligible_runs(records)
    has_test = any(_finite(r.final.get("test_acc")) for r in runs)
    target = "test_acc" if has_test else "val_acc"
    rows: list[DiagnosticRow] = []
    skipped: dict[str, str] = {}
    for diag in DIAGNOSTICS:
        if not any(diag in r.final for r in runs):
            continue
        xs, ys = _pairs(runs, diag, target, gap=False)
        why = _usable(xs)
        if why is not None:
            skipped[diag] = why
            continue
        gx, gy = _pairs(runs, diag, target, gap=True)
        gap = kendall_ci(gx, gy, n_resamples, seed) if _usable(gx) is None else None
        rows.append(DiagnosticRow(diag, kendall_ci(xs, ys, n_resamples, seed), gap))
    return Analysis(target, runs, rows, skipped, n_resamples=n_resamples, seed=seed)
