"""A suite's aggregate verdict over its workloads (pure computation on each workload's rows;
`sweeps.report.suite_report` renders it).

Per method vs the baseline, over the workloads:

- wins / ties / losses: a win where the workload's own report says the method beats the
  baseline (Holm-corrected p < 0.05 in that report's one family, `sweeps.results.rows.verdicts`,
  the difference in the method's favour), a loss where the baseline beats it, a tie where the
  two are not distinguishable; `n/a` where the workload has no comparison (under 2 confirm seeds).
- mean rank: on each workload the methods are ranked by their mean test score over the confirm
  seeds every method ran (paired seeds; a failed seed at the worst score, as in the verdicts),
  1 = best, ties sharing the mean of their ranks; the mean rank is the average over workloads.
  Its interval is a percentile bootstrap: each draw resamples every workload's paired seeds
  with replacement (the same seeds for every method, so the pairing stays), re-ranks and
  re-averages (`draws` draws, a fixed `seed`: reproducible).
- performance profile (Dolan & Moré, "Benchmarking optimization software with performance
  profiles", Math. Programming 2002; as AlgoPerf uses it, Dahl et al. 2023): with e[w, m] the
  test error of method m on workload w (1 - mean test accuracy, or the mean test loss) and
  r[w, m] = e[w, m] / min_m' e[w, m'], rho_m(tau) = share of workloads with r[w, m] <= tau.
  rho_m(1) is the share of workloads where m is (one of) the best; a curve that reaches 1 at
  small tau is never far from the best.

Example:
    >>> rank_of({"sgd": 0.70, "sam": 0.80, "obf": 0.80}, "max")
    {'sgd': 3.0, 'sam': 1.5, 'obf': 1.5}
    >>> profile({"w1": {"a": 0.1, "b": 0.2}, "w2": {"a": 0.3, "b": 0.3}}, "b", [1.0, 2.0])
    [0.5, 1.0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from sweeps.results.pairwise import ALPHA
from sweeps.results.rows import MethodRow, method_rows, metric_on_test_split
from sweeps.store.schema import RunRecord
from sweeps.study.spec import StudySpec

__all__ = ["SuiteAggregate", "Tally", "aggregate_suite", "outcome", "rank_of", "profile",
           "paired_matrix", "bootstrap_mean_rank", "errors_of", "DRAWS"]

DRAWS = 2000


@dataclass(frozen=True)
class Tally:
    """A method's record vs the baseline over the workloads."""

    wins: int = 0
    ties: int = 0
    losses: int = 0
    missing: int = 0  # workloads without a comparison


@dataclass(frozen=True)
class SuiteAggregate:
    """The suite's aggregate: per workload its rows and each method's outcome and rank; per
    method its tally, mean rank and bootstrap interval; the test errors behind the profile."""

    methods: tuple[str, ...]
    baseline: str | None
    metric: str                                    # the studies' validation metric and mode
    mode: str
    tmetric: str
    tmode: str
    rows: dict[str, dict[str, MethodRow]]          # workload -> method -> row
    outcomes: dict[str, dict[str, str]]            # workload -> method -> win/tie/loss/n/a
    tally: dict[str, Tally]                        # method (not the baseline) -> record
    ranks: dict[str, dict[str, float]]             # ranked workload -> method -> rank
    unranked: dict[str, str]                       # workload -> why it has no ranks
    mean_rank: dict[str, float]
    rank_interval: dict[str, tuple[float, float]]
    errors: dict[str, dict[str, float]]            # ranked workload -> method -> test error
    draws: int
    seed: int
    confidence: float


def outcome(row: MethodRow, tmode: str) -> str:
    """`win`, `loss` or `tie` of `row`'s method vs the baseline, as its report's verdict reads
    (Holm-corrected p < ALPHA and the sign of Δ); `n/a` without a comparison or a p-value."""
    c = row.comparison
    if c is None or math.isnan(row.p_holm):
        return "n/a"
    if not row.p_holm < ALPHA:
        return "tie"
    better = c.diff > 0 if tmode == "max" else c.diff < 0
    return "win" if better else "loss"


def rank_of(means: Mapping[str, float], tmode: str) -> dict[str, float]:
    """Ranks of the methods' mean scores, 1 = best in `tmode`, ties at their mean rank."""
    sign = -1.0 if tmode == "max" else 1.0
    ranks = rankdata([sign * v for v in means.values()], method="average")
    return {m: float(r) for m, r in zip(means, ranks, strict=True)}


