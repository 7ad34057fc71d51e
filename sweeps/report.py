"""`sweep report`: each method's winner, its test-set score over fresh seeds, and the verdict.

Per method: the winning config (`sweeps.selection`: search phase, validation metric) and the
validation score that selected it; the test metric (`test_acc` for an accuracy study,
`test_loss` for a loss study) of its confirm runs, which never include the selecting run:
mean ± std, 95 % t-interval, n; and the comparison with the study's baseline method: difference
of test means with its 95 % CI and a t-test p-value (paired by seed when both ran the same
seeds, Welch otherwise), Holm-corrected across methods. The verdict sentences are generated
from these numbers. Compute (grad evals, device seconds, runs) counts all of a method's runs.

Example (on a finished, confirmed sweep)::

    text = report_sweep("tiny", "runs", None, out=None, fmt="md")
"""

from __future__ import annotations

import math
import subprocess
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from samtrain.config import TrainConfig
from sweeps import plots
from sweeps.report_tables import render_tables, verdict_lines
from sweeps.selection import ConfigScore, scoring_runs, winners
from sweeps.stats import Comparison, Summary, compare, holm, summarize
from sweeps.store.reader import RunRecord
from sweeps.store.schema import Phase, RunStatus
from sweeps.study import StudySpec

__all__ = ["MethodRow", "ReportResult", "test_metric", "method_rows", "build_report",
           "report_sweep"]


def test_metric(metric: str) -> tuple[str, str]:
    """The test-set metric reported for a study's validation metric, and its mode.

    >>> test_metric("val_acc"), test_metric("val_loss")
    (('test_acc', 'max'), ('test_loss', 'min'))
    """
    return ("test_acc", "max") if metric.endswith("_acc") else ("test_loss", "min")


@dataclass(frozen=True)
class MethodRow:
    """One table row: the winner, its test score over confirm seeds, the baseline comparison."""

    method: str
    winner: ConfigScore | None
    config: dict[str, Any]
    test: Summary | None
    test_by_seed: dict[int, float]
    lost_seeds: dict[int, str]     # confirm seeds of the winner that diverged or failed
    comparison: Comparison | None
    p_holm: float
    runs: int
    statuses: dict[str, int]
    grad_evals: float
    device_seconds: float


@dataclass(frozen=True)
class ReportResult:
    table_text: str
    files: list[Path]
    rows: dict[str, MethodRow]
    best_method: str | None
    verdict: list[str]


def _varying(runs: Sequence[RunRecord]) -> set[str]:
    """Param names (seed aside) whose values differ among `runs`: the searched ones."""
    keys = {k for r in runs for k in r.params} - {"seed"}
    return {k for k in keys if len({repr(r.params.get(k)) for r in runs}) > 1}


def _test_values(records: Sequence[RunRecord], winner: ConfigScore | None, metric: str,
                 tmetric: str) -> dict[int, float]:
    """Test values by seed of the winner's completed full-length confirm runs (latest per seed)."""
    if winner is None:
        return {}
    runs = [r for r in scoring_runs(records, metric, Phase.CONFIRM)
            if r.method == winner.method and r.group_key == winner.group_key
            and math.isfinite(r.final.get(tmetric, math.nan)) and r.seed is not None]
    return {r.seed: r.final[tmetric] for r in sorted(runs, key=lambda r: r.start_time)}


def _lost_seeds(records: Sequence[RunRecord], winner: ConfigScore | None,
                scored: dict[int, float]) -> dict[int, str]:
    """Confirm seeds of the winner without a test score, and their final status (latest run):
    shown beside n, so a method whose seeds diverge does not look better than it is."""
    if winner is None:
        return {}
    last = {r.seed: r.status for r in sorted(records, key=lambda r: r.start_time)
            if r.phase == Phase.CONFIRM and r.method == winner.method
            and r.group_key == winner.group_key and r.seed is not None}
    return {seed: status for seed, status in last.items()
            if seed not in scored and status in (RunStatus.DIVERGED, RunStatus.FAILED)}


