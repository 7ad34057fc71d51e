"""The pairwise-groups figure: each compared method's mean test score over its confirm seeds
(failed seeds at the worst score, as in the tests), and a bar joining the methods that cannot be
told apart (`sweeps.results.pairwise`), in the style of a critical-difference diagram.

Example:
    fig = groups_figure(rows, study, report_colors(study))   # None: fewer than 2 to compare
"""

from __future__ import annotations

import statistics

from matplotlib.figure import Figure

from sweeps.report.figure_style import tag
from sweeps.results.rows import MethodRow, method_pairs, metric_on_test_split
from sweeps.study.spec import StudySpec

__all__ = ["groups_figure"]


def groups_figure(rows: dict[str, MethodRow], study: StudySpec,
                  colors: dict[str, str]) -> Figure | None:
    """The figure, each method in its colour (None with fewer than 2 compared methods)."""
    pw = method_pairs(rows, study)
    if len(pw.order) < 2:
        return None
    tmetric, _ = metric_on_test_split(study.metric)
    means = [statistics.fmean(rows[m].scores_by_seed.values()) for m in pw.order]
    fig = Figure(figsize=(7.0, 1.4 + 0.5 * len(pw.order)))
    ax = fig.add_subplot(1, 1, 1)
    for i, (m, x) in enumerate(zip(pw.order, means, strict=True)):
        tag(ax.plot([x], [i], "o", ms=8, color=colors[m], label=m), m)
        tag(ax.annotate(m, (x, i), xytext=(8, 0), textcoords="offset points", va="center",
                        color=colors[m]), m)
    lo, hi = min(means), max(means)
    step = (hi - lo or 1e-3) * 0.08
    for k, group in enumerate(pw.groups):
        rows_in = [pw.order.index(m) for m in group]
        x = hi + step * (2 + k)
        ax.plot([x, x], [min(rows_in) - 0.2, max(rows_in) + 0.2], "-", lw=4, color="0.45")
        ax.annotate(chr(ord("a") + k), (x, min(rows_in) - 0.3), ha="center", va="bottom",
                    fontsize=8)
    ax.set_yticks(range(len(pw.order)), list(pw.order))
    ax.set_ylim(len(pw.order) - 0.4, -0.8)
    ax.set_xlim(lo - step * 3, hi + step * (4 + len(pw.groups)))
    ax.set_xlabel(f"mean {tmetric} over the confirm seeds (failed seeds at the worst score)")
    fig.suptitle("Grey bars join methods not distinguishable at Holm-adjusted p < 0.05 "
                 f"({len(pw.comparisons)} pair(s))", fontsize=9)
    return fig
