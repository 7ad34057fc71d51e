"""`sweep analyze`: the analysis of `sweeps.results.correlation` as tables, a generated sentence
and files (analysis.md, analysis.csv, analysis_scatter.png), logged to the sweep's parent run.

The sentence ranks the diagnostics on the most controlled τ that ranks at least two of them
(one, when only one diagnostic has values): granulated τ (Jiang et al. 2019: configs that
differ in one searched key; counted when it compares 6+ pairs of configs, as many as the 4
configs a pooled τ needs), else within-method τ (configs of one method), else pooled τ, and
says which one and why. It names a diagnostic that "ranks runs best" only when its |τ|
interval lies above every other diagnostic's |τ| interval; otherwise it says it is undecided,
and how many independent configs would give intervals narrow enough to separate the leading
two (`sweeps.results.power_plan.configs_for_tau`).

Example (on a sweep's records)::

    a = analyze_records(records, study=study)
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
    Correlation,
    DiagnosticRow,
    analyze_records,
)
from sweeps.results.power_plan import configs_for_tau

__all__ = ["analysis_notes", "analysis_table_md", "within_table_md", "granulated_table_md",
           "analysis_table_csv", "basis_of", "sentence_basis", "best_sentence", "decide_budget",
           "analysis_section", "write_analysis", "analyze_sweep"]

_TARGET_WORDS = {"test_acc": "test accuracy", "val_acc": "validation accuracy"}
MIN_PAIRS = math.comb(MIN_RUNS, 2)   # a granulated τ the sentence ranks on compares 6+ pairs
BASES = ("granulated", "within", "pooled")
_LABELS = {"pooled": "pooled tau", "within": "within-method tau",
           "granulated": "granulated tau"}


def _nan_blank(vals: list) -> list:
    return ["" if isinstance(v, float) and math.isnan(v) else v for v in vals]


def analysis_notes(a: Analysis) -> list[str]:
    """The method, the fallback and the skipped diagnostics, one line each."""
    lines = [f"Kendall τ-b between each diagnostic's final value and {a.target} (and the "
             f"gap {a.gap_label}) over {len(a.runs)} completed full-length runs "
             "(search and confirm), a config's seeds averaged into one point first (n counts "
             f"configs); 95% CI: paired percentile bootstrap over configs ({a.n_resamples:,} "
             f"resamples, seed {a.seed}), replaced by \"no valid interval\" where it collapses "
             "to a point; p: exact permutation p-value at small n (n = 4 perfectly ordered: "
             "0.083).",
             f"Within-method τ: over one method's configs, for methods with {MIN_RUNS}+ configs "
             "with finite, non-constant values; their mean over those methods has a stratified "
             "bootstrap CI (configs resampled within each method).",
             "Granulated τ (Jiang et al. 2019, arXiv 1912.02178): for each searched key, "
             "configs of one method whose other searched keys are exactly equal (a grid study) "
             "form a group; ψ = the mean τ over the groups with 2+ values of the key, Ψ = the "
             "mean of ψ over the keys; CI: stratified bootstrap (runs resampled within each "
             "group)."
             + (f" Undefined here: {a.granulated_note}." if a.granulated_note else "")]
    if a.fallback:
        lines.append(f"No run has test_acc: {a.target} (validation split) stands in for it.")
    if any(r.name == "clean_fit" and r.vs_gap for r in a.rows):
        lines.append("clean_fit's τ vs the gap is partly by construction (the gap contains it).")
    if a.skipped:
        lines.append("Skipped: " + ", ".join(f"{k} ({v})" for k, v in a.skipped.items()) + ".")
    return lines


def _p(p: float) -> str:
    """A p-value to 3 decimals (exact at small n: 0.083 for 4 perfectly ordered points).

    >>> _p(1 / 12), _p(0.00001), _p(float("nan"))
    ('0.083', '<0.001', 'n/a')
    """
    if math.isnan(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _counted(c: Correlation) -> str:
    return f"{c.fmt()} ({c.groups})" if c.defined else "n/a"


def analysis_table_md(a: Analysis) -> str:
    """The Markdown table, one row per analysed diagnostic: pooled, within-method and
    granulated τ vs the target, pooled τ vs the gap."""
    head = ["Diagnostic", "n", f"τ vs {a.target} pooled [95% CI]", "p",
            "τ within methods: mean (methods) [95% CI]", "Ψ granulated (keys) [95% CI]",
            "n (gap)", f"τ vs gap ({a.gap_label}) [95% CI]"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in a.rows:
        g = r.vs_target
        lines.append(f"| {r.name} | {g.n} | {g.fmt()} | {_p(g.p)} | "
                     f"{_counted(r.within_mean)} | {_counted(r.granulated.psi)} | "
                     f"{r.vs_gap.n if r.vs_gap else 0} | "
                     f"{r.vs_gap.fmt() if r.vs_gap else 'n/a'} |")
    return "\n".join(lines) + "\n"


def within_table_md(a: Analysis) -> str:
    """τ vs the target within each method (a column per method with values), or ""."""
    methods = [m for m in a.methods if any(m in r.within or m in r.within_skipped for r in a.rows)]
    if not methods:
        return ""
    lines = ["| Diagnostic | " + " | ".join(methods) + " |", "|" + "---|" * (len(methods) + 1)]
    for r in a.rows:
        cells = [f"{r.within[m].fmt()} (n={r.within[m].n}, p={_p(r.within[m].p)})"
                 if m in r.within
                 else f"n/a ({r.within_skipped[m]})" if m in r.within_skipped else "-"
                 for m in methods]
        lines.append(f"| {r.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def granulated_table_md(a: Analysis) -> str:
    """ψ of each searched key (its groups and runs), or "" when no diagnostic has one."""
    axes = sorted({k for r in a.rows for k in r.granulated.by_axis})
    if not axes:
        return ""
    lines = ["| Diagnostic | " + " | ".join(f"ψ {k} [95% CI] (groups, n)" for k in axes)
             + " | pairs of configs |",
             "|" + "---|" * (len(axes) + 2)]
    for r in a.rows:
        by = r.granulated.by_axis
        cells = [f"{by[k].fmt()} ({by[k].groups}, {by[k].n})" if k in by else "n/a" for k in axes]
        lines.append(f"| {r.name} | " + " | ".join(cells) + f" | {r.granulated.pairs} |")
    return "\n".join(lines) + "\n"


def analysis_table_csv(a: Analysis) -> str:
    """The tables as CSV, full precision, with the p-values and dropped resamples: one row per
    diagnostic; within-method columns `tau_<method>`, granulated ones `psi_<key>`."""
    methods = [m for m in a.methods if any(m in r.within for r in a.rows)]
    axes = sorted({k for r in a.rows for k in r.granulated.by_axis})
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["diagnostic", "target", "n", "tau", "ci_low", "ci_high", "p", "dropped",
                "n_gap", "tau_gap", "gap_ci_low", "gap_ci_high", "p_gap", "dropped_gap",
                "tau_within", "within_ci_low", "within_ci_high", "within_methods",
                "psi", "psi_ci_low", "psi_ci_high", "psi_keys", "psi_pairs"]
               + [f"{c}_{m}" for m in methods for c in ("tau", "ci_low", "ci_high", "n")]
               + [f"psi_{k}{c}" for k in axes for c in ("", "_ci_low", "_ci_high", "_groups")])
    for r in a.rows:
        t, g, wm, psi = r.vs_target, r.vs_gap, r.within_mean, r.granulated.psi
        gap = [g.n, g.tau, g.ci_low, g.ci_high, g.p, g.dropped] if g else [0, "", "", "", "", ""]
        vals = [r.name, a.target, t.n, t.tau, t.ci_low, t.ci_high, t.p, t.dropped, *gap,
                wm.tau, wm.ci_low, wm.ci_high, wm.groups, psi.tau, psi.ci_low, psi.ci_high,
                psi.groups, r.granulated.pairs]
        for m in methods:
            c = r.within.get(m)
            vals += [c.tau, c.ci_low, c.ci_high, c.n] if c else ["", "", "", ""]
        for k in axes:
            c = r.granulated.by_axis.get(k)
            vals += [c.tau, c.ci_low, c.ci_high, c.groups] if c else ["", "", "", ""]
        w.writerow(_nan_blank(vals))
    return buf.getvalue()


def basis_of(r: DiagnosticRow, basis: str) -> Correlation:
    """A diagnostic's τ on `basis` ("pooled", "within" or "granulated")."""
    return {"pooled": r.vs_target, "within": r.within_mean, "granulated": r.granulated.psi}[basis]


