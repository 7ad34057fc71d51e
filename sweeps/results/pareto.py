"""Trade-offs: the configs no other config beats on every objective (the Pareto set).

An objective is a metric and a mode (`max` or `min`); a config's value on it is the mean over
its completed full-length runs of the phase asked (search runs for `sweep best --pareto` and a
multi-objective search; confirm runs for the report's trade-off figures) of the run's final
value. Costs come from the runs themselves: `grad_evals` (gradient evaluations of the whole
run) and `device_seconds` (its training seconds times its workers). A config dominates another
when it is at least as good on every objective and better on one; the Pareto set is every
config nothing dominates, in the order of the first objective.

Example:
    >>> pareto_indices([(0.9, 200), (0.8, 100), (0.7, 150), (0.9, 250)], ["max", "min"])
    [0, 1]
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sweeps.results.selection import ConfigScore, scoring_runs
from sweeps.store.phase import Phase
from sweeps.store.schema import RunRecord
from sweeps.study.spec import StudySpec

__all__ = ["COST_METRICS", "Objective", "ParetoPoint", "run_value", "pareto_indices",
           "pareto_configs"]

COST_METRICS = ("grad_evals", "device_seconds")


@dataclass(frozen=True)
class Objective:
    metric: str
    mode: str  # "max" | "min"


@dataclass(frozen=True)
class ParetoPoint:
    """A config (its search score and runs) and its mean value on each objective."""

    score: ConfigScore
    values: tuple[float, ...]


def run_value(run: RunRecord, metric: str) -> float:
    """The run's final value of `metric` (`device_seconds` from its record if not logged)."""
    if metric == "device_seconds" and metric not in run.final:
        return run.device_seconds or math.nan
    if metric == "grad_evals" and metric not in run.final:
        return run.grad_evals or math.nan
    return float(run.final.get(metric, math.nan))


def _dominates(a: Sequence[float], b: Sequence[float], modes: Sequence[str]) -> bool:
    signs = [1.0 if m == "max" else -1.0 for m in modes]
    at_least = all(s * x >= s * y for s, x, y in zip(signs, a, b, strict=True))
    return at_least and any(s * x > s * y for s, x, y in zip(signs, a, b, strict=True))


def pareto_indices(points: Sequence[Sequence[float]], modes: Sequence[str]) -> list[int]:
    """Indices of the points no other point dominates (points with a NaN are never in it)."""
    ok = [i for i, p in enumerate(points) if all(math.isfinite(v) for v in p)]
    return [i for i in ok if not any(_dominates(points[j], points[i], modes) for j in ok if j != i)]


def pareto_configs(records: Sequence[RunRecord], objectives: Sequence[Objective],
                   phase: str = Phase.SEARCH) -> list[ParetoPoint]:
    """The Pareto set of the configs of `records` (any methods) on `objectives`, each config's
    value the mean over its completed full-length runs of `phase`; best first objective first."""
    first = objectives[0]
    groups: dict[tuple[str, str], list[RunRecord]] = defaultdict(list)
    for r in scoring_runs(records, first.metric, phase):
        groups[(r.method, r.group_key)].append(r)
    points = []
    for (method, key), runs in groups.items():
        runs = sorted(runs, key=lambda r: r.start_time)
        values = tuple(sum(run_value(r, o.metric) for r in runs) / len(runs) for o in objectives)
        points.append(ParetoPoint(ConfigScore(method, key, values[0], tuple(runs)), values))
    keep = pareto_indices([p.values for p in points], [o.mode for o in objectives])
    sign = -1.0 if first.mode == "max" else 1.0
    return sorted((points[i] for i in keep), key=lambda p: (sign * p.values[0], p.score.group_key))


def trade_off_objectives(study: StudySpec) -> list[Objective]:
    """A multi-objective study's objectives; else its metric and gradient evaluations (min)."""
    if study.objectives:
        return [Objective(o.metric, o.mode) for o in study.objectives]
    return [Objective(study.metric, study.mode), Objective("grad_evals", "min")]
