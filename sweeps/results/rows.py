"""Per-method rows of a report: each method's search winner and the noise around it, its
confirmed configs, its pick with the test score over fresh seeds, and the comparison with the
baseline (pure computation on run records; `sweeps.report` renders them).

Per method: the search winner (`sweeps.results.selection`: search phase, validation metric),
the standard error of its score and the configs within one SE of it (`sweeps.results.noise`);
every config `sweep confirm --top K` re-ran on the fresh seeds, and among them the method's pick:
the best mean validation metric over its confirm runs (the test set picks nothing). The pick's
test metric (`test_acc` for an accuracy study, `test_loss` for a loss study) over its confirm
runs, which never include a selecting run; the difference to the baseline's pick with its CI and
a t-test p-value (paired by seed when both ran the same seeds, Welch otherwise), Holm-corrected
across methods; with `compute_matched`, also the difference to the pick of the baseline arm
trained as long as the method computes (`sweeps.study.compute`), Holm-corrected as a second
family. Compute (grad evals, device seconds, runs) counts all of a method's runs.

Example (records read back from MLflow)::

    rows = method_rows(records, study)
    rows["sam"].test.fmt(), rows["sam"].comparison.fmt(), rows["sam"].p_holm
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sweeps.results.noise import noisy_best
from sweeps.results.pareto import run_value
from sweeps.results.selection import ConfigScore, rank_configs, scoring_runs
from sweeps.results.stats import Comparison, Summary, compare, holm, summarize
from sweeps.store.schema import Phase, RunRecord, RunStatus
from sweeps.study.distributions import Fixed
from sweeps.study.spec import COSTS, StudySpec

__all__ = ["ConfirmedConfig", "MethodRow", "metric_on_test_split", "confirmed_configs",
           "searched_keys", "method_rows", "best_method"]


def metric_on_test_split(metric: str) -> tuple[str, str]:
    """The test-set metric reported for a study's validation metric, and its mode.

    >>> metric_on_test_split("val_acc"), metric_on_test_split("val_loss")
    (('test_acc', 'max'), ('test_loss', 'min'))
    """
    return ("test_acc", "max") if metric.endswith("_acc") else ("test_loss", "min")


@dataclass(frozen=True)
class ConfirmedConfig:
    """A config re-run on the fresh confirm seeds: its search score, the mean of the selection
    metric over its confirm runs (what picks a method's config among its confirmed ones) and its
    test scores by seed (the latest run of each seed)."""

    score: ConfigScore
    confirm_val: Summary
    test: Summary | None
    test_by_seed: dict[int, float]
    lost_seeds: dict[int, str]     # confirm seeds that diverged or failed
    grad_evals: float = math.nan   # mean over its completed confirm runs: what one run spends
    device_seconds: float = math.nan


@dataclass(frozen=True)
class MethodRow:
    """One table row: the search winner and the validation noise around it, every confirmed
    config, the method's pick with its test score over the confirm seeds, the comparison with
    the baseline."""

    method: str
    winner: ConfigScore | None            # best search score (`sweeps.results.selection`)
    se: float                             # the winner's score's standard error
    indistinguishable: tuple[ConfigScore, ...]  # within 1 SE of the winner, the winner first
    n_configs: int                        # configs of the method with a search score
    confirmed: tuple[ConfirmedConfig, ...]  # best confirm validation mean first
    pick: ConfigScore | None              # the first confirmed config, else the winner
    config: dict[str, Any]                # the pick's value of every searched key
    test: Summary | None
    test_by_seed: dict[int, float]
    lost_seeds: dict[int, str]            # the pick's confirm seeds that diverged or failed
    comparison: Comparison | None
    p_holm: float
    runs: int
    statuses: dict[str, int]
    grad_evals: float
    device_seconds: float
    matched_arm: str | None = None        # the baseline trained as long as this method computes
    matched_comparison: Comparison | None = None   # vs that arm's pick (equal compute)
    matched_p_holm: float = math.nan


def _confirm_runs(records: Sequence[RunRecord], score: ConfigScore, metric: str,
                  value: str) -> dict[int, float]:
    """`value` by seed of the config's completed full-length confirm runs (latest per seed)."""
    runs = [r for r in scoring_runs(records, metric, Phase.CONFIRM)
            if r.method == score.method and r.group_key == score.group_key
            and math.isfinite(run_value(r, value)) and r.seed is not None]
    return {r.seed: run_value(r, value) for r in sorted(runs, key=lambda r: r.start_time)}


def _lost_seeds(records: Sequence[RunRecord], score: ConfigScore,
                scored: dict[int, float]) -> dict[int, str]:
    """Confirm seeds of the config without a test score, and their final status (latest run):
    shown beside n, so a method whose seeds diverge does not look better than it is."""
    last = {r.seed: r.status for r in sorted(records, key=lambda r: r.start_time)
            if r.phase == Phase.CONFIRM and r.method == score.method
            and r.group_key == score.group_key and r.seed is not None}
    return {seed: status for seed, status in last.items()
            if seed not in scored and status in (RunStatus.DIVERGED, RunStatus.FAILED)}


def confirmed_configs(records: Sequence[RunRecord], ranked: Sequence[ConfigScore], metric: str,
                      mode: str) -> tuple[ConfirmedConfig, ...]:
    """The configs of `ranked` (one method's search scores) with confirm runs, best confirm mean
    of `metric` first (ties: the better search rank)."""
    tmetric, _ = metric_on_test_split(metric)
    out = []
    for score in ranked:
        val = _confirm_runs(records, score, metric, metric)
        if not val:
            continue
        test = _confirm_runs(records, score, metric, tmetric)
        costs = [statistics.fmean(_confirm_runs(records, score, metric, c).values() or [math.nan])
                 for c in COSTS]
        out.append(ConfirmedConfig(score, summarize(list(val.values())),
                                   summarize(list(test.values())) if test else None, test,
                                   _lost_seeds(records, score, test), *costs))
    sign = -1.0 if mode == "max" else 1.0
    order = {id(s): i for i, s in enumerate(ranked)}
    return tuple(sorted(out, key=lambda c: (sign * c.confirm_val.mean, order[id(c.score)])))


def searched_keys(study: StudySpec, method: str) -> list[str]:
    """The keys `method` samples (its space less fixed entries), sorted."""
    return sorted(k for k, d in study.methods[method].space.items() if not isinstance(d, Fixed))


def method_rows(records: Sequence[RunRecord], study: StudySpec) -> dict[str, MethodRow]:
    """A `MethodRow` per method of the study (in the study's order)."""
    metric, mode = study.metric, study.mode
    noisy = noisy_best(records, metric, mode)
    ranked: dict[str, list[ConfigScore]] = {m: [] for m in study.methods}
    for s in rank_configs(records, metric, mode):
        ranked.setdefault(s.method, []).append(s)
    confirmed = {m: confirmed_configs(records, ranked[m], metric, mode) for m in study.methods}
    picks = {m: c[0].test_by_seed if c else {} for m, c in confirmed.items()}

    def versus(m: str, other: str) -> Comparison | None:
        return compare(picks[m], picks[other]) if confirmed[m] else None

    # two families, each Holm-corrected: vs the equal-epoch baseline, vs the equal-compute arm
    comparisons = {m: versus(m, study.baseline) for m in study.methods
                   if study.baseline and m != study.baseline}
    matched = {m: versus(m, arm) for m, arm in study.matched.items()}
    adjusted = holm({m: c.p for m, c in comparisons.items() if c is not None})
    matched_adjusted = holm({m: c.p for m, c in matched.items() if c is not None})
    rows = {}
    for m in study.methods:
        runs = [r for r in records if r.method == m]
        nb, conf = noisy.get(m), confirmed[m]
        pick = conf[0].score if conf else (nb.best if nb else None)
        rows[m] = MethodRow(
            method=m, winner=nb.best if nb else None, se=nb.se if nb else math.nan,
            indistinguishable=nb.indistinguishable if nb else (), n_configs=nb.n_configs if nb else 0,
            confirmed=conf, pick=pick,
            config={k: pick.params.get(k) for k in searched_keys(study, m)} if pick else {},
            test=conf[0].test if conf else None, test_by_seed=conf[0].test_by_seed if conf else {},
            lost_seeds=conf[0].lost_seeds if conf else {}, comparison=comparisons.get(m),
            p_holm=adjusted.get(m, math.nan), runs=len(runs),
            statuses=dict(Counter(r.status for r in runs)),
            grad_evals=sum(r.grad_evals for r in runs),
            device_seconds=sum(r.device_seconds for r in runs),
            matched_arm=study.matched.get(m), matched_comparison=matched.get(m),
            matched_p_holm=matched_adjusted.get(m, math.nan))
    return rows


def best_method(rows: dict[str, MethodRow], mode: str) -> str | None:
    """The method with the best test mean in `mode` (None when no method has test scores)."""
    scored = [r for r in rows.values() if r.test is not None]
    if not scored:
        return None
    pick = max if mode == "max" else min
    return pick(scored, key=lambda r: r.test.mean).method  # type: ignore[union-attr]