def _ranks_on(r: DiagnosticRow, basis: str) -> bool:
    """Whether `r` can be ranked on `basis`: its τ there is defined, and a granulated τ compares
    at least `MIN_PAIRS` pairs of configs (as many as the pooled τ's fewest runs give)."""
    return basis_of(r, basis).defined and (basis != "granulated"
                                           or r.granulated.pairs >= MIN_PAIRS)


def sentence_basis(a: Analysis) -> tuple[str, str]:
    """The τ the sentence rests on, and why: the first of granulated, within-method, pooled
    that ranks 2+ diagnostics (the one, when only one is analysed)."""
    scored = [r for r in a.rows if r.vs_target.defined]
    need = min(2, len(scored))
    count = {b: sum(_ranks_on(r, b) for r in scored) for b in BASES}
    k, g, wi = len(scored), count["granulated"], count["within"]
    if need and g >= need:
        return "granulated", (f"defined for {g} of {k} diagnostics, it compares only configs that "
                              "differ in one searched key, the method and the method's other "
                              "keys held fixed, so neither can create the correlation")
    g_def = sum(r.granulated.psi.defined for r in scored)
    gran = f"granulated tau is defined for {g_def} of {k}" + (
        f" but compares {MIN_PAIRS}+ pairs of configs for {g}" if g_def > g else "") + (
        f" ({a.granulated_note})" if a.granulated_note else "")
    if need and wi >= need:
        return "within", (f"defined for {wi} of {k} diagnostics, it compares runs of one method "
                          "only, so differences between methods cannot create the correlation; "
                          + gran)
    return "pooled", (f"within-method tau is defined for {wi} of {k} diagnostics and {gran}, too "
                      "few to rank on; pooled tau mixes differences between methods with "
                      "differences within them")


