"""Report figures (PNG, matplotlib `Figure` objects: no pyplot, no global backend state).

Each `plot_*` function writes one PNG and returns its path, or returns None when the records
hold nothing to plot (e.g. no method with a perturbation).

Example:
    plot_metric_vs_compute(records, "val_acc", Path("out/compute.png"))
    PosixPath('out/compute.png')
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sweeps.records import RunRecord
from sweeps.stats import summarize

__all__ = [
    "plot_metric_vs_rho", "plot_rho_pbs_heatmap", "plot_metric_vs_compute",
    "plot_learning_curves", "usable", "perturbed", "latest_per_seed",
]


def usable(r: RunRecord, metric: str) -> bool:
    """A completed run with a finite final value of `metric`."""
    v = r.final.get(metric)
    return r.status == "completed" and v is not None and math.isfinite(v)


def latest_per_seed(records: Sequence[RunRecord], metric: str) -> list[RunRecord]:
    """Usable runs, one per (method, group_key, seed): the latest (records are in start order)."""
    latest = {(r.method, r.group_key, r.seed): r for r in records if usable(r, metric)}
    return list(latest.values())


def perturbed(r: RunRecord) -> bool:
    """The run uses a SAM-family perturbation (perturbation != "none")."""
    return r.params.get("perturbation", "none") != "none"


def _by_method(records: Sequence[RunRecord]) -> dict[str, list[RunRecord]]:
    out: dict[str, list[RunRecord]] = defaultdict(list)
    for r in records:
        out[r.method].append(r)
    return dict(out)


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def plot_metric_vs_rho(records: Sequence[RunRecord], metric: str, path: Path) -> Path | None:
    """Final `metric` vs rho per method; one point per config (mean, std error bar over seeds).

    Methods without a perturbation are drawn as horizontal lines (best config's mean).
    """
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    drawn = False
    for method, ok in _by_method(latest_per_seed(records, metric)).items():
        groups: dict[str, list[RunRecord]] = defaultdict(list)
        for r in ok:
            groups[r.group_key].append(r)
        if not any(perturbed(r) for r in ok):
            best = max(summarize([r.final[metric] for r in g]).mean for g in groups.values())
            ax.axhline(best, ls="--", lw=1, color="gray")
            ax.annotate(method, (0.01, best), xycoords=("axes fraction", "data"), fontsize=8)
            continue
        pts = sorted(
            (float(g[0].params.get("rho", 0.0)), summarize([r.final[metric] for r in g]))
            for g in groups.values()
        )
        x = [p[0] for p in pts]
        ax.errorbar(x, [p[1].mean for p in pts], yerr=[p[1].std for p in pts], fmt="o",
                    capsize=3, label=method, alpha=0.85)
        drawn = True
    if not drawn:
        return None
    ax.set_xscale("log")
    ax.set_xlabel("rho")
    ax.set_ylabel(f"final {metric}")
    ax.set_title(f"{metric} vs rho (mean ± std over seeds per config)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def _rho_bins(rhos: list[float]) -> tuple[list[str], list[int]]:
    """Column labels and the column of each rho: exact values if few, else 5 log bins."""
    uniq = sorted(set(rhos))
    if len(uniq) <= 6:
        return [f"{u:.3g}" for u in uniq], [uniq.index(r) for r in rhos]
    lo, hi = math.log(max(uniq[0], 1e-12)), math.log(uniq[-1])
    edges = np.exp(np.linspace(lo, hi, 6))
    cols = [min(int(np.searchsorted(edges, r, side="right")) - 1, 4) for r in rhos]
    labels = [f"{edges[i]:.2g}-{edges[i + 1]:.2g}" for i in range(5)]
    return labels, [max(c, 0) for c in cols]


def plot_rho_pbs_heatmap(records: Sequence[RunRecord], metric: str, path: Path) -> Path | None:
    """Mean final `metric` per (perturb_batch_size, rho bin) cell; one panel per method."""
    panels = {}
    for method, runs in _by_method(latest_per_seed(records, metric)).items():
        ok = [r for r in runs if perturbed(r)]
        if ok:
            panels[method] = ok
    if not panels:
        return None
    fig = Figure(figsize=(4.2 * len(panels), 3.6))
    for i, (method, runs) in enumerate(panels.items()):
        ax = fig.add_subplot(1, len(panels), i + 1)
        pbs = [r.params.get("perturb_batch_size") for r in runs]
        rows = sorted({p for p in pbs if p is not None}) + ([None] if None in pbs else [])
        labels, cols = _rho_bins([float(r.params.get("rho", 0.0)) for r in runs])
        cells: dict[tuple[int, int], list[float]] = defaultdict(list)
        for r, p, c in zip(runs, pbs, cols, strict=True):
            cells[(rows.index(p), c)].append(r.final[metric])
        grid = np.full((len(rows), len(labels)), np.nan)
        for (ri, ci), vals in cells.items():
            grid[ri, ci] = float(np.mean(vals))
        im = ax.imshow(np.ma.masked_invalid(grid), aspect="auto", cmap="viridis", origin="lower")
        for (ri, ci), vals in cells.items():
            dark = im.norm(grid[ri, ci]) < 0.6  # viridis: dark at the low end
            ax.text(ci, ri, f"{grid[ri, ci]:.3f}\nn={len(vals)}", ha="center", va="center",
                    fontsize=7, color="white" if dark else "black")
        ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=7)
        ax.set_yticks(range(len(rows)), ["full" if p is None else str(p) for p in rows])
        ax.set_xlabel("rho")
        ax.set_ylabel("perturb_batch_size")
        ax.set_title(method)
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(f"mean final {metric}")
    return _save(fig, path)


def plot_metric_vs_compute(records: Sequence[RunRecord], metric: str, path: Path) -> Path | None:
    """Final `metric` vs gradient evaluations of every run (x: pruned/diverged, o: completed)."""
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    drawn = False
    for method, runs in _by_method(records).items():
        pts = [(r.grad_evals, r.final[metric], r.status == "completed") for r in runs
               if r.grad_evals > 0 and math.isfinite(r.final.get(metric, math.nan))]
        if not pts:
            continue
        (line,) = ax.plot([p[0] for p in pts if p[2]], [p[1] for p in pts if p[2]], "o",
                          label=method, alpha=0.8)
        other = [p for p in pts if not p[2]]
        if other:
            ax.plot([p[0] for p in other], [p[1] for p in other], "x", color=line.get_color())
        drawn = True
    if not drawn:
        return None
    ax.set_xscale("log")
    ax.set_xlabel("gradient evaluations (cumulative)")
    ax.set_ylabel(f"final {metric}")
    ax.set_title(f"{metric} vs compute")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_learning_curves(best_runs: dict[str, RunRecord], metric: str,
                         path: Path) -> Path | None:
    """`metric` per epoch of the given run of each method (the best run per method)."""
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    drawn = False
    for method, r in best_runs.items():
        pts = [(h["epoch"], h[metric]) for h in r.history if metric in h]
        if not pts:
            continue
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".", label=method)
        drawn = True
    if not drawn:
        return None
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per epoch, best run of each method")
    ax.legend(fontsize=8)
    return _save(fig, path)