def paired_matrix(rows: Mapping[str, MethodRow], methods: Sequence[str]) -> np.ndarray | None:
    """Scores on the confirm seeds every method ran: shape (seeds, methods); None when some
    method has no such seed."""
    common = set.intersection(*(set(rows[m].scores_by_seed) for m in methods)) if methods else set()
    if not common:
        return None
    seeds = sorted(common)
    return np.array([[rows[m].scores_by_seed[s] for m in methods] for s in seeds], dtype=float)


def errors_of(means: Mapping[str, float], tmetric: str) -> dict[str, float]:
    """Test error per method: 1 - accuracy for an accuracy, the loss itself for a loss."""
    acc = tmetric.endswith("_acc")
    return {m: (1.0 - v if acc else v) for m, v in means.items()}


def profile(errors: Mapping[str, Mapping[str, float]], method: str,
            taus: Sequence[float]) -> list[float]:
    """rho_method(tau) for each tau: the share of workloads where `method`'s error is within a
    factor tau of that workload's best (a best error of 0: only an error of 0 is within)."""
    ratios = []
    for errs in errors.values():
        best, mine = min(errs.values()), errs[method]
        ratios.append(1.0 if mine == best else (math.inf if best <= 0 else mine / best))
    return [sum(r <= t for r in ratios) / len(ratios) if ratios else math.nan for t in taus]


def bootstrap_mean_rank(matrices: Sequence[np.ndarray], tmode: str, draws: int = DRAWS,
                        seed: int = 0, confidence: float = 0.95) -> np.ndarray:
    """Percentile interval of each method's mean rank: rows (low, high) per method (columns of
    the matrices). Each draw resamples every workload's seeds (rows) with replacement, the same
    rows for every method."""
    rng = np.random.default_rng(seed)
    sign = -1.0 if tmode == "max" else 1.0
    total = np.zeros((draws, matrices[0].shape[1]))
    for m in matrices:
        idx = rng.integers(0, m.shape[0], size=(draws, m.shape[0]))
        means = m[idx].mean(axis=1)                       # (draws, methods)
        total += rankdata(sign * means, method="average", axis=1)
    mean_ranks = total / len(matrices)
    tail = (1.0 - confidence) / 2 * 100
    return np.percentile(mean_ranks, [tail, 100 - tail], axis=0).T


def aggregate_suite(workloads: Mapping[str, tuple[StudySpec, Sequence[RunRecord]]],
                    draws: int = DRAWS, seed: int = 0, confidence: float = 0.95) -> SuiteAggregate:
    """The aggregate of `workloads` (id -> its study and run records, in the suite's order);
    the studies share methods, baseline and metric (a suite file guarantees it)."""
    first = next(iter(workloads.values()))[0]
    methods, base = tuple(first.methods), first.baseline
    tmetric, tmode = metric_on_test_split(first.metric)
    rows = {w: method_rows(records, study) for w, (study, records) in workloads.items()}
    outcomes = {w: {m: outcome(r[m], tmode) for m in methods if m != base} for w, r in rows.items()}
    tally = {m: Tally(*(sum(o[m] == k for o in outcomes.values())
                        for k in ("win", "tie", "loss", "n/a"))) for m in methods if m != base}
    matrices, ranks, errors, unranked = [], {}, {}, {}
    for w, r in rows.items():
        matrix = paired_matrix(r, methods)
        if matrix is None:
            unranked[w] = "no confirm seed that every method ran"
            continue
        means = dict(zip(methods, matrix.mean(axis=0).tolist(), strict=True))
        matrices.append(matrix)
        ranks[w], errors[w] = rank_of(means, tmode), errors_of(means, tmetric)
    mean_rank = {m: float(np.mean([ranks[w][m] for w in ranks])) if ranks else math.nan
                 for m in methods}
    interval = {m: (math.nan, math.nan) for m in methods}
    if matrices:
        bounds = bootstrap_mean_rank(matrices, tmode, draws, seed, confidence)
        interval = {m: (float(lo), float(hi)) for m, (lo, hi) in zip(methods, bounds, strict=True)}
    return SuiteAggregate(methods, base, first.metric, first.mode, tmetric, tmode, rows,
                          outcomes, tally, ranks, unranked, mean_rank, interval, errors, draws,
                          seed, confidence)
