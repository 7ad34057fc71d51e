"""The SAM-family methods compared with each other: every pair, Holm over the pairs, and the
groups of methods that cannot be told apart.

Every pair of compared methods gets the study's paired test (`sweeps.results.paired`) on their
test scores by seed (failed seeds at the worst score). The pairs form one Holm family. Methods
are ordered by mean test score, best first; a group is a longest run of consecutive methods in
that order of which no two differ at Holm-adjusted p < alpha: the bars of a critical-difference
diagram (Demšar, JMLR 2006), here from paired tests instead of mean ranks. Each group gets a
letter; two methods sharing a letter are not distinguishable.

Example:
    >>> pw = pairwise_comparisons({"a": {1: 0.9, 2: 0.8, 3: 0.85}, "b": {1: 0.7, 2: 0.9, 3: 0.8}},
    ...                           "max")
    >>> pw.order, pw.groups, pw.letters()
    (('a', 'b'), (('a', 'b'),), {'a': 'a', 'b': 'a'})
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass, field
from itertools import combinations

from sweeps.results.paired import UNBOUNDED, Comparison, compare
from sweeps.results.power import holm_alpha, n_for_power
from sweeps.results.stats import holm

__all__ = ["Pairwise", "pairwise_comparisons", "pair_comparisons", "grouped", "ALPHA"]

ALPHA = 0.05


@dataclass(frozen=True)
class Pairwise:
    """The compared methods best first, each pair's comparison (first minus second, the pair
    in `order`) with its Holm-adjusted p, the groups of indistinguishable methods, and for each
    pair that is not significant the paired seeds 80 % power would need."""

    order: tuple[str, ...]
    comparisons: dict[tuple[str, str], Comparison | None]
    p_holm: dict[tuple[str, str], float]
    groups: tuple[tuple[str, ...], ...]
    n_needed: dict[tuple[str, str], int | None] = field(default_factory=dict)  # not significant

    def distinct(self, a: str, b: str) -> bool:
        """Whether `a` and `b` differ at Holm-adjusted p < ALPHA."""
        p = self.p_holm.get((a, b), self.p_holm.get((b, a), math.nan))
        return math.isfinite(p) and p < ALPHA

    def letters(self) -> dict[str, str]:
        """Each method's group letters (`"ab"`: in the first two groups)."""
        out = {m: "" for m in self.order}
        for letter, group in zip(string.ascii_lowercase, self.groups, strict=False):
            for m in group:
                out[m] += letter
        return out


def _groups(order: tuple[str, ...], distinct) -> tuple[tuple[str, ...], ...]:
    """Maximal runs of consecutive methods with no distinct pair (runs inside another dropped)."""
    runs: list[tuple[int, int]] = []
    for i in range(len(order)):
        j = i
        while j + 1 < len(order) and not any(distinct(order[k], order[j + 1])
                                             for k in range(i, j + 1)):
            j += 1
        if not runs or j > runs[-1][1]:
            runs.append((i, j))
    return tuple(order[i:j + 1] for i, j in runs)


def pair_comparisons(scores: dict[str, dict[int, float]], mode: str, test: str = "permutation",
                     bounds: tuple[float, float] = UNBOUNDED,
                     failures: dict[str, int] | None = None
                     ) -> tuple[tuple[str, ...], dict[tuple[str, str], Comparison | None]]:
    """The methods in `scores` (test score by seed) best first, and every pair's comparison
    (unadjusted: the caller picks the Holm family). Methods without scores are left out."""
    failures = failures or {}
    scored = {m: s for m, s in scores.items() if s}
    sign = -1.0 if mode == "max" else 1.0
    order = tuple(sorted(scored, key=lambda m: sign * sum(scored[m].values()) / len(scored[m])))
    return order, {(a, b): compare(scored[a], scored[b], test, bounds=bounds,
                                   failures=failures.get(a, 0) + failures.get(b, 0))
                   for a, b in combinations(order, 2)}


def grouped(order: tuple[str, ...], comparisons: dict[tuple[str, str], Comparison | None],
            p_holm: dict[tuple[str, str], float], level: float, test: str) -> Pairwise:
    """The `Pairwise` of comparisons adjusted in a family whose Holm first-step level is
    `level`: groups, and the seeds needed where a pair is not significant."""
    pw = Pairwise(order, comparisons, p_holm, ())
    needed = {k: n_for_power(c.diff, c.sd, level, test if c.paired else "t")
              for k, c in comparisons.items() if c is not None and not pw.distinct(*k)}
    return Pairwise(order, comparisons, p_holm, _groups(order, pw.distinct), needed)


def pairwise_comparisons(scores: dict[str, dict[int, float]], mode: str,
                         test: str = "permutation",
                         bounds: tuple[float, float] = UNBOUNDED,
                         failures: dict[str, int] | None = None) -> Pairwise:
    """Every pair of the methods in `scores` (test score by seed), Holm over the pairs alone,
    and the groups (see the module docstring). A report adjusts the pairs together with its
    other comparisons instead (`sweeps.results.rows.method_pairs`)."""
    order, comparisons = pair_comparisons(scores, mode, test, bounds, failures)
    adjusted = holm({f"{a}\t{b}": c.p for (a, b), c in comparisons.items() if c is not None})
    p_holm = {(a, b): adjusted.get(f"{a}\t{b}", math.nan) for a, b in comparisons}
    return grouped(order, comparisons, p_holm, holm_alpha(ALPHA, len(adjusted)), test)
