"""Report figures (PNG, matplotlib `Figure` objects: no pyplot, no global backend state).

Every searched config is drawn, not only the winners: completed full-length search runs as
dots, pruned or diverged ones as crosses (at the value they reached), each method's winner
(`sweeps.results.selection`) ringed, with its confirm runs' spread over seeds as an error bar.

Example:
    paths = all_plots(records, study, rows, Path("report"))
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, MaxNLocator, NullFormatter

from sweeps.results.rows import MethodRow
from sweeps.results.stats import summarize
from sweeps.store.schema import Phase, RunRecord
from sweeps.study.spec import StudySpec

__all__ = ["all_plots", "plot_metric_vs_rho", "plot_rho_m", "plot_metric_vs_compute",
           "plot_learning_curves"]


def _value(r: RunRecord, metric: str) -> float:
    return r.final.get(metric, math.nan)


def _search_runs(records: Sequence[RunRecord], metric: str) -> dict[str, list[RunRecord]]:
    """Search runs with a finite final `metric`, by method."""
    out: dict[str, list[RunRecord]] = defaultdict(list)
    for r in records:
        if r.phase == Phase.SEARCH and math.isfinite(_value(r, metric)):
            out[r.method].append(r)
    return dict(out)


def _perturbed(runs: Sequence[RunRecord]) -> bool:
    return any(r.params.get("perturbation", "none") != "none" for r in runs)


def _confirm_values(records: Sequence[RunRecord], row: MethodRow, metric: str) -> list[float]:
    w = row.winner
    return [_value(r, metric) for r in records if w and r.phase == Phase.CONFIRM
            and r.group_key == w.group_key and r.full_length and math.isfinite(_value(r, metric))]


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def plot_metric_vs_rho(records: Sequence[RunRecord], study: StudySpec,
                       rows: dict[str, MethodRow], path: Path) -> Path | None:
    """Final validation metric vs rho of every search run; the winners' confirm spread."""
    metric = study.metric
    fig = Figure(figsize=(7.0, 4.4))
    ax = fig.add_subplot()
    drawn = False
    for method, runs in _search_runs(records, metric).items():
        row = rows.get(method)
        if not _perturbed(runs):
            if row and row.winner:
                ax.axhline(row.winner.score, ls="--", lw=1, color="gray")
                ax.annotate(method, (0.01, row.winner.score), xycoords=("axes fraction", "data"),
                            fontsize=8)
            continue
        full = [r for r in runs if r.full_length]
        cut = [r for r in runs if not r.full_length]
        (pts,) = ax.plot([r.params.get("rho") for r in full], [_value(r, metric) for r in full],
                         "o", alpha=0.75, label=method)
        color = pts.get_color()
        ax.plot([r.params.get("rho") for r in cut], [_value(r, metric) for r in cut], "x",
                color=color, alpha=0.75)
        if row and row.winner:
            rho = row.winner.params.get("rho")
            ax.plot([rho], [row.winner.score], "o", ms=13, mfc="none", mec=color, mew=1.5)
            conf = _confirm_values(records, row, metric)
            if conf:
                s = summarize(conf)
                ax.errorbar([rho], [s.mean], yerr=[s.std], fmt="s", color=color, capsize=4)
        drawn = True
    if not drawn:
        return None
    _log_rho_axis(ax)
    ax.set_xlabel("rho")
    ax.set_ylabel(f"final {metric} (validation)")
    ax.set_title(f"{metric} vs rho: o completed, x pruned/diverged, ring = winner, "
                 "square = confirm mean ± std", fontsize=9)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_rho_m(records: Sequence[RunRecord], study: StudySpec, rows: dict[str, MethodRow],
               path: Path) -> Path | None:
    """One panel per perturbed method: every search run at (rho, m), coloured by its value."""
    metric = study.metric
    panels = {m: runs for m, runs in _search_runs(records, metric).items() if _perturbed(runs)}
    if not panels:
        return None
    values = [_value(r, metric) for runs in panels.values() for r in runs]
    lo, hi = min(values), max(values)
    fig = Figure(figsize=(3.4 * len(panels) + 1.2, 3.6), layout="constrained")
    axes = [fig.add_subplot(1, len(panels), i + 1) for i in range(len(panels))]
    for ax, (method, runs) in zip(axes, panels.items(), strict=True):
        ms = [r.params.get("perturb_batch_size") for r in runs]
        levels = sorted({m for m in ms if m is not None}) + ([None] if None in ms else [])
        ys = [levels.index(m) for m in ms]
        for marker, keep in (("o", True), ("x", False)):
            idx = [i for i, r in enumerate(runs) if r.full_length == keep]
            sc = ax.scatter([runs[i].params.get("rho") for i in idx], [ys[i] for i in idx],
                            c=[_value(runs[i], metric) for i in idx], cmap="viridis", vmin=lo,
                            vmax=hi if hi > lo else lo + 1e-9, marker=marker, s=45)
        w = rows[method].winner if method in rows else None
        if w is not None:
            ax.scatter([w.params.get("rho")], [levels.index(w.params.get("perturb_batch_size"))],
                       s=220, facecolors="none", edgecolors="red", linewidths=1.5)
        _log_rho_axis(ax)
        ax.set_yticks(range(len(levels)), ["full" if m is None else str(m) for m in levels])
        ax.set_ylim(-0.5, len(levels) - 0.5)
        ax.set_xlabel("rho")
        if ax is axes[0]:
            ax.set_ylabel("perturb_batch_size (m)")
        ax.set_title(method)
    fig.colorbar(sc, ax=axes, shrink=0.85, label=f"final {metric}")
    fig.suptitle(f"{metric} over rho x m: o completed, x pruned, red ring = winner", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def _log_rho_axis(ax: object) -> None:
    """A log rho axis labelled at 1, 2 and 5 times powers of ten, plainly (0.02, 0.05, 0.1)."""
    ax.set_xscale("log")  # type: ignore[attr-defined]
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # type: ignore[attr-defined]
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))  # type: ignore[attr-defined]
    ax.xaxis.set_minor_formatter(NullFormatter())  # type: ignore[attr-defined]


