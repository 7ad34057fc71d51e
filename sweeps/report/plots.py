"""Report figures (PNG): built as matplotlib `Figure` objects (no pyplot), saved by `all_plots`.

- `test_scores.png`: each method's pick (`sweeps.results.rows`) scored on the test split over the
  confirm seeds: every seed a dot, the mean a bar, its 95 % t-interval a whisker; the baseline's
  mean a dashed reference line; seeds that diverged or failed named under the method.
- `learning_curves.png`: each pick's validation metric per epoch (mean ± std over its confirm
  runs) and its test metric at the epochs that have one (the last; more with `test_every`).
- `tradeoff.png`: every confirmed config's test score against its cost
  (`sweeps.report.tradeoff_plots`), the Pareto front drawn.
- `metric_vs_rho.png`, `rho_m.png`: the search landscape, on the validation metric that drove
  it: every search run (o completed, x pruned at the value it reached), the winner ringed.
- `method_groups.png`: the compared methods' mean test scores and bars joining those that
  cannot be told apart (`sweeps.report.groups_plot`).

One colour per method in every figure, and runs that collapsed are drawn on the axis edge
instead of setting the limits (`sweeps.report.figure_style`).

Example:
    figs = report_figures(records, study, rows)    # {"test_scores.png": Figure, ...}
    paths = all_plots(records, study, rows, Path("report"))
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, MaxNLocator, NullFormatter

from sweeps.report.figure_style import (
    NEUTRAL,
    apart,
    collapse_side,
    draw_apart,
    fence,
    method_colors,
    method_order,
    span,
    tag,
)
from sweeps.report.groups_plot import groups_figure
from sweeps.report.tradeoff_plots import tradeoff_figure
from sweeps.results.rows import MethodRow, metric_on_test_split
from sweeps.results.stats import summarize
from sweeps.store.phase import Phase
from sweeps.store.schema import RunRecord
from sweeps.study.spec import StudySpec

__all__ = ["report_colors", "scores_figure", "learning_curves_figure",
           "metric_vs_rho_figure", "rho_m_figure", "report_figures", "save_figure", "all_plots"]


def _value(r: RunRecord, metric: str) -> float:
    return r.final.get(metric, math.nan)


def report_colors(study: StudySpec, records: Sequence[RunRecord] = ()) -> dict[str, str]:
    """The colour of every method of the study (and of runs of any other method)."""
    return method_colors(method_order(study.methods, (r.method for r in records)))


def _title(ax: Axes, text: str, n_apart: int) -> None:
    """The axes title, with a line counting the runs drawn on the edge."""
    if n_apart:
        text += (f"\n{n_apart} off-scale run{'s' if n_apart > 1 else ''} drawn on the edge "
                 "(▼, value printed): they do not set the axis")
    ax.set_title(text, fontsize=9)


def scores_figure(study: StudySpec, rows: dict[str, MethodRow],
                       colors: dict[str, str]) -> Figure | None:
    """Per method (study order) the pick's test scores by confirm seed, mean and 95 % CI."""
    tmetric, _ = metric_on_test_split(study.metric)
    shown = [m for m in colors if m in rows and rows[m].test is not None]
    if not shown:
        return None
    fig = Figure(figsize=(1.1 * len(shown) + 3.4, 4.8), layout="constrained")
    ax = fig.add_subplot()
    seeds = [(i, m, s, v) for i, m in enumerate(shown)
             for s, v in sorted(rows[m].test_by_seed.items())]
    off = apart([v for *_, v in seeds], [m for _, m, *_ in seeds], collapse_side(tmetric))
    keep = [v for (*_, v), a in zip(seeds, off, strict=True) if not a]
    means = [rows[m].test.mean for m in shown]  # type: ignore[union-attr]
    lo_f, hi_f = fence([v for *_, v in seeds])   # whiskers set the axes up to the far-out fence
    if tmetric.endswith("_acc"):                 # an accuracy's interval stops at [0, 1]
        lo_f, hi_f = max(lo_f, 0.0), min(hi_f, 1.0)
    lo_f, hi_f = min([lo_f, *keep, *means]), max([hi_f, *keep, *means])
    ends = [min(max(x, lo_f), hi_f) for m in shown
            for x in (rows[m].test.ci_low, rows[m].test.ci_high)  # type: ignore[union-attr]
            if math.isfinite(x)]
    ax.set_xlim(-0.6, len(shown) - 0.4)
    ax.set_ylim(*span(keep + means + ends))
    base = rows.get(study.baseline or "")
    if base is not None and base.test is not None:
        ref = ax.axhline(base.test.mean, ls="--", lw=1, color=colors[base.method],
                         label=f"{base.method} mean (baseline)")
        tag(ref, base.method)
    for i, m in enumerate(shown):
        row, c = rows[m], colors[m]
        s = row.test
        assert s is not None
        mine = [(v, a) for (j, _, _, v), a in zip(seeds, off, strict=True) if j == i]
        dx = np.linspace(-0.25, 0.0, len(mine)) if len(mine) > 1 else np.full(1, -0.12)
        pts = [(i + d, v) for d, (v, a) in zip(dx, mine, strict=True) if not a]
        if pts:
            tag(ax.plot(*zip(*pts, strict=True), "o", color=c, alpha=0.7, ms=6), m)
        draw_apart(ax, [(i + d, v, False, True) for d, (v, a) in zip(dx, mine, strict=True) if a],
                   c, m)
        tag(ax.plot([i - 0.32, i + 0.32], [s.mean] * 2, "-", color=c, lw=2.5,
                    label=f"{m}: {s.fmt()} (n={s.n})"), m)
        if math.isfinite(s.ci_low):
            tag(ax.errorbar([i + 0.18], [s.mean], yerr=[[s.mean - s.ci_low], [s.ci_high - s.mean]],
                            fmt="none", color=c, ecolor=c, capsize=4, lw=1.5), m)
        if row.lost_seeds:
            lost = ", ".join(f"seed {k} {v}" for k, v in sorted(row.lost_seeds.items()))
            tag(ax.annotate(lost, (i, 0), xycoords=("data", "axes fraction"), xytext=(0, 3),
                            textcoords="offset points", ha="center", fontsize=6, color=c), m)
    ax.set_xticks(range(len(shown)), shown)
    for label, m in zip(ax.get_xticklabels(), shown, strict=True):
        label.set_color(colors[m])
        tag(label, m)
    ax.set_ylabel(f"{tmetric} (test split, confirm seeds)")
    _title(ax, f"{tmetric} of each method's pick: dots = seeds, bar = mean, "
           "whisker = 95% t-interval", sum(off))
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", fontsize=7,
               ncols=min(3, len(shown) + 1))
    return fig


