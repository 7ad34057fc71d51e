"""`sweep best --pareto`: the search configs no other beats on every trade-off objective, one line
each (the Pareto set of `sweeps.results.pareto`); the report's trade-off section uses the lines too.

Example:
    print(pareto_text(study, "tiny", records))
"""

from __future__ import annotations

from collections.abc import Sequence

from sweeps.errors import SweepError
from sweeps.report.status import short_value
from sweeps.results.pareto import Objective, ParetoPoint, pareto_configs, trade_off_objectives
from sweeps.results.rows import searched_keys
from sweeps.store.schema import RunRecord
from sweeps.study.spec import StudySpec


def pareto_lines(study: StudySpec, records: Sequence[RunRecord]
                 ) -> tuple[list[Objective], list[ParetoPoint], list[str]]:
    """The non-dominated search configs on the trade-off objectives, one line each."""
    objectives = trade_off_objectives(study)
    points = pareto_configs(records, objectives)
    lines = []
    for p in points:
        keys = searched_keys(study, p.score.method) if p.score.method in study.methods else []
        shown = ", ".join(f"{k}={short_value(p.score.params.get(k))}" for k in keys) or "-"
        values = ", ".join(f"{o.metric}={short_value(v)}" for o, v in zip(objectives, p.values,
                                                                     strict=True))
        lines.append(f"{p.score.method}: {shown}; {values} (n={p.score.n}, group_key "
                     f"{p.score.group_key})")
    return objectives, points, lines


def pareto_text(study: StudySpec, name: str, records: Sequence[RunRecord]) -> str:
    """`sweep best --pareto`: every search config no other beats on all trade-off objectives."""
    objectives, points, lines = pareto_lines(study, records)
    if not points:
        raise SweepError(f"sweep {name!r} has no completed full-length search run yet")
    over = ", ".join(f"{o.metric} ({o.mode})" for o in objectives)
    return "\n".join([f"# sweep {name!r}: {len(points)} non-dominated config(s) over {over} "
                      "(means over completed full-length search runs)", *lines]) + "\n"
