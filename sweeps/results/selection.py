"""The one rule for "best": which config of each method wins a sweep.

A config (a `group_key`: everything but the seed) is scored by the mean final value of the
study's validation metric over its completed, full-length runs of the search phase; the best
score in the study's mode wins (max: highest, min: lowest). Ties are broken by more runs, then
by the earlier first run, then by the group key. Pruned, diverged, failed and unfinished runs
never score; a method without a completed full-length search run has no winner. `sweep best`,
`sweep confirm`, `sweep report` and every plot use this module, so they always agree.

With `sweep confirm --top K > 1`, the one config of a method that is confirmed is `pick_among`
its K winners, scored on their runs of the select phase (seeds used for nothing else), so the
confirm seeds that report it never chose it (no winner's curse).

Example:
    >>> from sweeps.store.schema import RunRecord
    >>> def run(key, v, t):
    ...     return RunRecord(f"r{t}", "sam", "search", "completed", key, 0, {"epochs": 2},
    ...                      {"epoch": 2, "val_loss": v}, start_time=t)
    >>> rank_configs([run("a", 0.3, 1), run("b", 0.2, 2), run("b", 0.4, 3)], "val_loss", "min")[0].group_key
    'a'
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sweeps.store.phase import Phase
from sweeps.store.schema import RunRecord, RunStatus

__all__ = ["ConfigScore", "rank_configs", "winners", "scoring_runs", "pick_among"]


@dataclass(frozen=True)
class ConfigScore:
    """One config of one method: its score (mean over `runs`) and the runs behind it."""

    method: str
    group_key: str
    score: float
    runs: tuple[RunRecord, ...]

    @property
    def n(self) -> int:
        return len(self.runs)

    @property
    def params(self) -> dict:
        """The config's params (those of its first run; the seed is the first run's)."""
        return self.runs[0].params


def scoring_runs(records: Sequence[RunRecord], metric: str,
                 phase: str = Phase.SEARCH) -> list[RunRecord]:
    """Runs of `phase` that count: completed, full-length, with a finite final `metric`."""
    return [r for r in records if r.phase == phase and r.full_length
            and math.isfinite(r.final.get(metric, math.nan))]


def rank_configs(records: Sequence[RunRecord], metric: str, mode: str,
                 phase: str = Phase.SEARCH) -> list[ConfigScore]:
    """Every scoring config of `records` (any methods), best first (see the module docstring)."""
    groups: dict[tuple[str, str], list[RunRecord]] = defaultdict(list)
    for r in scoring_runs(records, metric, phase):
        groups[(r.method, r.group_key)].append(r)
    scores = [ConfigScore(m, k, sum(r.final[metric] for r in runs) / len(runs),
                          tuple(sorted(runs, key=lambda r: r.start_time)))
              for (m, k), runs in groups.items()]
    sign = -1.0 if mode == "max" else 1.0
    return sorted(scores, key=lambda s: (sign * s.score, -s.n, s.runs[0].start_time, s.group_key))


def winners(records: Sequence[RunRecord], metric: str, mode: str,
            top: int = 1) -> dict[str, list[ConfigScore]]:
    """The `top` best configs of each method that has any, best first."""
    out: dict[str, list[ConfigScore]] = defaultdict(list)
    for s in rank_configs(records, metric, mode):
        if len(out[s.method]) < top:
            out[s.method].append(s)
    return dict(out)


def pick_among(records: Sequence[RunRecord], candidates: Sequence[ConfigScore], metric: str,
               mode: str) -> ConfigScore | None:
    """The candidate (configs of one method) with the best mean `metric` over its runs of the
    select phase. A candidate with a diverged select run ranks below every one without (fewer
    diverged first); then the best mean of its scoring select runs in `mode`; ties go to the
    earlier candidate. Candidates without a select run that scored or diverged are not ranked;
    None when none is.

    >>> from sweeps.store.schema import RunRecord
    >>> def run(key, phase, v, t):
    ...     return RunRecord(f"r{t}", "sam", phase, "completed", key, t, {"epochs": 2},
    ...                      {"epoch": 2, "val_acc": v}, start_time=t)
    >>> search = [run("a", "search", 0.9, 1), run("b", "search", 0.8, 2)]
    >>> top2 = winners(search, "val_acc", "max", top=2)["sam"]
    >>> select = [run("a", "select", 0.6, 3), run("b", "select", 0.7, 4)]
    >>> pick_among(search + select, top2, "val_acc", "max").group_key
    'b'
    """
    sign = -1.0 if mode == "max" else 1.0
    ranked = []
    for i, c in enumerate(candidates):
        runs = [r for r in records if r.phase == Phase.SELECT and r.method == c.method
                and r.group_key == c.group_key]
        diverged = sum(r.status == RunStatus.DIVERGED for r in runs)
        values = [r.final[metric] for r in scoring_runs(runs, metric, Phase.SELECT)]
        if not values and not diverged:
            continue
        worse = sign * sum(values) / len(values) if values else math.inf  # only diverged: last
        ranked.append((diverged, worse, i, c))
    return min(ranked, key=lambda x: x[:3])[3] if ranked else None