def _curve(runs: Sequence[RunRecord], metric: str) -> tuple[list[float], np.ndarray]:
    """Epochs at which every run has `metric`, and the runs' values there (runs x epochs)."""
    by_run = [{h["epoch"]: h[metric] for h in r.history
               if metric in h and "epoch" in h and math.isfinite(h[metric])} for r in runs]
    epochs = sorted(set.intersection(*(set(d) for d in by_run))) if by_run else []
    return epochs, np.array([[d[e] for e in epochs] for d in by_run])


def _pick_runs(records: Sequence[RunRecord], row: MethodRow) -> list[RunRecord]:
    """The pick's completed full-length confirm runs, the latest of each seed (as the test
    scores of `sweeps.results.rows`); its search runs when it has none."""
    p = row.pick
    if p is None:
        return []
    latest = {r.seed: r for r in sorted(records, key=lambda r: r.start_time)
              if r.method == row.method and r.group_key == p.group_key and r.full_length
              and r.phase == Phase.CONFIRM}
    return list(latest.values()) or list(p.runs)


def learning_curves_figure(records: Sequence[RunRecord], study: StudySpec,
                           rows: dict[str, MethodRow], colors: dict[str, str]) -> Figure | None:
    """Each pick's validation metric per epoch (mean ± std) and its test metric where logged."""
    metric = study.metric
    tmetric, _ = metric_on_test_split(metric)
    fig = Figure(figsize=(7.0, 4.4))
    ax = fig.add_subplot()
    drawn, dodge = False, 0.008 * max([1.0, *(h.get("epoch", 1.0) for r in records
                                               for h in r.history)])
    for k, m in enumerate(colors):
        runs = _pick_runs(records, rows[m]) if m in rows else []
        epochs, val = _curve(runs, metric)
        if not epochs:
            continue
        c, sd = colors[m], val.std(0, ddof=1) if len(runs) > 1 else np.zeros(len(epochs))
        tag(ax.plot(epochs, val.mean(0), "-", color=c, label=f"{m} (n={len(runs)})"), m)
        if len(runs) > 1:
            tag(ax.fill_between(epochs, val.mean(0) - sd, val.mean(0) + sd, color=c, alpha=0.18), m)
        t_epochs, test = _curve(runs, tmetric)
        if t_epochs:
            tsd = test.std(0, ddof=1) if len(runs) > 1 else None
            at = np.array(t_epochs) + (k - (len(colors) - 1) / 2) * dodge   # side by side
            tag(ax.errorbar(at, test.mean(0), yerr=tsd, fmt="D:", color=c, ms=6, capsize=3), m)
        drawn = True
    if not drawn:
        return None
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{metric} (validation) / {tmetric} (test)")
    ax.set_title(f"Each method's pick over its confirm seeds: line = {metric} mean ± std, "
                 f"◆ = {tmetric} mean ± std", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def _search_runs(records: Sequence[RunRecord], metric: str) -> dict[str, list[RunRecord]]:
    """Search runs with a finite final `metric`, by method."""
    out: dict[str, list[RunRecord]] = defaultdict(list)
    for r in records:
        if r.phase == Phase.SEARCH and math.isfinite(_value(r, metric)):
            out[r.method].append(r)
    return dict(out)


def _perturbed(runs: Sequence[RunRecord]) -> bool:
    return any(r.params.get("perturbation", "none") != "none" for r in runs)


def _log_rho_axis(ax: Axes) -> None:
    """A log rho axis labelled at 1, 2 and 5 times powers of ten, plainly (0.02, 0.05, 0.1)."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def metric_vs_rho_figure(records: Sequence[RunRecord], study: StudySpec,
                         rows: dict[str, MethodRow], colors: dict[str, str]) -> Figure | None:
    """Final validation metric vs rho of every search run; the pick's confirm mean ± std."""
    metric = study.metric
    by_method = _search_runs(records, metric)
    runs = [(m, r) for m in colors for r in by_method.get(m, []) if _perturbed(by_method[m])]
    if not runs:
        return None
    flat = [(m, r.params.get("rho"), _value(r, metric), r.full_length) for m, r in runs]
    off = apart([v for _, _, v, _ in flat], [m for m, *_ in flat], collapse_side(metric),
                reference=[full for *_, full in flat])
    fig = Figure(figsize=(7.0, 4.4))
    ax = fig.add_subplot()
    conf: dict[str, tuple[float, float, float]] = {}
    for m, row in rows.items():
        vals = [_value(r, metric) for r in _pick_runs(records, row) if r.phase == Phase.CONFIRM]
        if vals and row.pick is not None:
            s = summarize(vals)
            conf[m] = (row.pick.params.get("rho", math.nan), s.mean, s.std)
    flat_ref = [rows[m].winner.score for m in colors if m in by_method  # type: ignore[union-attr]
                and not _perturbed(by_method[m]) and m in rows and rows[m].winner]
    ax.set_ylim(*span([v for (_, _, v, _), a in zip(flat, off, strict=True) if not a] + flat_ref
                      + [mu + k * sd for _, mu, sd in conf.values() for k in (-1, 1)]))
    for m in colors:
        if m not in by_method or m not in rows:
            continue
        c, row = colors[m], rows[m]
        if not _perturbed(by_method[m]):
            if row.winner:
                tag(ax.axhline(row.winner.score, ls="--", lw=1, color=c, label=f"{m} (no rho)"), m)
            continue
        pts = [(rho, v, full) for (mm, rho, v, full), a in zip(flat, off, strict=True)
               if mm == m and not a]
        label: str | None = m
        for marker, full in (("o", True), ("x", False)):
            xy = [(rho, v) for rho, v, f in pts if f == full]
            if xy:
                tag(ax.plot(*zip(*xy, strict=True), marker, color=c, alpha=0.75, label=label), m)
                label = None
        if row.winner:
            tag(ax.plot([row.winner.params.get("rho")], [row.winner.score], "o", ms=13, mfc="none",
                        mec=c, color=c, mew=1.5), m)
        if m in conf:
            rho, mu, sd = conf[m]
            tag(ax.errorbar([rho], [mu], yerr=[sd], fmt="s", color=c, capsize=4), m)
    _log_rho_axis(ax)
    for m in colors:
        draw_apart(ax, [(rho, v, False, True) for (mm, rho, v, _), a in zip(flat, off, strict=True)
                        if mm == m and a], colors.get(m, NEUTRAL), m)
    ax.set_xlabel("rho")
    ax.set_ylabel(f"final {metric} (validation)")
    _title(ax, f"{metric} vs rho: o completed, x pruned, ring = search winner, "
           "square = pick's confirm mean ± std", sum(off))
    ax.legend(fontsize=7)
    return fig


def rho_m_figure(records: Sequence[RunRecord], study: StudySpec, rows: dict[str, MethodRow],
                 colors: dict[str, str]) -> Figure | None:
    """One panel per perturbed method (title in its colour): every search run at (rho, m),
    coloured by its final validation metric; off-scale runs grey (the colour scale is set by
    the others), the winner ringed in the method's colour."""
    metric = study.metric
    by_method = _search_runs(records, metric)
    panels = [m for m in colors if m in by_method and _perturbed(by_method[m])]
    if not panels:
        return None
    flat = [(m, r) for m in panels for r in by_method[m]]
    off = apart([_value(r, metric) for _, r in flat], [m for m, _ in flat], collapse_side(metric),
                reference=[r.full_length for _, r in flat])
    lo, hi = span([_value(r, metric) for (_, r), a in zip(flat, off, strict=True) if not a], 0.0)
    cmap = colormaps["viridis"].with_extremes(under="0.75", over="0.75")
    fig = Figure(figsize=(3.4 * len(panels) + 1.2, 3.6), layout="constrained")
    axes = [fig.add_subplot(1, len(panels), i + 1) for i in range(len(panels))]
    norm = Normalize(lo, hi)
    for ax, m in zip(axes, panels, strict=True):
        runs = by_method[m]
        ms = [r.params.get("perturb_batch_size") for r in runs]
        levels = sorted({v for v in ms if v is not None}) + ([None] if None in ms else [])
        for marker, keep in (("o", True), ("x", False)):
            idx = [i for i, r in enumerate(runs) if r.full_length == keep]
            if idx:
                ax.scatter([runs[i].params.get("rho") for i in idx],
                           [levels.index(ms[i]) for i in idx],
                           c=[_value(runs[i], metric) for i in idx], cmap=cmap, norm=norm,
                           marker=marker, s=45)
        w = rows[m].winner if m in rows else None
        if w is not None:
            tag(ax.scatter([w.params.get("rho")], [levels.index(w.params.get("perturb_batch_size"))],
                           s=220, facecolors="none", edgecolors=colors[m], linewidths=1.5), m)
        _log_rho_axis(ax)
        ax.set_yticks(range(len(levels)), ["full" if v is None else str(v) for v in levels])
        ax.set_ylim(-0.5, len(levels) - 0.5)
        ax.set_xlabel("rho")
        if ax is axes[0]:
            ax.set_ylabel("perturb_batch_size (m)")
        tag(ax.set_title(m, color=colors[m], fontweight="bold"), m)
    fig.colorbar(ScalarMappable(norm, cmap), ax=axes, shrink=0.85, label=f"final {metric}",
                 extend="both")
    n_off = sum(off)
    fig.suptitle(f"{metric} over rho x m: o completed, x pruned, ring = winner"
                 + (f"; grey: {n_off} off-scale run{'s' if n_off > 1 else ''}" if n_off else ""),
                 fontsize=9)
    return fig


def report_figures(records: Sequence[RunRecord], study: StudySpec,
                   rows: dict[str, MethodRow]) -> dict[str, Figure]:
    """Every report figure that has something to show, by file name, in one colour scheme."""
    colors = report_colors(study, records)
    made = {"test_scores.png": scores_figure(study, rows, colors),
            "learning_curves.png": learning_curves_figure(records, study, rows, colors),
            "tradeoff.png": tradeoff_figure(rows, study, colors),
            "metric_vs_rho.png": metric_vs_rho_figure(records, study, rows, colors),
            "rho_m.png": rho_m_figure(records, study, rows, colors),
            "method_groups.png": groups_figure(rows, study, colors)}
    return {name: fig for name, fig in made.items() if fig is not None}


def save_figure(fig: Figure, path: Path) -> Path:
    """Write `fig` as a PNG (tight layout unless it has its own layout engine)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def all_plots(records: Sequence[RunRecord], study: StudySpec, rows: dict[str, MethodRow],
              out_dir: Path) -> list[Path]:
    """Every report figure written into `out_dir`; the paths written."""
    return [save_figure(fig, Path(out_dir) / name)
            for name, fig in report_figures(records, study, rows).items()]
