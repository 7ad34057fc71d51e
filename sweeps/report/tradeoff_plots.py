"""The accuracy-vs-cost trade-off figure: every confirmed config's test score (mean and 95% CI
over its fresh seeds) against what one of its runs spends (gradient evaluations; device
seconds), the Pareto front of the two drawn in each panel.

Example:
    fig = tradeoff_figure(rows, study, report_colors(study))   # None: nothing confirmed yet
"""

from __future__ import annotations

import math

from matplotlib.figure import Figure

from sweeps.report.figure_style import tag
from sweeps.results.pareto import pareto_indices
from sweeps.results.rows import ConfirmedConfig, MethodRow, metric_on_test_split
from sweeps.study.spec import COSTS, StudySpec

__all__ = ["tradeoff_figure"]

_LABELS = {"grad_evals": "gradient evaluations per run", "device_seconds": "device-seconds per run"}


def _points(rows: dict[str, MethodRow]) -> list[tuple[str, ConfirmedConfig]]:
    return [(m, c) for m, row in rows.items() for c in row.confirmed if c.test is not None]


def tradeoff_figure(rows: dict[str, MethodRow], study: StudySpec,
                    colors: dict[str, str]) -> Figure | None:
    """The figure, each method in its colour (None when no confirmed config has a test score)."""
    points = _points(rows)
    if not points:
        return None
    tmetric, tmode = metric_on_test_split(study.metric)
    fig = Figure(figsize=(11.0, 4.2))
    for i, cost in enumerate(COSTS):
        ax = fig.add_subplot(1, len(COSTS), i + 1)
        xs = [getattr(c, cost) for _, c in points]
        for method in dict.fromkeys(m for m, _ in points):
            mine = [(getattr(c, cost), c) for m, c in points if m == method]
            tag(ax.errorbar([x for x, _ in mine], [c.test.mean for _, c in mine],
                        yerr=[0.0 if math.isnan(c.test.half_width) else c.test.half_width
                              for _, c in mine],
                        fmt="o", capsize=3, color=colors[method], label=method), method)
        front = sorted(pareto_indices([(x, c.test.mean) for x, (_, c) in zip(xs, points,
                                                                             strict=True)],
                                      ["min", tmode]), key=lambda j: xs[j])
        if front:
            ax.plot([xs[j] for j in front], [points[j][1].test.mean for j in front], "--",
                    color="0.4", lw=1, label="Pareto front", zorder=0)
        ax.set_xlabel(_LABELS[cost])
        ax.set_ylabel(f"{tmetric} (confirm seeds: mean, 95% CI)")
        ax.legend(fontsize=8)
    fig.suptitle(f"{tmetric} vs cost of every confirmed config; dashed: the configs no other "
                 "beats on both", fontsize=9)
    fig.tight_layout()
    return fig
