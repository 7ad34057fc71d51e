"""A method's confirmed configs: the pick among them, made without the seeds that report.

`sweep confirm --top K` re-runs a method's K best search configs. With K > 1 it runs each on
SELECT-phase seeds first: the pick is the config with the best mean validation metric over its
SELECT runs. The pick's test score comes from its CONFIRM-phase runs only, fresh seeds that
chose nothing, so the reported score carries no winner's curse. With K = 1 there are no SELECT
runs and the single confirmed config is the pick; a sweep with K > 1 confirm runs but no SELECT
runs (older sweeps) picks by the search rank, never by the confirm seeds.

A confirm seed that diverged or failed has no score; it is kept as a lost seed (and counted as
a failure in comparisons: `failure_scores`), never dropped silently.

Example (records read back from MLflow)::

    confirmed = confirmed_configs(records, ranked_sam_configs, "val_acc", "max")
    confirmed[0].test.fmt(), confirmed[0].lost_seeds
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from sweeps.results.pareto import run_value
from sweeps.results.selection import ConfigScore, pick_among, scoring_runs
from sweeps.results.stats import Summary, metric_range, summarize
from sweeps.store.phase import Phase
from sweeps.store.schema import RunRecord, RunStatus
from sweeps.study.spec import COSTS

__all__ = ["ConfirmedConfig", "metric_on_test_split", "confirmed_configs", "failure_scores",
           "worst_score"]


def metric_on_test_split(metric: str) -> tuple[str, str]:
    """The test-set metric reported for a study's validation metric, and its mode.

    >>> metric_on_test_split("val_acc"), metric_on_test_split("val_loss")
    (('test_acc', 'max'), ('test_loss', 'min'))
    """
    return ("test_acc", "max") if metric.endswith("_acc") else ("test_loss", "min")


@dataclass(frozen=True)
class ConfirmedConfig:
    """A config re-run by `sweep confirm`: its search score, the mean selection metric over its
    SELECT runs (None with K = 1) and over its CONFIRM runs, its test scores by CONFIRM seed
    (the latest run of each seed) and the CONFIRM seeds that diverged or failed."""

    score: ConfigScore
    confirm_val: Summary
    test: Summary | None
    test_by_seed: dict[int, float]
    lost_seeds: dict[int, str]     # confirm seeds that diverged or failed
    grad_evals: float = math.nan   # mean over its completed confirm runs: what one run spends
    device_seconds: float = math.nan
    select_val: Summary | None = None


def _runs(records: Sequence[RunRecord], score: ConfigScore, metric: str, value: str,
          phase: str = Phase.CONFIRM) -> dict[int, float]:
    """`value` by seed of the config's completed full-length runs of `phase` (latest per seed)."""
    runs = [r for r in scoring_runs(records, metric, phase)
            if r.method == score.method and r.group_key == score.group_key
            and math.isfinite(run_value(r, value)) and r.seed is not None]
    return {r.seed: run_value(r, value) for r in sorted(runs, key=lambda r: r.start_time)}


def _lost_seeds(records: Sequence[RunRecord], score: ConfigScore,
                scored: dict[int, float]) -> dict[int, str]:
    """CONFIRM seeds of the config without a test score, and their final status (latest run)."""
    last = {r.seed: r.status for r in sorted(records, key=lambda r: r.start_time)
            if r.phase == Phase.CONFIRM and r.method == score.method
            and r.group_key == score.group_key and r.seed is not None}
    return {seed: status for seed, status in last.items()
            if seed not in scored and status in (RunStatus.DIVERGED, RunStatus.FAILED)}


def _one(records: Sequence[RunRecord], score: ConfigScore, metric: str) -> ConfirmedConfig | None:
    val = _runs(records, score, metric, metric)
    tmetric, _ = metric_on_test_split(metric)
    test = _runs(records, score, metric, tmetric)
    lost = _lost_seeds(records, score, test)
    select = _runs(records, score, metric, metric, Phase.SELECT)
    if not val and not lost and not select:
        return None
    costs = [statistics.fmean(_runs(records, score, metric, c).values() or [math.nan])
             for c in COSTS]
    bounds = metric_range(tmetric)
    return ConfirmedConfig(
        score, summarize(list(val.values()) or [math.nan]),
        summarize(list(test.values()), bounds=bounds) if test else None, test, lost, *costs,
        select_val=summarize(list(select.values())) if select else None)


def confirmed_configs(records: Sequence[RunRecord], ranked: Sequence[ConfigScore], metric: str,
                      mode: str) -> tuple[ConfirmedConfig, ...]:
    """The configs of `ranked` (one method's search scores, best first) with confirm runs, the
    pick first: `sweeps.results.selection.pick_among` on the SELECT runs (the rule `sweep
    confirm` used to choose which config runs on the CONFIRM seeds), else the search rank."""
    out = [c for c in (_one(records, s, metric) for s in ranked) if c is not None]
    pick = pick_among(records, [c.score for c in out], metric, mode)
    return tuple(sorted(out, key=lambda c: c.score is not pick))


def worst_score(records: Sequence[RunRecord], tmetric: str, mode: str) -> float:
    """The worst `tmetric` of any completed CONFIRM run of the study (NaN when none): the score
    a failed seed counts at."""
    values = [run_value(r, tmetric) for r in records
              if r.phase == Phase.CONFIRM and r.status == RunStatus.COMPLETED]
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return math.nan
    return min(values) if mode == "max" else max(values)


def failure_scores(conf: ConfirmedConfig | None, worst: float) -> dict[int, float]:
    """The config's test score by CONFIRM seed, its lost seeds at `worst`: what comparisons use.

    >>> failure_scores(None, 0.1)
    {}
    """
    if conf is None:
        return {}
    lost = {s: worst for s in conf.lost_seeds} if math.isfinite(worst) else {}
    return {**conf.test_by_seed, **lost}
