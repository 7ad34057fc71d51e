"""Figures of the report's tuning section: `tuning_curves.png` (each method's expected best
validation score against the trials spent and against device-seconds, with its bootstrap band,
and the test score of that pick dashed where every trial has one) and `sensitivity.png` (the
validation metric of every search trial against each searched key, one panel per key).

Colours: one per method, as in every report figure (`sweeps.report.figure_style`).

Example (on a sweep's records)::

    fig = tuning_figure(tuning_curves(records, study, "test_acc"), study.metric, colors)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from matplotlib.figure import Figure

from sweeps.results.tuning_curves import TuningCurve
from sweeps.store.phase import Phase
from sweeps.store.schema import RunRecord, RunStatus
from sweeps.study.distributions import Choice, Float, Int
from sweeps.study.spec import StudySpec

__all__ = ["tuning_figure", "sensitivity_figure"]


def tuning_figure(curves: dict[str, TuningCurve], metric: str, colors: dict[str, str],
                  test_metric: str | None = None) -> Figure:
    """E[best `metric` of k trials] vs k and vs device-seconds, one line and band per method."""
    fig = Figure(figsize=(10, 4))
    by_k, by_s = fig.subplots(1, 2)
    for m, c in curves.items():
        col = colors.get(m, "black")
        for ax, x in ((by_k, c.k), (by_s, c.seconds)):
            ax.plot(x, c.expected, "o-", color=col, ms=3, label=f"{m} (n = {c.n})")
            ax.fill_between(x, c.band_low, c.band_high, color=col, alpha=0.15, lw=0)
            if c.test is not None:
                ax.plot(x, c.test, "--", color=col, lw=1,
                        label=f"{m}: {test_metric} of the pick" if ax is by_k else None)
    by_k.set_xlabel("trials k")
    by_s.set_xlabel("device-seconds of k trials")
    if any(c.seconds[-1] > 0 for c in curves.values()):
        by_s.set_xscale("log")
    for ax in (by_k, by_s):
        ax.set_ylabel(f"expected best {metric}")
        ax.grid(alpha=0.3)
    by_k.legend(fontsize=7)
    by_k.set_title("Expected best of k trials (95% bootstrap band)", fontsize=9)
    by_s.set_title("Against device-seconds", fontsize=9)
    return fig


def _trial_points(records: Sequence[RunRecord], metric: str,
                  key: str) -> dict[str, list[tuple[float | str, float, bool]]]:
    """(key value, metric, pruned) of every scored search trial, by method."""
    out: dict[str, list[tuple[float | str, float, bool]]] = {}
    for r in records:
        v, y = r.params.get(key), r.final.get(metric, math.nan)
        if r.phase != Phase.SEARCH or v is None or not math.isfinite(y) or r.status not in (
                RunStatus.COMPLETED, RunStatus.PRUNED):
            continue
        out.setdefault(r.method, []).append((v, y, r.status == RunStatus.PRUNED))
    return out


def sensitivity_figure(records: Sequence[RunRecord], study: StudySpec,
                       colors: dict[str, str]) -> Figure | None:
    """`metric` of every search trial against each key some method searches (o completed, x
    pruned at the value it reached); None when no method searches a key."""
    keys = sorted({k for m in study.methods.values() for k in m.sampled})
    if not keys:
        return None
    fig = Figure(figsize=(4 * len(keys), 3.6))
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    for ax, key in zip(axes, keys, strict=True):
        dist = next(m.sampled[key] for m in study.methods.values() if key in m.sampled)
        choices = list(dist.choices) if isinstance(dist, Choice) else None
        for m, pts in _trial_points(records, study.metric, key).items():
            if m in study.methods and key not in study.methods[m].sampled:
                continue
            for pruned in (False, True):
                sel = [(v, y) for v, y, p in pts if p == pruned]
                if not sel:
                    continue
                xs = [choices.index(v) if choices and v in choices else v for v, _ in sel]
                ax.plot(xs, [y for _, y in sel], "x" if pruned else "o", ls="none",
                        color=colors.get(m, "black"), ms=5, alpha=0.8,
                        label=m if not pruned else None)
        if choices:
            ax.set_xticks(range(len(choices)), [str(c) for c in choices])
        elif isinstance(dist, (Float, Int)) and dist.log:
            ax.set_xscale("log")
        ax.set_xlabel(key)
        ax.set_ylabel(study.metric)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("Sensitivity: search trials (o completed, x pruned at the value reached)",
                 fontsize=9)
    return fig