def _groups(r: DiagnosticRow) -> str:
    n = sum(c.groups for c in r.granulated.by_axis.values())
    return f"{n} group{'s' if n != 1 else ''} of runs"


def _value(a: Analysis, r: DiagnosticRow, basis: str) -> str:
    """`r`'s τ on `basis` with its interval and n (and the pooled τ beside a controlled one)."""
    c, p = basis_of(r, basis), r.vs_target
    g = f"{c.groups} method{'s' if c.groups != 1 else ''}" if basis == "within" else \
        f"{c.groups} searched key{'s' if c.groups != 1 else ''}"
    value = {"pooled": f"tau = {c.fmt()}, n = {c.n}",
             "within": f"mean tau over {g} = {c.fmt()}, n = {c.n}",
             "granulated": f"Psi over {g} ({_groups(r)}) = {c.fmt()}, n = {c.n}"}[basis]
    if basis != "pooled":
        value += f"; pooled tau = {p.fmt()}, n = {p.n}"
    return value + (f"; {a.target} standing in for test_acc" if a.fallback else "")


def _abs_fmt(c: Correlation) -> str:
    if not c.has_interval:
        return f"|tau| {abs(c.tau):.2f}, {c.why_no_interval or 'no interval'}"
    lo, hi = c.abs_interval()
    return f"|tau| {abs(c.tau):.2f} [{lo:.2f}, {hi:.2f}]"


