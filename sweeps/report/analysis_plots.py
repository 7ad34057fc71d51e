"""The `sweep analyze` figure: one panel per diagnostic vs the target, runs coloured by method.

Colours follow the study's method order (`Analysis.methods`), as in every report figure; a run
far out on either axis (`sweeps.report.figure_style.apart`: the target on its collapse side,
the diagnostic on both) is drawn on the panel's edge instead of setting its limits.

Example:
    fig = scatter_figure(analyze_records(records, study=study))
    path = plot_scatter_grid(analyze_records(records, study=study), Path("report/scatter.png"))
"""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sweeps.report.figure_style import (
    NEUTRAL,
    apart,
    collapse_side,
    draw_apart,
    method_colors,
    span,
    tag,
)
from sweeps.results.correlation import Analysis

__all__ = ["scatter_figure", "plot_scatter_grid"]

COLUMNS = 3


def _finite(v: float | None) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def scatter_figure(a: Analysis) -> Figure | None:
    """Each analysed diagnostic's final value (x) vs the target (y) of every eligible run; the
    pooled and within-method τ in the panel title; None when no diagnostic was analysed."""
    if not a.rows:
        return None
    methods = a.methods or sorted({r.method for r in a.runs})
    colors = method_colors(methods)
    cols = min(COLUMNS, len(a.rows))
    nrows = math.ceil(len(a.rows) / cols)
    fig = Figure(figsize=(3.6 * cols + 0.6, 3.2 * nrows + 0.6))
    n_apart = 0
    for i, row in enumerate(a.rows):
        ax = fig.add_subplot(nrows, cols, i + 1)
        pts = [(r.method, r.final[row.name], r.final[a.target]) for r in a.runs
               if _finite(r.final.get(row.name)) and _finite(r.final.get(a.target))]
        ms = [m for m, _, _ in pts]
        xa = apart([x for _, x, _ in pts], ms, "both")
        ya = apart([y for *_, y in pts], ms, collapse_side(a.target))
        ax.set_xlim(*span([x for (_, x, _), o in zip(pts, xa, strict=True) if not o]))
        ax.set_ylim(*span([y for (*_, y), o in zip(pts, ya, strict=True) if not o]))
        for m in methods:
            mine = [(x, y, ox, oy) for (mm, x, y), ox, oy in zip(pts, xa, ya, strict=True)
                    if mm == m]
            inside = [(x, y) for x, y, ox, oy in mine if not (ox or oy)]
            if inside:
                tag(ax.scatter(*zip(*inside, strict=True), s=18, alpha=0.8, color=colors[m],
                               label=m), m)
            draw_apart(ax, [p for p in mine if p[2] or p[3]], colors[m], m)
        n_off = sum(ox or oy for ox, oy in zip(xa, ya, strict=True))
        n_apart += n_off
        if n_off:
            ax.text(0.99, 0.99, f"{n_off} off-scale", transform=ax.transAxes, ha="right",
                    va="top", fontsize=6, color=NEUTRAL)
        c, w = row.vs_target, row.within_mean
        ax.set_title(f"{row.name}: τ = {c.fmt()} (n={c.n})\nwithin methods: {w.fmt()}"
                     + (f" ({w.groups})" if w.defined else ""), fontsize=8)
        ax.set_xlabel(f"final {row.name}", fontsize=8)
        ax.set_ylabel(a.target, fontsize=8)
        ax.tick_params(labelsize=7)
    present = [m for m in methods if any(r.method == m for r in a.runs)]
    proxies = [Line2D([], [], marker="o", ls="", color=colors[m], label=m) for m in present]
    for m, p in zip(present, proxies, strict=True):
        tag(p, m)
    fig.axes[0].legend(handles=proxies, fontsize=7)
    fig.suptitle(f"{a.target} vs diagnostics over {len(a.runs)} completed full-length runs"
                 + ("; a run far out on an axis is drawn on the panel's edge, its value "
                    "printed" if n_apart else ""), fontsize=9)
    fig.tight_layout()
    return fig


def plot_scatter_grid(a: Analysis, path: Path) -> Path | None:
    """`scatter_figure(a)` written to `path` (None when there is nothing to draw)."""
    fig = scatter_figure(a)
    if fig is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