def method_rows(records: Sequence[RunRecord], study: StudySpec) -> dict[str, MethodRow]:
    """A `MethodRow` per method of the study (in the study's order)."""
    tmetric, _ = test_metric(study.metric)
    best = winners(records, study.metric, study.mode)
    by_seed = {m: _test_values(records, (best.get(m) or [None])[0], study.metric, tmetric)
               for m in study.methods}
    base = by_seed.get(study.baseline or "", {})
    comparisons = {m: compare(v, base) for m, v in by_seed.items()
                   if study.baseline and m != study.baseline}
    adjusted = holm({m: c.p for m, c in comparisons.items() if c is not None})
    rows = {}
    for m in study.methods:
        runs = [r for r in records if r.method == m]
        w = (best.get(m) or [None])[0]
        config = {k: v for k, v in w.params.items()  # searched TrainConfig keys only
                  if k in _varying(runs) and k in TrainConfig.model_fields} if w else {}
        rows[m] = MethodRow(
            method=m, winner=w, config=config,
            test=summarize(list(by_seed[m].values())) if by_seed[m] else None,
            test_by_seed=by_seed[m], lost_seeds=_lost_seeds(records, w, by_seed[m]),
            comparison=comparisons.get(m),
            p_holm=adjusted.get(m, math.nan), runs=len(runs),
            statuses=dict(Counter(r.status for r in runs)),
            grad_evals=sum(r.grad_evals for r in runs),
            device_seconds=sum(r.device_seconds for r in runs))
    return rows


def _best_method(rows: dict[str, MethodRow], mode: str) -> str | None:
    scored = [r for r in rows.values() if r.test is not None]
    if not scored:
        return None
    pick = max if mode == "max" else min
    return pick(scored, key=lambda r: r.test.mean).method  # type: ignore[union-attr]


def build_report(records: Sequence[RunRecord], study: StudySpec, out_dir: Path, fmt: str = "md",
                 provenance: dict[str, Any] | None = None, analysis: bool = True) -> ReportResult:
    """Write report.md, report.csv, report.tex and the PNG plots into `out_dir`.

    With `analysis` and runs carrying forgetting/sharpness diagnostics, report.md gains the
    section "Generalization vs forgetting and sharpness" (`sweeps.analyze`) and its files.
    """
    if fmt not in ("md", "csv", "latex"):
        raise ValueError(f"fmt: value {fmt!r} is unknown; allowed: md, csv, latex")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmetric, tmode = test_metric(study.metric)
    rows = method_rows(records, study)
    best = _best_method(rows, tmode)
    tables = render_tables(rows, best, study.metric, tmetric, study.baseline)
    verdict = verdict_lines(rows, study.baseline, tmetric, tmode)
    pngs = plots.all_plots(records, study, rows, out_dir)
    md = [f"# Sweep report: {study.name}", "",
          f"Selection: {study.metric} ({study.mode}) on the validation split, search runs only. "
          f"Scores: {tmetric} on the test split over fresh confirm seeds (mean ± std, 95% "
          f"Student-t CI; seeds that diverged or failed are named beside n). Δ vs baseline "
          f"({study.baseline or 'none'}): difference of test means with its 95% CI; p: paired "
          "t-test over the seeds both ran (Welch when fewer than 2 are shared), Holm-corrected "
          "across methods. Bold: the highest test mean (not by itself a significance claim). "
          "Grad evals, device time and runs: all runs.", "",
          tables["md"], "", "## Verdict", "", *[f"- {v}" for v in verdict], ""]
    section, extra = _analysis_md(records, out_dir) if analysis else ([], [])
    md += section + [f"![{p.stem}]({p.name})\n" for p in pngs]
    md.append(_provenance_md(provenance or {}, records))
    files = [out_dir / "report.md", out_dir / "report.csv", out_dir / "report.tex"]
    for path, text in zip(files, ["\n".join(md), tables["csv"], tables["latex"]], strict=True):
        path.write_text(text)
    return ReportResult(tables[fmt], files + pngs + extra, rows, best, verdict)


def _analysis_md(records: Sequence[RunRecord], out_dir: Path) -> tuple[list[str], list[Path]]:
    """The analysis section and its files, when any run has a diagnostic to rank; else none."""
    from sweeps.analyze import analysis_section, analyze_records, write_analysis

    result = analyze_records(records)
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


def git_commit() -> str:
    """The commit of the code that writes the report ("unknown" outside git)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def report_sweep(name: str, storage: str, tracking_uri: str | None, out: str | None,
                 fmt: str) -> str:
    """Write the report files, log them to the parent MLflow run, return the table text."""
    from sweeps.sweep_records import log_to_parent, read_sweep

    sweep = read_sweep(name, storage, tracking_uri)
    out_dir = Path(out) if out else sweep.dir.root / "report"
    provenance = {"git_commit": git_commit(), "study_sha256": sweep.meta.source_sha256,
                  "sweep_id": sweep.meta.sweep_id, "mlflow_parent_run": sweep.parent_run_id,
                  "tracking_uri": sweep.tracking_uri}
    result = build_report(sweep.records, sweep.study, out_dir, fmt, provenance)
    log_to_parent(sweep, result.files, "report")
    return result.table_text + "\n" + "\n".join(result.verdict) + f"\n\nReport files: {out_dir}"