def decide_budget(first: Correlation, second: Correlation, basis: str) -> str:
    """The budget that would separate the two leading |τ|: intervals of half their gap, and the
    independent configs that give them (`configs_for_tau`, at the smaller |τ|).

    >>> c = lambda t: Correlation(10, t, t - 0.3, t + 0.3, 0.1)
    >>> decide_budget(c(0.6), c(0.2), "within")
    'intervals of ±0.20 would separate the leading two: about 43 independent configs per method'
    """
    t1, t2 = abs(first.tau), abs(second.tau)
    gap = t1 - t2
    if gap < 0.02:
        return (f"the leading two |tau| differ by {gap:.2f}: no practical budget separates them; "
                "they rank the runs alike")
    unit = {"within": " per method", "granulated": " per group"}.get(basis, "")
    return (f"intervals of ±{gap / 2:.2f} would separate the leading two: about "
            f"{configs_for_tau(gap / 2, min(t2, 0.99))} independent configs{unit}")


def best_sentence(a: Analysis) -> str:
    """Whether one diagnostic ranks the runs best (largest |τ| vs the target on the basis of
    `sentence_basis`): said only when its |τ| interval lies above every other's; otherwise
    that none does, with the budget that would decide it; and which τ it rests on and why."""
    word = _TARGET_WORDS.get(a.target, a.target)
    scored = [r for r in a.rows if not math.isnan(r.vs_target.tau)]
    if not scored:
        return (f"No diagnostic has {MIN_RUNS}+ configs with finite, non-constant final values "
                f"paired with {a.target} over the {len(a.runs)} completed full-length runs: "
                "nothing to rank.")
    basis, why = sentence_basis(a)
    label = _LABELS[basis]
    order = sorted((r for r in scored if _ranks_on(r, basis)),
                   key=lambda r: -abs(basis_of(r, basis).tau))
    best, c = order[0], basis_of(order[0], basis)
    tail = f" It rests on {label}: {why}."
    if len(order) == 1:
        return (f"{best.name} is the only diagnostic with enough values to rank on {label} "
                f"({_value(a, best, basis)}): nothing to rank it against." + tail)
    lo = c.abs_interval()[0] if c.has_interval else math.nan
    overlap = [r for r in order[1:] if not basis_of(r, basis).has_interval
               or not basis_of(r, basis).abs_interval()[1] < lo]
    if c.has_interval and not overlap:
        return (f"{best.name} ranks runs by {word} best on {label} ({_value(a, best, basis)}): "
                f"its |tau| interval lies above every other diagnostic's: "
                + ", ".join(f"{r.name} ({_abs_fmt(basis_of(r, basis))})" for r in order[1:])
                + "." + tail)
    against = (f"{best.name} has the largest |tau| ({_value(a, best, basis)}) but "
               f"{c.why_no_interval or 'no interval'}" if not c.has_interval else
               f"the |tau| interval of {best.name} ({_value(a, best, basis)}) overlaps "
               + ", ".join(f"{r.name}'s ({_abs_fmt(basis_of(r, basis))})" for r in overlap))
    return (f"Which diagnostic tracks {word} most closely is undecided on {label}: {against}; "
            f"{decide_budget(c, basis_of(order[1], basis), basis)}." + tail)


def analysis_section(a: Analysis, plot_name: str | None = None) -> list[str]:
    """Markdown lines of the report section "Generalization vs forgetting and sharpness"."""
    lines = ["## Generalization vs forgetting and sharpness", "", *analysis_notes(a), "",
             analysis_table_md(a)]
    within, gran = within_table_md(a), granulated_table_md(a)
    if within:
        lines += [f"τ vs {a.target} within each method (its configs, a config's seeds "
                  "averaged) [95% CI] (n configs, exact p):", "", within]
    if gran:
        lines += [f"Granulated τ vs {a.target} by searched key:", "", gran]
    lines += [best_sentence(a), ""]
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
    from sweeps.store.sweep_access import log_to_parent, read_sweep

    sweep = read_sweep(name, storage, tracking_uri)
    a = analyze_records(sweep.records, n_resamples, seed, study=sweep.study)
    files = write_analysis(a, Path(out) if out else sweep.dir.root / "report")
    log_to_parent(sweep, files, "analysis")
    if not out:  # a sweep on object storage: the files go there too
        sweep.dir.push("report")
    return a, files
