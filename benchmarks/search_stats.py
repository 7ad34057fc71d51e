"""Scoring replayed searches on a table: what each search picked and what it cost, summaries over
search seeds, paired differences against a reference strategy, and the rule that picks a default.

A search's pick is its best completed trial by final `val_acc` (ties: the earlier one), as
`sweeps.results.selection`. It is scored against the grid's validation winner: `best` (the pick
is the winner), within 0.5 / 1 binomial SE of the winner's `val_acc` (SE = sqrt(p (1 - p) / n)
for the winner's accuracy p on the n validation images), and the validation regret (winner minus
pick, in points). `test_acc` only scores the pick.

Example:
    >>> wilson(30, 30)[0] > 0.88
    True
    >>> round(binomial_se(0.5, 2000), 4)
    0.0112
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.replay import RTrial
from benchmarks.tabular_search import Table, grid_best


def binomial_se(p: float, n: int) -> float:
    """The binomial standard error of an accuracy `p` measured on `n` examples."""
    return math.sqrt(p * (1.0 - p) / n)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval (95 % by default) of a proportion k / n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, mid - half), min(1.0, mid + half)


@dataclass(frozen=True)
class Outcome:
    """One search, scored."""

    share: float         # gradient evaluations spent / the whole grid's
    minutes: float       # training minutes of the epochs run (summed over trials)
    wall: float          # minutes until the last trial ended (with the search's workers)
    pruned: int
    pick: tuple | None
    pick_val: float      # NaN without a completed trial
    pick_test: float
    best: bool
    regret: float        # winner's val_acc - pick's, in points (NaN without a pick)
    regret_se: float     # the same in binomial SEs
    half_se: bool        # the pick is within 0.5 SE of the winner
    one_se: bool


def score(table: Table, trials: Sequence[RTrial], n_val: int) -> Outcome:
    """Score one search on `table` (validation split of `n_val` examples)."""
    win_cfg, win = grid_best(table)
    p = win.val_acc[-1]
    se = binomial_se(p, n_val)
    full = sum(c.cost(c.epochs)[0] for c in table.values())
    done = [t for t in trials if t.completed]
    chosen = max(done, key=lambda t: t.val_acc) if done else None  # max keeps the first of ties
    val = table[chosen.config].val_acc[-1] if chosen else math.nan
    gap = p - val
    return Outcome(
        share=sum(t.grad_evals for t in trials) / full,
        minutes=sum(t.seconds for t in trials) / 60,
        wall=max((t.end for t in trials), default=0.0) / 60,
        pruned=sum(not t.completed for t in trials),
        pick=chosen.config if chosen else None, pick_val=val,
        pick_test=table[chosen.config].test_acc if chosen else math.nan,
        best=chosen is not None and chosen.config == win_cfg,
        regret=100 * gap, regret_se=gap / se,
        half_se=chosen is not None and gap <= 0.5 * se + 1e-12,
        one_se=chosen is not None and gap <= se + 1e-12)


def mean_sd(xs: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation of the finite values of `xs`."""
    ys = [x for x in xs if math.isfinite(x)]
    if not ys:
        return math.nan, math.nan
    return statistics.fmean(ys), statistics.stdev(ys) if len(ys) > 1 else 0.0


def summary(runs: Sequence[Outcome]) -> dict[str, float]:
    """Figures over the seeds' searches of one strategy (shares and rates as fractions)."""
    n = len(runs)
    k = sum(r.best for r in runs)
    lo, hi = wilson(k, n)
    share, share_sd = mean_sd([r.share for r in runs])
    test, test_sd = mean_sd([r.pick_test for r in runs])
    return {"n": n, "share": share, "share_sd": share_sd, "best": k / n, "best_lo": lo,
            "best_hi": hi, "half_se": sum(r.half_se for r in runs) / n,
            "one_se": sum(r.one_se for r in runs) / n, "regret": mean_sd([r.regret for r in runs])[0],
            "regret_se": mean_sd([r.regret_se for r in runs])[0], "test": test, "test_sd": test_sd,
            "pruned": mean_sd([float(r.pruned) for r in runs])[0],
            "wall": mean_sd([r.wall for r in runs])[0], "no_pick": sum(r.pick is None for r in runs)}


def paired_ci(xs: Sequence[float], z: float | None = None) -> tuple[float, float, float]:
    """Mean of paired differences `xs` with its 95 % t interval: (mean, low, high)."""
    from scipy import stats

    ys = [x for x in xs if math.isfinite(x)]
    if len(ys) < 2:
        return (ys[0] if ys else math.nan), math.nan, math.nan
    m, sd = statistics.fmean(ys), statistics.stdev(ys)
    half = (z or stats.t.ppf(0.975, len(ys) - 1)) * sd / math.sqrt(len(ys))
    return m, m - half, m + half


def paired(runs: Sequence[Outcome], ref: Sequence[Outcome]) -> dict[str, tuple[float, float, float]]:
    """Differences strategy - reference over the same search seeds (runs in seed order):
    compute share, pick = winner and within 0.5 SE (fractions), regret (points and SEs), test."""
    pairs = list(zip(runs, ref, strict=True))
    return {"share": paired_ci([a.share - b.share for a, b in pairs]),
            "best": paired_ci([float(a.best) - float(b.best) for a, b in pairs]),
            "half_se": paired_ci([float(a.half_se) - float(b.half_se) for a, b in pairs]),
            "regret": paired_ci([a.regret - b.regret for a, b in pairs]),
            "regret_se": paired_ci([a.regret_se - b.regret_se for a, b in pairs]),
            "test": paired_ci([100 * (a.pick_test - b.pick_test) for a, b in pairs])}


@dataclass(frozen=True)
class Choice:
    """The default the rule picked, and why."""

    strategy: str
    reason: str
    scores: dict[str, float]  # strategy -> its worst-landscape mean regret (SEs)


def choose_default(results: dict[str, dict[str, Sequence[Outcome]]], current: str,
                   max_share: float = 0.40) -> Choice:
    """The default from every landscape's searches: `results[landscape][strategy]` (seed order).

    Rule: among strategies whose mean compute share is at most `max_share` on every landscape,
    take the one with the smallest worst-landscape mean validation regret (in binomial SEs, so
    landscapes with different noise weigh alike). It replaces `current` only if its paired regret
    difference to `current` is below zero with 95 % confidence on at least one landscape and not
    above zero with 95 % confidence on any; otherwise `current` stays.
    """
    lands = list(results)
    eligible = [s for s in results[lands[0]]
                if all(summary(results[la][s])["share"] <= max_share for la in lands)]
    scores = {s: max(summary(results[la][s])["regret_se"] for la in lands) for s in eligible}
    if current not in scores:
        raise ValueError(f"the current default {current!r} is not among the eligible strategies")
    best = min(scores, key=lambda s: (scores[s], s != current))
    if best == current:
        return Choice(current, "the current default has the smallest worst-landscape regret",
                      scores)
    diffs = {la: paired(results[la][best], results[la][current])["regret_se"] for la in lands}
    better = [la for la, (_, _, hi) in diffs.items() if hi < 0]
    worse = [la for la, (_, lo, _) in diffs.items() if lo > 0]
    text = ", ".join(f"{la}: {m:+.2f} SE [{lo:+.2f}, {hi:+.2f}]" for la, (m, lo, hi) in diffs.items())
    if better and not worse:
        return Choice(best, f"{best} beats {current} on paired regret ({text})", scores)
    return Choice(current, f"{best} has the smallest worst-landscape regret but does not beat "
                           f"{current} with 95 % confidence ({text})", scores)
