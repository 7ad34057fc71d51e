"""Tuning-budget curves: how good each method gets after k trials of its search, and which
method is best at each budget. Pure computation over a sweep's records, no I/O.

- Expected best validation score after k trials (Dodge et al. 2019, "Show your work", EMNLP):
  with the method's n trial scores sorted v(1) <= ... <= v(n), k draws with replacement give
  E[max of k] = sum_i v(i) [(i/n)^k - ((i-1)/n)^k] (`expected_max`; mode min: the mirror
  image). Band: a percentile bootstrap over the trial pool (the n scores resampled with
  replacement, the estimator applied to each resample, fixed seed).
- The test score of that pick: the same weights applied to the test scores of the trials in
  validation order (the expected test score of the trial the validation split would pick
  among k draws). A trial's test score is its config's mean over the confirm seeds where
  the config was confirmed, else the search run's own final test metric; without one for every
  trial, no test curve. The test split never picks anything here.
- The probability that each method is best at budget k (Sivaprasad et al. 2020, "Optimizer
  benchmarking needs to account for hyperparameter tuning", ICML): each method draws k trials
  with replacement from its pool, the best draw's score is compared across methods (a tie
  shares the win), over `N_DRAWS` repetitions (fixed seed).
- Against device-seconds: budget k costs k times the method's mean device-seconds per trial.

Pruned trials are kept, scored by their last validation value: the budget k counts trials
started, and an ASHA-stopped trial was spent; its last value is a lower bound on what it would
have reached in most runs (learning curves rise), so the curve is conservative rather than
inflated by leaving the stopped trials out. Diverged trials are kept with their last finite
value, else the pool's worst score; failed trials (infrastructure) are left out.

The estimator assumes i.i.d. draws. A TPE search's trials depend on the earlier ones, and ASHA
stops some early: the curve then describes resampling this pool, not k trials of a fresh
search; a random sampler's (or QMC's) trials are closer to i.i.d. draws (`iid_note`).

Example:
    >>> expected_max([0.1, 0.3, 0.2], 2).round(4).tolist()    # (1/9)(.1) + (3/9)(.2) + (5/9)(.3)
    [0.2, 0.2444]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sweeps.store.phase import Phase
from sweeps.store.schema import RunRecord, RunStatus
from sweeps.study.spec import StudySpec

__all__ = ["N_BOOT", "N_DRAWS", "SEED", "TuningCurve", "expected_max", "max_weights",
           "trial_pool", "filled", "tuning_curve", "prob_best", "tuning_curves", "iid_note"]

N_BOOT = 2000
N_DRAWS = 4000
SEED = 0


@dataclass(frozen=True)
class TuningCurve:
    """One method's expected best validation score at k = 1..n trials, its band, the test
    score of that pick (None: not every trial has one), and the device-seconds of k trials."""

    method: str
    expected: np.ndarray
    band_low: np.ndarray
    band_high: np.ndarray
    test: np.ndarray | None
    seconds: np.ndarray
    n: int
    pruned: int
    diverged: int

    @property
    def k(self) -> np.ndarray:
        return np.arange(1, self.n + 1)


def max_weights(n: int, k_max: int) -> np.ndarray:
    """(n, k_max) weights: entry (i-1, k-1) = (i/n)^k - ((i-1)/n)^k, the chance that the i-th
    smallest of n values is the maximum of k draws with replacement.

    >>> max_weights(2, 2).tolist()
    [[0.5, 0.25], [0.5, 0.75]]
    """
    i = np.arange(1, n + 1)[:, None] / n
    k = np.arange(1, k_max + 1)[None, :]
    return i ** k - (i - 1 / n) ** k


def expected_max(scores: Sequence[float], k_max: int | None = None,
                 mode: str = "max") -> np.ndarray:
    """E[best of k draws with replacement] for k = 1..k_max (default n); mode min: the lowest.

    >>> expected_max([0.4, 0.2], mode="min").round(4).tolist()
    [0.3, 0.25]
    """
    v = np.sort(np.asarray(scores, float))
    if mode == "min":
        return -expected_max(-v, k_max)
    return v @ max_weights(v.size, k_max or v.size)


def _last_finite(r: RunRecord, metric: str) -> float:
    for row in [r.final, *reversed(r.history)]:
        v = row.get(metric)
        if isinstance(v, (int, float)) and math.isfinite(v):
            return float(v)
    return math.nan


def trial_pool(records: Sequence[RunRecord], method: str,
               metric: str) -> tuple[list[RunRecord], np.ndarray, int, int]:
    """A method's search trials (failed ones and those that never reported `metric` out), their
    last finite scores (NaN: a diverged trial without one), and how many were pruned and
    diverged."""
    runs = [r for r in records if r.method == method and r.phase == Phase.SEARCH
            and r.status in (RunStatus.COMPLETED, RunStatus.PRUNED, RunStatus.DIVERGED)]
    runs = [r for r in runs
            if math.isfinite(_last_finite(r, metric)) or r.status == RunStatus.DIVERGED]
    scores = np.array([_last_finite(r, metric) for r in runs], float)
    pruned = sum(r.status == RunStatus.PRUNED for r in runs)
    diverged = sum(r.status == RunStatus.DIVERGED for r in runs)
    return runs, scores, pruned, diverged


def filled(scores: np.ndarray, mode: str) -> np.ndarray:
    """Scores with each NaN (a diverged trial without a finite value) set to the pool's worst;
    empty when no score is finite.

    >>> filled(np.array([0.2, np.nan, 0.5]), "max").tolist(), filled(np.array([np.nan]), "max").size
    ([0.2, 0.2, 0.5], 0)
    """
    finite = scores[np.isfinite(scores)]
    if not finite.size:
        return finite
    worst = finite.min() if mode == "max" else finite.max()
    return np.where(np.isfinite(scores), scores, worst)


def _test_scores(records: Sequence[RunRecord], runs: Sequence[RunRecord],
                 test_metric: str) -> np.ndarray | None:
    """Each trial's test score: its config's mean over its confirm seeds (a seed's latest run),
    else its own final test metric; None unless every trial has one."""
    latest: dict[tuple[str, int | None], RunRecord] = {}
    for r in sorted(records, key=lambda r: r.start_time):
        v = r.final.get(test_metric)
        if r.phase == Phase.CONFIRM and r.full_length and isinstance(v, float) and math.isfinite(v):
            latest[(r.group_key, r.seed)] = r
    confirmed: dict[str, list[float]] = {}
    for (key, _), r in latest.items():
        confirmed.setdefault(key, []).append(r.final[test_metric])
    out = [float(np.mean(confirmed[r.group_key])) if r.group_key in confirmed
           else r.final.get(test_metric, math.nan) for r in runs]
    arr = np.array(out, float)
    return arr if arr.size and np.isfinite(arr).all() else None


def tuning_curve(records: Sequence[RunRecord], method: str, metric: str, mode: str,
                 test_metric: str | None = None, n_boot: int = N_BOOT,
                 seed: int = SEED) -> TuningCurve | None:
    """A method's tuning curve from its search trials (None without any)."""
    runs, scores, pruned, diverged = trial_pool(records, method, metric)
    scores = filled(scores, mode)
    n = int(scores.size)
    if not n:
        return None
    sign = -1.0 if mode == "min" else 1.0
    order = np.argsort(sign * scores, kind="stable")
    w = max_weights(n, n)
    expected = scores[order] @ w
    rng = np.random.default_rng(seed)
    boot = np.sort(sign * scores[rng.integers(0, n, (n_boot, n))], axis=1) @ w * sign
    lo, hi = np.quantile(boot, [0.025, 0.975], axis=0)
    tests = _test_scores(records, runs, test_metric) if test_metric else None
    secs = float(np.mean([r.device_seconds for r in runs]))
    return TuningCurve(method, expected, lo, hi, None if tests is None else tests[order] @ w,
                       secs * np.arange(1, n + 1), n, pruned, diverged)


def prob_best(pools: dict[str, np.ndarray], k_max: int, mode: str = "max",
              n_draws: int = N_DRAWS, seed: int = SEED) -> dict[str, np.ndarray]:
    """P(method's best of k draws beats the others'), k = 1..k_max; ties share the win.

    >>> p = prob_best({"a": np.array([1.0, 2.0]), "b": np.array([1.5])}, 2, n_draws=20000)
    >>> bool(abs(p["a"][0] - 0.5) < 0.02), bool(abs(p["a"][1] - 0.75) < 0.02)  # 1 - (1/2)^2
    (True, True)
    """
    rng = np.random.default_rng(seed)
    sign = -1.0 if mode == "min" else 1.0
    names = list(pools)
    out = {m: np.zeros(k_max) for m in names}
    for k in range(1, k_max + 1):
        best = np.stack([(sign * pools[m])[rng.integers(0, pools[m].size, (n_draws, k))].max(1)
                         for m in names])
        top = best == best.max(0)
        share = top / top.sum(0)
        for j, m in enumerate(names):
            out[m][k - 1] = float(share[j].mean())
    return out


def tuning_curves(records: Sequence[RunRecord], study: StudySpec, test_metric: str | None,
                  n_boot: int = N_BOOT, seed: int = SEED) -> dict[str, TuningCurve]:
    """Each study method's tuning curve (methods without search trials left out)."""
    out = {}
    for m in study.methods:
        c = tuning_curve(records, m, study.metric, study.mode, test_metric, n_boot, seed)
        if c is not None:
            out[m] = c
    return out


def iid_note(study: StudySpec) -> str:
    """What the curves' i.i.d. assumption means for this study's sampler and scheduler."""
    sampler = study.sampler.type
    head = {"tpe": "TPE trials are not i.i.d. draws (each depends on the earlier ones)",
            "grid": "a grid's trials are not random draws (every point once)",
            }.get(sampler, f"{sampler} trials are independent draws of the space")
    if study.scheduler is not None:
        head += "; ASHA stopped some early (scored by their last validation value)"
    return (f"The estimator assumes i.i.d. trials: {head}. The curves resample this sweep's "
            "trial pool; they estimate k trials of a fresh search only for a random sampler "
            "without early stopping.")
