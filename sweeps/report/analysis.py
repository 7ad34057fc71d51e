"""`sweep analyze`: the analysis of `sweeps.results.correlation` as tables, a generated sentence
and files (analysis.md, analysis.csv, analysis_scatter.png), logged to the sweep's parent run.

Example (on a sweep's records)::

    a = analyze_records(records)
    print(analysis_table_md(a)); print(best_sentence(a))
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from sweeps.results.correlation import (
    MIN_RUNS,
    N_RESAMPLES,
    SEED,
    Analysis,
    DiagnosticRow,
    analyze_records,
)

__all__ = ["analysis_notes", "analysis_table_md", "analysis_table_csv", "best_sentence",
           "analysis_section", "write_analysis", "analyze_sweep"]

_TARGET_WORDS = {"test_acc": "test accuracy", "val_acc": "validation accuracy"}


def analysis_notes(a: Analysis) -> list[str]:
    """The method, the fallback and the skipped diagnostics, one line each."""
    lines = [f"Kendall τ-b between each diagnostic's final value and {a.target} (and the "
             f"gap {a.gap_label}) over {len(a.runs)} completed full-length runs "
             f"(search and confirm); 95% CI: paired percentile bootstrap over runs "
             f"({a.n_resamples:,} resamples, seed {a.seed}). Seeds of one config are "
             "not independent draws: intervals are approximate."]
    if a.fallback:
        lines.append(f"No run has test_acc: {a.target} (validation split) stands in for it.")
    if any(r.name == "clean_fit" and r.vs_gap for r in a.rows):
        lines.append("clean_fit's τ vs the gap is partly by construction (the gap contains it).")
    if a.skipped:
        lines.append("Skipped: " + ", ".join(f"{k} ({v})" for k, v in a.skipped.items()) + ".")
    return lines


def analysis_table_md(a: Analysis) -> str:
    """The Markdown table, one row per analysed diagnostic."""
    head = ["Diagnostic", "n", f"τ vs {a.target} [95% CI]", "n (gap)",
            f"τ vs gap ({a.gap_label}) [95% CI]"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in a.rows:
        g = r.vs_gap
        lines.append(f"| {r.name} | {r.vs_target.n} | {r.vs_target.fmt()} | "
                     f"{g.n if g else 0} | {g.fmt() if g else 'n/a'} |")
    return "\n".join(lines) + "\n"


def analysis_table_csv(a: Analysis) -> str:
    """The table as CSV, full precision, with the p-values and dropped resamples."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["diagnostic", "target", "n", "tau", "ci_low", "ci_high", "p", "dropped",
                "n_gap", "tau_gap", "gap_ci_low", "gap_ci_high", "p_gap", "dropped_gap"])
    for r in a.rows:
        t, g = r.vs_target, r.vs_gap
        gap = [g.n, g.tau, g.ci_low, g.ci_high, g.p, g.dropped] if g else [0, "", "", "", "", ""]
        vals = [r.name, a.target, t.n, t.tau, t.ci_low, t.ci_high, t.p, t.dropped, *gap]
        w.writerow(["" if isinstance(v, float) and math.isnan(v) else v for v in vals])
    return buf.getvalue()


def best_sentence(a: Analysis) -> str:
    """Which diagnostic ranks the runs best (largest |τ| vs the target), and whether its
    interval (taken in magnitude) excludes the other diagnostics' |τ|; generated from `a`."""
    word = _TARGET_WORDS.get(a.target, a.target)
    scored = [r for r in a.rows if not math.isnan(r.vs_target.tau)]
    if not scored:
        return (f"No diagnostic has {MIN_RUNS}+ finite, non-constant final values paired with "
                f"{a.target} over the {len(a.runs)} completed full-length runs: nothing to rank.")
    best = max(scored, key=lambda r: abs(r.vs_target.tau))
    c = best.vs_target
    head = (f"{best.name} ranks runs by {word} best (tau = {c.fmt()}, n = {c.n})"
            + (f", {a.target} standing in for test_acc" if a.fallback else ""))
    others = [r for r in scored if r is not best]
    if not others:
        return head + "; it is the only diagnostic with enough values to rank."
    lo, hi = c.abs_interval()
    if math.isnan(lo):
        return head + "; its interval is undefined (every resample was constant)."
    out_ = [r for r in others if not lo <= abs(r.vs_target.tau) <= hi]
    in_ = [r for r in others if lo <= abs(r.vs_target.tau) <= hi]

    def names(rs: list[DiagnosticRow]) -> str:
        return ", ".join(f"{r.name} ({abs(r.vs_target.tau):.2f})" for r in rs)

    tail = f"its |tau| interval [{lo:.2f}, {hi:.2f}] "
    if out_ and in_:
        tail += f"excludes the |tau| of {names(out_)} but not of {names(in_)}"
    elif out_:
        tail += f"excludes the |tau| of every other diagnostic: {names(out_)}"
    else:
        tail += f"excludes none of the others: {names(in_)}"
    return f"{head}; {tail}."


def analysis_section(a: Analysis, plot_name: str | None = None) -> list[str]:
    """Markdown lines of the report section "Generalization vs forgetting and sharpness"."""
    lines = ["## Generalization vs forgetting and sharpness", "", *analysis_notes(a), "",
             analysis_table_md(a), best_sentence(a), ""]
    if plot_name:
        lines += [f"![analysis_scatter]({plot_name})", ""]
    return lines


def write_analysis(a: Analysis, out_dir: Path) -> list[Path]:
    """Write analysis.md, analysis.csv and (when any row) analysis_scatter.png into `out_dir`."""
    from sweeps.report.analysis_plots import plot_scatter_grid

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    png = plot_scatter_grid(a, out_dir / "analysis_scatter.png")
    md, csv_ = out_dir / "analysis.md", out_dir / "analysis.csv"
    md.write_text("\n".join(analysis_section(a, png.name if png else None)))
    csv_.write_text(analysis_table_csv(a))
    return [md, csv_] + ([png] if png else [])


def analyze_sweep(name: str, storage: str, tracking_uri: str | None = None,
                  out: str | None = None, n_resamples: int = N_RESAMPLES,
                  seed: int = SEED) -> tuple[Analysis, list[Path]]:
    """Analyse a sweep, write the files, log them to its parent MLflow run under `analysis/`.

    Example::

        a, files = analyze_sweep("tiny", "runs")
    """
    from sweeps.store.records import log_to_parent, read_sweep

    sweep = read_sweep(name, storage, tracking_uri)
    a = analyze_records(sweep.records, n_resamples, seed)
    files = write_analysis(a, Path(out) if out else sweep.dir.root / "report")
    log_to_parent(sweep, files, "analysis")
    return a, files
