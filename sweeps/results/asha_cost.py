"""The epochs a method's search trials train under ASHA, in expectation, for `sweep plan`.

Ray Tune's ASHA (`ASHAScheduler`; Li et al. 2020, "A System for Massively Parallel
Hyperparameter Tuning") records a trial's metric at each rung `grace * rf**k` below `max_t` and
stops it there when the metric is below the `(1 - 1/rf)` quantile (`numpy.nanpercentile`,
linear) of the values the method's earlier trials recorded at that rung; the first trial at a
rung always goes on. The sweep runs one such scheduler per method
(`sweeps.search.scheduler.PerMethodScheduler`).

Model: the trials are exchangeable (none is known to be better before it runs) and each draws
one score that ranks it at every rung (a trial ahead at epoch 10 is ahead at epoch 30); they
reach each rung in the order they started. The expected epochs are the mean over simulated
draws (a fixed seed: the plan is reproducible). Real learning curves cross, which stops a few
more trials at later rungs than this predicts.

Example:
    >>> asha_rungs(max_t=40, grace=10, reduction_factor=3)
    [10, 30]
    >>> round(asha_expected_epochs(trials=3, epochs=40, grace=10, reduction_factor=3), 1)
    29.3
    >>> asha_expected_epochs(trials=1, epochs=40, grace=10, reduction_factor=3)
    40.0
"""

from __future__ import annotations

import math
import warnings

import numpy as np

__all__ = ["asha_rungs", "asha_epochs_trained", "asha_expected_epochs"]


def asha_rungs(max_t: int, grace: int, reduction_factor: float) -> list[int]:
    """The milestones at which Ray's ASHA compares trials: `grace * rf**k` for
    `k < int(log(max_t / grace) / log(rf) + 1)`, those below `max_t` (a trial that reached
    `max_t` has finished)."""
    n = int(math.log(max_t / grace) / math.log(reduction_factor) + 1)
    return [m for k in range(n) if (m := round(grace * reduction_factor ** k)) < max_t]


def asha_epochs_trained(scores: np.ndarray, epochs: float, rungs: list[int],
                        reduction_factor: float) -> np.ndarray:
    """Epochs each trial trains under ASHA: `scores[d, i]` is trial i's metric (higher is
    better, the same at every rung) in draw d; trials reach each rung in column order.

    >>> asha_epochs_trained(np.array([[0.5, 0.2, 0.9]]), 40, [10, 30], 3).tolist()
    [[40.0, 10.0, 40.0]]
    """
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    trained = np.full(scores.shape, float(epochs))
    alive = np.ones(scores.shape, dtype=bool)
    q = (1 - 1 / reduction_factor) * 100
    for rung in (r for r in rungs if r < epochs):
        recorded = np.full(scores.shape, np.nan)
        for i in range(scores.shape[1]):
            here = alive[:, i].copy()
            if i:
                with warnings.catch_warnings():  # a rung nobody recorded yet: no cutoff (NaN)
                    warnings.simplefilter("ignore", RuntimeWarning)
                    cutoff = np.nanpercentile(recorded[:, :i], q, axis=1)
                stop = here & (scores[:, i] < cutoff)
                trained[stop, i] = rung
                alive[stop, i] = False
            recorded[here, i] = scores[here, i]
    return trained


def asha_expected_epochs(trials: int, epochs: float, grace: int, reduction_factor: float,
                         max_t: int | None = None, sims: int = 4000, seed: int = 0) -> float:
    """Mean epochs one of `trials` search trials of `epochs` epochs trains under ASHA (rungs of
    a method whose longest trial trains `max_t`, default `epochs`), averaged over the trials
    and `sims` draws of exchangeable scores."""
    if trials < 1:
        return 0.0
    rungs = asha_rungs(max_t or round(epochs), grace, reduction_factor)
    scores = np.random.default_rng(seed).standard_normal((sims, trials))
    return float(asha_epochs_trained(scores, epochs, rungs, reduction_factor).mean())
