"""Each method's scores on the shifted test sets (`eval_sets`): per set, the mean corruption
accuracy and the mCE, each over the pick's confirm seeds, with the difference to the baseline.

The runs are those that give a method's test score (`sweeps.results.rows`: its pick's completed
full-length confirm runs, the latest per seed); nothing here selects anything. Per seed:

- a set's accuracy: the run's `shift_acc/<set>`;
- mean corruption accuracy (mCA): the mean over the generated corruption sets (`name_severity`);
- mCE (Hendrycks & Dietterich, ICLR 2019, eq. 1): with E(s, f) the error at severity s of
  corruption f, CE_f = sum_s E(s, f) / sum_s E_base(s, f), and mCE the mean of CE_f over the
  corruptions; E_base is the baseline method's mean error over its confirm seeds (the paper
  normalizes by AlexNet's errors, a fixed reference, as this one is for every seed).

Each score: `summarize` over seeds; vs the baseline: `compare` (paired t over common seeds,
Welch otherwise), Holm-corrected across methods for each set or aggregate (`holm`).

Example (records read back from MLflow)::

    result = shift_scores(records, study, method_rows(records, study))
    result.scores[MCA]["sam"].summary.fmt(), result.scores[MCA]["sam"].comparison.fmt()
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from samtrain.config.eval_set_spec import corruption_of
from sweeps.results.paired import Comparison, compare
from sweeps.results.rows import MethodRow
from sweeps.results.stats import Summary, holm, summarize
from sweeps.store.phase import Phase
from sweeps.store.schema import RunRecord
from sweeps.study.spec import StudySpec

__all__ = ["MCA", "MCE", "PREFIX", "ShiftResult", "ShiftScore", "mce_by_seed", "shift_scores"]

PREFIX = "shift_acc/"
MCA, MCE = "mCA", "mCE"
_RUN_MEAN = "corruption_mean"  # the per-run mean the loop logs; recomputed here over common sets


@dataclass(frozen=True)
class ShiftScore:
    """One method on one set (or aggregate): the summary over seeds, the values by seed, the
    comparison with the baseline and its Holm-corrected p."""

    summary: Summary | None
    by_seed: dict[int, float]
    comparison: Comparison | None = None
    p_holm: float = math.nan


@dataclass(frozen=True)
class ShiftResult:
    """`scores[key][method]`, key `MCA`, `MCE` or a set name; `sets` in order, corruptions last."""

    sets: tuple[str, ...]
    corruption_sets: tuple[str, ...]
    scores: dict[str, dict[str, ShiftScore]]
    baseline: str | None


def _pick_runs(records: Sequence[RunRecord], row: MethodRow) -> dict[int, RunRecord]:
    """The pick's completed full-length confirm runs, the latest per seed."""
    if row.pick is None:
        return {}
    runs = sorted((r for r in records if r.phase == Phase.CONFIRM and r.method == row.method
                   and r.group_key == row.pick.group_key and r.full_length and r.seed is not None),
                  key=lambda r: r.start_time)
    return {r.seed: r for r in runs}  # type: ignore[misc]


def _set_values(runs: dict[int, RunRecord], name: str) -> dict[int, float]:
    return {seed: r.final[PREFIX + name] for seed, r in runs.items()
            if math.isfinite(r.final.get(PREFIX + name, math.nan))}


def _by_corruption(sets: Sequence[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name in sets:
        corruption = corruption_of(name)
        if corruption is not None:
            out.setdefault(corruption[0], []).append(name)
    return out


def mce_by_seed(values: dict[str, dict[int, float]], reference: dict[str, float],
                corruptions: dict[str, list[str]]) -> dict[int, float]:
    """mCE per seed: accuracies `values[set][seed]`, the baseline's mean accuracy per set
    `reference[set]`, the sets of each corruption; seeds lacking a set are left out, and so are
    corruptions the baseline never errs on (CE undefined).

    >>> mce_by_seed({"contrast_1": {0: 0.75}, "contrast_2": {0: 0.5}},  # errors 0.25 + 0.5
    ...             {"contrast_1": 0.875, "contrast_2": 0.75},      # baseline's 0.125 + 0.25
    ...             {"contrast": ["contrast_1", "contrast_2"]})
    {0: 2.0}
    """
    seeds = set.intersection(*(set(values[s]) for sets in corruptions.values() for s in sets))
    out: dict[int, float] = {}
    for seed in sorted(seeds):
        ce = [sum(1 - values[s][seed] for s in sets) / denom for sets in corruptions.values()
              if (denom := sum(1 - reference[s] for s in sets)) > 0]
        if ce:
            out[seed] = statistics.fmean(ce)
    return out


def _score(values: dict[int, float]) -> ShiftScore:
    return ShiftScore(summarize(list(values.values())) if values else None, values)


def _with_comparisons(by_method: dict[str, dict[int, float]], baseline: str | None,
                      test: str = "permutation") -> dict[str, ShiftScore]:
    base = by_method.get(baseline or "", {})
    comparisons = {m: compare(v, base, test=test) for m, v in by_method.items()
                   if baseline and m != baseline}
    adjusted = holm({m: c.p for m, c in comparisons.items() if c is not None})
    return {m: ShiftScore(_score(v).summary, v, comparisons.get(m), adjusted.get(m, math.nan))
            for m, v in by_method.items()}


def shift_scores(records: Sequence[RunRecord], study: StudySpec,
                 rows: dict[str, MethodRow]) -> ShiftResult | None:
    """Every method's shifted-set scores (None when no confirm run scored a shifted set)."""
    runs = {m: _pick_runs(records, row) for m, row in rows.items()}
    found = {k.removeprefix(PREFIX) for by_seed in runs.values() for r in by_seed.values()
             for k in r.final if k.startswith(PREFIX)} - {_RUN_MEAN}
    if not found:
        return None
    corruption_sets = tuple(sorted(n for n in found if corruption_of(n) is not None))
    sets = tuple(sorted(found - set(corruption_sets))) + corruption_sets
    values = {m: {s: _set_values(runs[m], s) for s in sets} for m in rows}
    baseline = study.baseline if study.baseline in rows else None
    scores = {s: _with_comparisons({m: values[m][s] for m in rows}, baseline, study.test) for s in sets}
    if corruption_sets:
        mca = {m: {seed: statistics.fmean(values[m][s][seed] for s in corruption_sets)
                   for seed in set.intersection(*(set(values[m][s]) for s in corruption_sets))}
               for m in rows}
        scores = {MCA: _with_comparisons(mca, baseline, study.test), **scores}
        reference = {s: statistics.fmean(values[baseline][s].values())
                     for s in corruption_sets if baseline and values[baseline][s]}
        if baseline and len(reference) == len(corruption_sets):
            groups = _by_corruption(corruption_sets)
            mce = {m: mce_by_seed(values[m], reference, groups) for m in rows}
            scores = {MCA: scores[MCA], MCE: _with_comparisons(mce, baseline, study.test),
                      **{k: v for k, v in scores.items() if k != MCA}}
    return ShiftResult(sets, corruption_sets, scores, baseline)
