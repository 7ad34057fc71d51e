"""Transfer results: which confirmed runs are the sources, which lr the target's validation
split chose, and each source method's target test score with its CI and Δ vs the baseline.

Sources (`source_runs`): each method's pick (`sweeps.results.rows`) and its completed
full-length CONFIRM runs, the latest per seed: the runs that give its test score. A transfer run
(`Phase.TRANSFER`) fine-tunes one of them on the target and keeps its seed, so comparisons pair
by confirm seed. Scores: the target's test metric (`metric_on_test_split` of the study's
metric) of the latest transfer run per method and seed; a seed whose latest run diverged or
failed counts at the worst completed transfer score, and is counted (`lost`). Each method:
`summarize` over seeds; vs the baseline: `compare` with the study's paired test, Holm-corrected
across methods (`holm`): the engine of the clean test score. The lr search
(`Phase.TRANSFER_LR`) uses the study's validation metric only.

Example (records read back from MLflow)::

    result = transfer_scores(records, study)
    result.scores["sam"].summary.fmt(), result.scores["sam"].comparison.fmt()
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sweeps.results.confirmed import metric_on_test_split
from sweeps.results.paired import Comparison, compare
from sweeps.results.rows import MethodRow, difference_bounds, method_rows
from sweeps.results.stats import Summary, holm, summarize
from sweeps.store.phase import Phase
from sweeps.store.schema import RunRecord, RunStatus
from sweeps.study.spec import StudySpec
from sweeps.study.transfer_spec import RECIPE_KEYS

__all__ = ["is_transfer", "TransferResult", "TransferScore", "chosen_lr", "lr_reference", "source_runs",
           "transfer_scores", "recipe_of"]

_LOST = (RunStatus.DIVERGED, RunStatus.FAILED)


def is_transfer(record: RunRecord) -> bool:
    """A run of `sweep transfer` (its lr search included): outside the main tables' rows."""
    return record.phase in (Phase.TRANSFER, Phase.TRANSFER_LR)


def _latest(runs: Sequence[RunRecord]) -> dict[int, RunRecord]:
    """The latest run per seed."""
    ordered = sorted((r for r in runs if r.seed is not None), key=lambda r: r.start_time)
    return {r.seed: r for r in ordered}  # type: ignore[misc]


def source_runs(records: Sequence[RunRecord], study: StudySpec,
                rows: dict[str, MethodRow] | None = None) -> dict[str, dict[int, RunRecord]]:
    """Each method's confirmed runs by seed: its pick's completed full-length CONFIRM runs (an
    empty mapping for a method without)."""
    rows = rows if rows is not None else method_rows(records, study)
    out: dict[str, dict[int, RunRecord]] = {}
    for m in study.methods:
        pick = rows[m].pick if m in rows else None
        runs = [r for r in records if pick is not None and r.phase == Phase.CONFIRM
                and r.method == m and r.group_key == pick.group_key and r.full_length]
        out[m] = _latest(runs)
    return out


def lr_reference(study: StudySpec, sources: dict[str, dict[int, RunRecord]]
                 ) -> tuple[str, int] | None:
    """The source the lr is searched from, once: the baseline's (else the first method's)
    lowest confirm seed."""
    order = [m for m in ([study.baseline] if study.baseline else []) + list(study.methods)
             if sources.get(m)]
    return (order[0], min(sources[order[0]])) if order else None


def chosen_lr(records: Sequence[RunRecord], study: StudySpec
              ) -> tuple[float | None, dict[float, float]]:
    """`(lr, scores)`: each lr of `transfer.lr_grid` with the validation metric of its completed
    lr-search run, and the best of them (None until every candidate has one). Ties: the first
    candidate."""
    spec = study.transfer
    grid = spec.lr_grid if spec else ()
    runs = [r for r in records if r.phase == Phase.TRANSFER_LR and r.full_length]
    scores: dict[float, float] = {}
    for r in sorted(runs, key=lambda r: r.start_time):
        value = r.final.get(study.metric, math.nan)
        if r.params.get("lr") in grid and math.isfinite(value):
            scores[float(r.params["lr"])] = value
    if not grid or set(grid) - set(scores):
        return None, scores
    sign = 1.0 if study.mode == "max" else -1.0
    return max(grid, key=lambda lr: (sign * scores[lr], -grid.index(lr))), scores


def recipe_of(params: dict[str, Any]) -> dict[str, Any]:
    """The recipe a transfer run used: its params of the recipe keys (what every source shares)."""
    return {k: params.get(k) for k in RECIPE_KEYS}


@dataclass(frozen=True)
class TransferScore:
    """One source method on the target: the summary over seeds, the values by seed (lost seeds
    at the worst score), the lost seeds, the comparison with the baseline and its Holm p."""

    summary: Summary | None
    by_seed: dict[int, float]
    lost: frozenset[int] = frozenset()
    comparison: Comparison | None = None
    p_holm: float = math.nan


@dataclass(frozen=True)
class TransferResult:
    """`scores[method]`; the target metric, the baseline, whether all runs shared one recipe,
    the lr chosen (None: the recipe's) and the lr search's validation scores."""

    metric: str
    scores: dict[str, TransferScore]
    baseline: str | None
    same_recipe: bool
    lr: float | None
    lr_scores: dict[float, float] = field(default_factory=dict)
    runs: int = 0
    lr_source: str = ""  # the checkpoint the lr was searched from: "<method>, confirm seed <s>"


def transfer_scores(records: Sequence[RunRecord], study: StudySpec) -> TransferResult | None:
    """Every source method's target test score (None when no transfer run exists)."""
    runs = [r for r in records if r.phase == Phase.TRANSFER]
    if not runs:
        return None
    tmetric, tmode = metric_on_test_split(study.metric)
    latest = {m: _latest([r for r in runs if r.method == m]) for m in study.methods}
    done = {m: {s: r.final[tmetric] for s, r in by.items()
                if r.full_length and math.isfinite(r.final.get(tmetric, math.nan))}
            for m, by in latest.items()}
    lost = {m: frozenset(s for s, r in by.items() if r.status in _LOST) for m, by in latest.items()}
    every = [v for by in done.values() for v in by.values()]
    worst = (min(every) if tmode == "max" else max(every)) if every else math.nan
    values = {m: {**done[m], **({s: worst for s in lost[m]} if math.isfinite(worst) else {})}
              for m in study.methods if done[m] or lost[m]}
    base = study.baseline if study.baseline in values else None
    bounds = difference_bounds(tmetric)
    comparisons = {m: compare(v, values[base], study.test, bounds=bounds,
                              failures=len(lost[m] | lost[base]))
                   for m, v in values.items() if base and m != base}
    adjusted = holm({m: c.p for m, c in comparisons.items() if c is not None})
    scale = (0.0, 1.0) if tmetric.endswith("_acc") else (-math.inf, math.inf)
    scores = {m: TransferScore(summarize(list(v.values()), bounds=scale) if v else None, v,
                               lost[m], comparisons.get(m), adjusted.get(m, math.nan))
              for m, v in values.items()}
    recipes = {tuple(sorted((k, str(v)) for k, v in recipe_of(r.params).items())) for r in runs}
    lr, lr_scores = chosen_lr(records, study)
    searched = {(r.method, r.seed) for r in records if r.phase == Phase.TRANSFER_LR}
    lr_source = "; ".join(f"{m}, confirm seed {s}" for m, s in sorted(searched, key=str))
    return TransferResult(tmetric, scores, base, len(recipes) == 1, lr, lr_scores, len(runs),
                          lr_source)
