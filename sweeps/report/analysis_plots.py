"""The `sweep analyze` figure: one panel per diagnostic vs the target, runs coloured by method.

Example:
    path = plot_scatter_grid(analyze_records(records), Path("report/analysis_scatter.png"))
"""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.figure import Figure

from sweeps.results.correlation import Analysis

__all__ = ["plot_scatter_grid"]

COLUMNS = 3


def plot_scatter_grid(a: Analysis, path: Path) -> Path | None:
    """Each analysed diagnostic's final value (x) vs the target (y) of every eligible run, τ in
    the panel title; None when no diagnostic was analysed."""
    if not a.rows:
        return None
    methods = sorted({r.method for r in a.runs})
    colors = {m: f"C{i % 10}" for i, m in enumerate(methods)}
    cols = min(COLUMNS, len(a.rows))
    nrows = math.ceil(len(a.rows) / cols)
    fig = Figure(figsize=(3.6 * cols + 0.6, 3.0 * nrows + 0.6))
    for i, row in enumerate(a.rows):
        ax = fig.add_subplot(nrows, cols, i + 1)
        for m in methods:
            pts = [(r.final[row.name], r.final[a.target]) for r in a.runs if r.method == m
                   and _finite(r.final.get(row.name)) and _finite(r.final.get(a.target))]
            if pts:
                ax.scatter(*zip(*pts, strict=True), s=18, alpha=0.8, color=colors[m], label=m)
        c = row.vs_target
        ax.set_title(f"{row.name}: τ = {c.fmt()} (n={c.n})", fontsize=8)
        ax.set_xlabel(f"final {row.name}", fontsize=8)
        ax.set_ylabel(a.target, fontsize=8)
        ax.tick_params(labelsize=7)
        if i == 0:
            ax.legend(fontsize=7)
    fig.suptitle(f"{a.target} vs diagnostics over {len(a.runs)} completed full-length runs",
                 fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def _finite(v: float | None) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)
