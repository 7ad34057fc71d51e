"""Per-method rows of a report: each method's winner, its test score over fresh seeds and the
comparison with the baseline (pure computation on run records; `sweeps.report` renders them).

Per method: the winning config (`sweeps.results.selection`: search phase, validation metric)
and the validation score that selected it; the test metric (`test_acc` for an accuracy study,
`test_loss` for a loss study) of its confirm runs, which never include the selecting run; the
difference to the study's baseline with its CI and a t-test p-value (paired by seed when both
ran the same seeds, Welch otherwise), Holm-corrected across methods. Compute (grad evals,
device seconds, runs) counts all of a method's runs.

Example (records read back from MLflow)::

    rows = method_rows(records, study)
    rows["sam"].test.fmt(), rows["sam"].comparison.fmt(), rows["sam"].p_holm
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from samtrain.config import TrainConfig
from sweeps.results.selection import ConfigScore, scoring_runs, winners
from sweeps.results.stats import Comparison, Summary, compare, holm, summarize
from sweeps.store.schema import Phase, RunRecord, RunStatus
from sweeps.study.spec import StudySpec

__all__ = ["MethodRow", "metric_on_test_split", "method_rows", "best_method"]


def metric_on_test_split(metric: str) -> tuple[str, str]:
    """The test-set metric reported for a study's validation metric, and its mode.

    >>> metric_on_test_split("val_acc"), metric_on_test_split("val_loss")
    (('test_acc', 'max'), ('test_loss', 'min'))
    """
    return ("test_acc", "max") if metric.endswith("_acc") else ("test_loss", "min")


@dataclass(frozen=True)
class MethodRow:
    """One table row: the winner, its test score over confirm seeds, the baseline comparison."""

    method: str
    winner: ConfigScore | None
    config: dict[str, Any]
    test: Summary | None
    test_by_seed: dict[int, float]
    lost_seeds: dict[int, str]     # confirm seeds of the winner that diverged or failed
    comparison: Comparison | None
    p_holm: float
    runs: int
    statuses: dict[str, int]
    grad_evals: float
    device_seconds: float


def _varying(runs: Sequence[RunRecord]) -> set[str]:
    """Param names (seed aside) whose values differ among `runs`: the searched ones."""
    keys = {k for r in runs for k in r.params} - {"seed"}
    return {k for k in keys if len({repr(r.params.get(k)) for r in runs}) > 1}


def _test_values(records: Sequence[RunRecord], winner: ConfigScore | None, metric: str,
                 tmetric: str) -> dict[int, float]:
    """Test values by seed of the winner's completed full-length confirm runs (latest per seed)."""
    if winner is None:
        return {}
    runs = [r for r in scoring_runs(records, metric, Phase.CONFIRM)
            if r.method == winner.method and r.group_key == winner.group_key
            and math.isfinite(r.final.get(tmetric, math.nan)) and r.seed is not None]
    return {r.seed: r.final[tmetric] for r in sorted(runs, key=lambda r: r.start_time)}


def _lost_seeds(records: Sequence[RunRecord], winner: ConfigScore | None,
                scored: dict[int, float]) -> dict[int, str]:
    """Confirm seeds of the winner without a test score, and their final status (latest run):
    shown beside n, so a method whose seeds diverge does not look better than it is."""
    if winner is None:
        return {}
    last = {r.seed: r.status for r in sorted(records, key=lambda r: r.start_time)
            if r.phase == Phase.CONFIRM and r.method == winner.method
            and r.group_key == winner.group_key and r.seed is not None}
    return {seed: status for seed, status in last.items()
            if seed not in scored and status in (RunStatus.DIVERGED, RunStatus.FAILED)}


def method_rows(records: Sequence[RunRecord], study: StudySpec) -> dict[str, MethodRow]:
    """A `MethodRow` per method of the study (in the study's order)."""
    tmetric, _ = metric_on_test_split(study.metric)
    best = winners(records, study.metric, study.mode)
    by_seed = {m: _test_values(records, (best.get(m) or [None])[0], study.metric, tmetric)
               for m in study.methods}
    base = by_seed.get(study.baseline or "", {})
    comparisons = {m: compare(v, base) for m, v in by_seed.items()
                   if study.baseline and m != study.baseline}
    adjusted = holm({m: c.p for m, c in comparisons.items() if c is not None})
    rows = {}
    for m in study.methods:
        runs = [r for r in records if r.method == m]
        w = (best.get(m) or [None])[0]
        config = {k: v for k, v in w.params.items()  # searched TrainConfig keys only
                  if k in _varying(runs) and k in TrainConfig.model_fields} if w else {}
        rows[m] = MethodRow(
            method=m, winner=w, config=config,
            test=summarize(list(by_seed[m].values())) if by_seed[m] else None,
            test_by_seed=by_seed[m], lost_seeds=_lost_seeds(records, w, by_seed[m]),
            comparison=comparisons.get(m),
            p_holm=adjusted.get(m, math.nan), runs=len(runs),
            statuses=dict(Counter(r.status for r in runs)),
            grad_evals=sum(r.grad_evals for r in runs),
            device_seconds=sum(r.device_seconds for r in runs))
    return rows


def best_method(rows: dict[str, MethodRow], mode: str) -> str | None:
    """The method with the best test mean in `mode` (None when no method has test scores)."""
    scored = [r for r in rows.values() if r.test is not None]
    if not scored:
        return None
    pick = max if mode == "max" else min
    return pick(scored, key=lambda r: r.test.mean).method  # type: ignore[union-attr]