def plot_metric_vs_compute(records: Sequence[RunRecord], study: StudySpec,
                           path: Path) -> Path | None:
    """Final validation metric vs gradient evaluations of every run (x: not full-length)."""
    metric = study.metric
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    by_method: dict[str, list[RunRecord]] = defaultdict(list)
    for r in records:
        if r.grad_evals > 0 and math.isfinite(_value(r, metric)):
            by_method[r.method].append(r)
    for method, runs in by_method.items():
        full = [r for r in runs if r.full_length]
        (line,) = ax.plot([r.grad_evals for r in full], [_value(r, metric) for r in full], "o",
                          label=method, alpha=0.8)
        cut = [r for r in runs if not r.full_length]
        ax.plot([r.grad_evals for r in cut], [_value(r, metric) for r in cut], "x",
                color=line.get_color())
    if not by_method:
        return None
    ax.set_xscale("log")
    ax.set_xlabel("gradient evaluations (cumulative)")
    ax.set_ylabel(f"final {metric}")
    ax.set_title(f"{metric} vs compute (every run)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_learning_curves(records: Sequence[RunRecord], study: StudySpec,
                         rows: dict[str, MethodRow], path: Path) -> Path | None:
    """Validation metric per epoch of each winner: mean ± std over its confirm (else search) runs."""
    metric = study.metric
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    drawn = False
    for method, row in rows.items():
        if row.winner is None:
            continue
        mine = [r for r in records if r.group_key == row.winner.group_key and r.full_length]
        runs = [r for r in mine if r.phase == Phase.CONFIRM] or list(row.winner.runs)
        curves = [[h[metric] for h in r.history if metric in h] for r in runs]
        length = min(len(c) for c in curves)
        if length == 0:
            continue
        arr = np.array([c[:length] for c in curves])
        epochs = np.arange(1, length + 1)
        (line,) = ax.plot(epochs, arr.mean(0), label=f"{method} (n={len(runs)})")
        if len(runs) > 1:
            ax.fill_between(epochs, arr.mean(0) - arr.std(0, ddof=1),
                            arr.mean(0) + arr.std(0, ddof=1), color=line.get_color(), alpha=0.2)
        drawn = True
    if not drawn:
        return None
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{metric} (validation)")
    ax.set_title(f"{metric} per epoch of each winner (mean ± std over seeds)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def all_plots(records: Sequence[RunRecord], study: StudySpec, rows: dict[str, MethodRow],
              out_dir: Path) -> list[Path]:
    """Every report figure that has something to show, written into `out_dir`."""
    out_dir = Path(out_dir)
    made = [plot_metric_vs_rho(records, study, rows, out_dir / "metric_vs_rho.png"),
            plot_rho_m(records, study, rows, out_dir / "rho_m.png"),
            plot_metric_vs_compute(records, study, out_dir / "metric_vs_compute.png"),
            plot_learning_curves(records, study, rows, out_dir / "learning_curves.png")]
    return [p for p in made if p is not None]
