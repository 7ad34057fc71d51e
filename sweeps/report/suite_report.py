"""A suite's report: per workload the usual table and verdicts, in aggregate each method's
wins/ties/losses vs the baseline, its mean rank with a bootstrap interval and the
performance-profile figure (`sweeps.results.suite_aggregate` computes them; docs/suites.md
explains the reading).

Example (on the aggregate of a finished suite)::

    text, files = write_suite_report(agg, "two_workloads", Path("runs/two_workloads/report"),
                                     {"fashion_cnn": "runs/two_workloads__fashion_cnn/report"})
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from sweeps.report.figure_style import method_colors, tag
from sweeps.report.tables import render_tables, verdict_lines
from sweeps.results.rows import best_method
from sweeps.results.suite_aggregate import SuiteAggregate, profile

__all__ = ["aggregate_table", "profile_figure", "write_suite_report", "PROFILE_PNG", "taus_for"]

PROFILE_PNG = "performance_profile.png"


def _rank_text(agg: SuiteAggregate, m: str) -> str:
    r, (lo, hi) = agg.mean_rank[m], agg.rank_interval[m]
    return "n/a" if math.isnan(r) else f"{r:.2f} [{lo:.2f}, {hi:.2f}]"


def aggregate_table(agg: SuiteAggregate) -> str:
    """The aggregate as a Markdown table: one row per method."""
    pct = round(agg.confidence * 100)
    head = ["Method", f"W / T / L vs {agg.baseline or 'baseline'}", "n/a",
            f"Mean rank [{pct}% bootstrap]", "rho(1)", "rho(1.1)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in agg.methods:
        t = agg.tally.get(m)
        wtl = "baseline" if t is None else f"{t.wins} / {t.ties} / {t.losses}"
        rho = profile(agg.errors, m, [1.0, 1.1]) if agg.errors else [math.nan, math.nan]
        lines.append(f"| {m} | {wtl} | {'' if t is None else t.missing} | {_rank_text(agg, m)} "
                     f"| {rho[0]:.2f} | {rho[1]:.2f} |")
    return "\n".join(lines)


def _outcome_table(agg: SuiteAggregate) -> str:
    """Per workload: each method's mean test score on the paired seeds, rank and outcome."""
    others = [m for m in agg.methods if m != agg.baseline]
    head = ["Workload", *[f"{m} ({agg.tmetric}, rank)" for m in agg.methods],
            *[f"{m} vs {agg.baseline}" for m in others]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for w in agg.rows:
        cells = []
        for m in agg.methods:
            if w in agg.ranks:
                err = agg.errors[w][m]
                score = 1.0 - err if agg.tmetric.endswith("_acc") else err
                cells.append(f"{score:.4f} ({agg.ranks[w][m]:g})")
            else:
                cells.append("n/a")
        lines.append("| " + " | ".join([w, *cells, *[agg.outcomes[w][m] for m in others]]) + " |")
    return "\n".join(lines)


def taus_for(agg: SuiteAggregate) -> np.ndarray:
    """The tau axis: 1 to past the largest finite ratio (at least 2)."""
    ratios = [e / min(errs.values()) for errs in agg.errors.values() for e in errs.values()
              if min(errs.values()) > 0]
    top = max([2.0, *[1.05 * r for r in ratios if math.isfinite(r)]])
    return np.linspace(1.0, top, 400)


def profile_figure(agg: SuiteAggregate) -> Figure:
    """rho_m(tau) of every method, a step curve each."""
    taus = taus_for(agg)
    colors = method_colors(list(agg.methods))
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    for m in agg.methods:
        tag(ax.step(taus, profile(agg.errors, m, taus.tolist()), where="post", color=colors[m],
                    label=m, lw=2), m)
    ax.set_xlabel(f"tau (error within a factor tau of the best; error = "
                  f"{'1 - ' if agg.tmetric.endswith('_acc') else ''}{agg.tmetric})")
    ax.set_ylabel("share of workloads")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title(f"Performance profile over {len(agg.errors)} workload(s) (Dolan & Moré 2002)",
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def _legend(agg: SuiteAggregate) -> list[str]:
    pct = round(agg.confidence * 100)
    return [
        f"W / T / L: on how many workloads the method beats {agg.baseline} (a win), is beaten "
        "by it (a loss) or is not distinguishable from it (a tie), each as that workload's own "
        "report words it: Holm-corrected p < 0.05 over the report's one family of comparisons, "
        "on the test scores of the confirm seeds. n/a: the workload had no comparison (under 2 "
        "confirm seeds). A tie is no evidence of equality: it says the seeds could not tell.",
        f"Mean rank: each workload ranks the methods by their mean {agg.tmetric} over the "
        "confirm seeds every method ran (1 = best, ties share the mean rank); the mean is over "
        f"the ranked workloads. [{pct}% bootstrap]: percentile interval of {agg.draws} draws; "
        "each draw resamples every workload's confirm seeds with replacement, the same seeds "
        "for every method (paired), then re-ranks and re-averages (seed "
        f"{agg.seed}). It covers the seed noise of these workloads, not the choice of workloads.",
        "rho(tau) (performance profile, Dolan & Moré 2002, as in AlgoPerf): the share of "
        "workloads on which the method's test error is within a factor tau of the best "
        "method's error there; rho(1): the share where it is the best. Higher and further "
        "left is better; the figure shows the whole curve.",
    ]


def write_suite_report(agg: SuiteAggregate, suite: str, out_dir: Path,
                       workload_reports: Mapping[str, str]) -> tuple[str, list[Path]]:
    """Write `report.md` and the profile PNG into `out_dir`; return the aggregate table (the
    text `sweep suite` prints) and the files."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md = [f"# Suite report: {suite}", "",
          f"{len(agg.rows)} workload(s), methods {', '.join(agg.methods)}, baseline "
          f"{agg.baseline}; scores: {agg.tmetric} on the test split over the confirm seeds.", "",
          "## Aggregate", "", aggregate_table(agg), "", *[f"- {line}" for line in _legend(agg)],
          ""]
    md += [f"- {w}: not ranked ({why})" for w, why in agg.unranked.items()]
    files = [out_dir / "report.md"]
    if agg.errors:
        fig = profile_figure(agg)
        fig.savefig(out_dir / PROFILE_PNG, dpi=120)
        files.append(out_dir / PROFILE_PNG)
        md += ["", f"![performance profile]({PROFILE_PNG})", ""]
    md += ["## Per workload", "", _outcome_table(agg), ""]
    for w, rows in agg.rows.items():
        tables = render_tables(rows, best_method(rows, agg.mode), agg.metric, agg.tmetric,
                               agg.baseline)
        md += [f"### {w}", "", f"Full report: `{workload_reports.get(w, 'n/a')}`", "",
               tables["md"], "", *[f"- {v}" for v in verdict_lines(rows, agg.baseline,
                                                                    agg.tmetric, agg.tmode)], ""]
    (out_dir / "report.md").write_text("\n".join(md))
    return aggregate_table(agg), files
