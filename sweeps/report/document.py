"""`sweep report`: each method's winner, its test-set score over fresh seeds, and the verdict.

The rows (winner, test mean ± std, 95 % t-interval, n, Δ vs the baseline with its CI and the
Holm-corrected p) are computed by `sweeps.results.rows`; this module writes them as Markdown,
CSV and LaTeX (`tables`), with the figures (`plots`), the generated verdict sentences, the
analysis section (`analysis`) and the provenance, and logs the files to the sweep's parent run.

Example (on a finished, confirmed sweep)::

    text = report_sweep("tiny", "runs", None, out=None, fmt="md")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweeps.report import plots
from sweeps.report.pairwise_table import pairwise_lines
from sweeps.report.pareto_listing import pareto_lines
from sweeps.report.shift_tables import shift_section
from sweeps.report.tables import confirmed_lines, noise_lines, render_tables, verdict_lines
from sweeps.report.transfer_tables import transfer_section
from sweeps.report.tuning import tuning_section
from sweeps.results.budget import budget_note
from sweeps.results.rows import (
    MethodRow,
    best_method,
    method_pairs,
    method_rows,
    metric_on_test_split,
    searched_keys,
)
from sweeps.results.transfer import is_transfer
from sweeps.store.provenance import git_commit
from sweeps.store.schema import RunRecord, Tag
from sweeps.study.spec import StudySpec

__all__ = ["ReportResult", "build_report", "report_sweep", "git_commit"]


@dataclass(frozen=True)
class ReportResult:
    table_text: str
    files: list[Path]
    rows: dict[str, MethodRow]
    best_method: str | None
    verdict: list[str]


def build_report(records: Sequence[RunRecord], study: StudySpec, out_dir: Path, fmt: str = "md",
                 provenance: dict[str, Any] | None = None, analysis: bool = True) -> ReportResult:
    """Write report.md, report.csv, report.tex and the PNG plots into `out_dir`.

    With `analysis` and runs carrying forgetting/sharpness diagnostics, report.md gains the
    section "Generalization vs forgetting and sharpness" (`sweeps.report.analysis`) and its files.
    """
    if fmt not in ("md", "csv", "latex"):
        raise ValueError(f"fmt: value {fmt!r} is unknown; allowed: md, csv, latex")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    every, records = records, [r for r in records if not is_transfer(r)]  # transfer: own section
    tmetric, tmode = metric_on_test_split(study.metric)
    rows = method_rows(records, study)
    best = best_method(rows, study.mode)
    tables = render_tables(rows, best, study.metric, tmetric, study.baseline)
    verdict = verdict_lines(rows, study.baseline, tmetric, tmode)
    budget = budget_note({m: r.budget for m, r in rows.items()})
    pngs = plots.all_plots(records, study, rows, out_dir)
    md = [f"# Sweep report: {study.name}", "", _legend(study, tmetric), "",
          tables["md"], "", "## Verdict", "", *[f"- {v}" for v in verdict],
          *([f"- {budget}"] if budget else []), ""]
    pairs = pairwise_lines(method_pairs(rows, study), rows, tmetric, tmode)
    if pairs:
        md += ["## The compared methods among themselves", "", *pairs, ""]
    md += _selection_sections(records, study, rows, tmetric)
    md += shift_section(records, study, rows)  # eval_sets: per set, mCA, mCE
    md += transfer_section(every, study)  # `sweep transfer`: target score per source method
    section, extra = _analysis_md(records, study, out_dir) if analysis else ([], [])
    tuning, tuning_files = tuning_section(records, study, out_dir,
                                          plots.report_colors(study, records), tmetric)
    md += tuning + section + [f"![{p.stem}]({p.name})\n" for p in pngs]
    extra = tuning_files + extra
    md.append(_provenance_md(provenance or {}, every))
    files = [out_dir / "report.md", out_dir / "report.csv", out_dir / "report.tex"]
    for path, text in zip(files, ["\n".join(md), tables["csv"], tables["latex"]], strict=True):
        path.write_text(text)
    return ReportResult(tables[fmt], files + pngs + extra, rows, best, verdict)


def _selection_sections(records: Sequence[RunRecord], study: StudySpec,
                        rows: dict[str, MethodRow], tmetric: str) -> list[str]:
    """How each pick was chosen: validation noise, the Pareto set, the confirmed configs."""
    md: list[str] = []
    keys = {m: searched_keys(study, m) for m in study.methods}
    md += ["## Validation noise: configs within 1 SE of each method's search best", "",
           "Every config is scored on the same validation images, so a config is within 1 SE "
           "of the best when the difference is within the SE of the PAIRED difference: "
           "McNemar's, from the images only one of the two got right (the runs' `val_correct` "
           "bitmasks), plus the seed variance where configs have several runs. Runs without "
           "the bitmask (older runs, loss metrics) fall back to the best's own SE: across seeds "
           "for several search runs, else binomial for an accuracy (sqrt(p(1-p)/n)); n/a for a "
           "loss from one run. Each line says which was used. These configs cannot be told "
           "apart on the validation split.", "",
           *noise_lines(rows, keys, study.metric), ""]
    if study.objectives:
        objectives, _, lines = pareto_lines(study, records)
        over = ", ".join(f"{o.metric} ({o.mode})" for o in objectives)
        md += ["## Pareto set (multi-objective search)", "",
               f"The search configs no other config beats on every objective: {over}. A "
               f"multi-objective search has no single winner; the table's pick is the best "
               f"{study.metric}.", "", *[f"- {line}" for line in lines], ""]
    confirmed = confirmed_lines(rows, keys, study.metric, tmetric)
    if confirmed:
        md += ["## Confirmed configs", "",
               "Every config `sweep confirm --top K` re-ran. With K > 1 each method's pick is "
               f"the best {study.metric} mean over its SELECT seeds, and its test score comes "
               "from fresh CONFIRM seeds that chose nothing; with K = 1 the one confirmed "
               "config is the pick. The test split picks nothing.", "",
               *confirmed, ""]
    return md


def _legend(study: StudySpec, tmetric: str) -> str:
    """How to read the table (docs/verdicts.md has the long form)."""
    test = ("the exact paired sign-flip permutation test (Monte Carlo beyond 16 pairs), its "
            "interval by inverting the test" if study.test == "permutation"
            else "the paired t-test and its t-interval")
    return (f"Selection: {study.metric} ({study.mode}) on the validation split: search runs "
            "choose each method's configs, SELECT seeds (`confirm --top K > 1`) choose among "
            f"them. Scores: {tmetric} on the test split over fresh CONFIRM seeds only (mean ± "
            "std, 95% Student-t CI cut to the metric's range). A seed that diverged or failed "
            "is named beside n and counts in the comparisons at the worst confirm score. Δ vs "
            f"baseline ({study.baseline or 'none'}): mean paired difference of test scores with "
            f"its 95% CI; test: {test} (Welch's t when fewer than 2 seeds are paired), "
            "Holm-corrected across methods; the cell names the test and n. Bold: the best "
            "validation score (the test set names nothing). Tuning: search trials, gradient "
            "evaluations and device-seconds of the search phase; Grad evals, device time and "
            "runs: all runs.")


def _analysis_md(records: Sequence[RunRecord], study: StudySpec,
                 out_dir: Path) -> tuple[list[str], list[Path]]:
    """The analysis section and its files, when any run has a diagnostic to rank; else none."""
    from sweeps.report.analysis import analysis_section, write_analysis
    from sweeps.results.correlation import analyze_records

    result = analyze_records(records, study=study)
    if not result.rows:
        return [], []
    written = write_analysis(result, out_dir)
    png = next((p.name for p in written if p.suffix == ".png"), None)
    return analysis_section(result, png), written


def _provenance_md(prov: dict[str, Any], records: Sequence[RunRecord]) -> str:
    lines = ["## Provenance", ""] + [f"- {k}: `{v}`" for k, v in prov.items()]
    lines += ["", "<details><summary>MLflow run ids</summary>", ""]
    for r in records:
        lines.append(f"- {r.method}: {r.run_id} ({r.phase}, {r.status}, seed {r.seed})")
    return "\n".join(lines + ["", "</details>"]) + "\n"


def runs_git_commits(records: Sequence[RunRecord]) -> str:
    """The commits the runs were launched from (their `mlflow.source.git.commit` tags), with
    `(dirty)` where a run's code differed from its commit.

    >>> from sweeps.store.schema import RunRecord
    >>> r = lambda c, d: RunRecord("r", "sgd", "search", "completed", "g", 0, {}, {},
    ...                            tags={"mlflow.source.git.commit": c, "git_dirty": d})
    >>> runs_git_commits([r("ab", "false"), r("ab", "true"), r("cd", "false")])
    'ab, ab (dirty), cd'
    """
    seen = {r.tags.get(Tag.GIT_COMMIT, "unknown") + (" (dirty)" if r.tags.get(Tag.GIT_DIRTY) == "true"
                                                       else "") for r in records}
    return ", ".join(sorted(seen)) or "none"


def report_sweep(name: str, storage: str, tracking_uri: str | None, out: str | None,
                 fmt: str) -> str:
    """Write the report files, log them to the parent MLflow run, return the table text."""
    from sweeps.store.sweep_access import log_to_parent, read_sweep

    sweep = read_sweep(name, storage, tracking_uri)
    out_dir = Path(out) if out else sweep.dir.root / "report"
    provenance = {"git_commit": git_commit(), "runs_git_commits": runs_git_commits(sweep.records),
                  "study_sha256": sweep.meta.source_sha256,
                  "sweep_id": sweep.meta.sweep_id, "mlflow_parent_run": sweep.parent_run_id,
                  "tracking_uri": sweep.tracking_uri}
    result = build_report(sweep.records, sweep.study, out_dir, fmt, provenance)
    log_to_parent(sweep, result.files, "report")
    if not out:  # a sweep on object storage: the report goes there too
        sweep.dir.push("report")
    where = out_dir if out else sweep.dir.at("report")
    return result.table_text + "\n" + "\n".join(result.verdict) + f"\n\nReport files: {where}"
