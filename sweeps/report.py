"""Sweep report: best config per method, mean ± std and 95 % CI over seeds, compute, plots.

Best config of a method = the `group_key` (config without seed) with the best mean final metric
over its completed runs, one per seed (the latest). Only configs with confirm-phase runs compete
when the method has any; their search-phase runs of other seeds count too. Compute (grad evals,
device seconds, runs) is summed over ALL the method's runs.

Example (on a finished sweep)::

    pid, records = load_records("sqlite:///mlflow.db", "tiny")
    res = build_report(records, out_dir=Path("report"), provenance=collect_provenance(pid, records))
    print(res.table_text)
    log_report_to_mlflow("sqlite:///mlflow.db", pid, res.files)
"""

from __future__ import annotations

import csv
import io
import math
import subprocess
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from mlflow.tracking import MlflowClient

from sweeps import plots
from sweeps.records import RunRecord
from sweeps.stats import Summary, summarize

__all__ = [
    "MethodResult", "ReportResult", "best_per_method", "build_report", "collect_provenance",
    "log_report_to_mlflow",
]

Fmt = Literal["md", "csv", "latex"]
HEADERS = ("Method", "Best config", "Mean ± std", "95% CI", "n", "Phase", "Grad evals",
           "Device s", "Runs")


@dataclass(frozen=True)
class MethodResult:
    """One table row. `summary` is None when the method has no completed run."""

    method: str
    group_key: str
    phase: str
    config: dict[str, Any]
    summary: Summary | None
    best_run: RunRecord | None
    runs: int
    statuses: dict[str, int]
    grad_evals: float
    device_seconds: float


@dataclass(frozen=True)
class ReportResult:
    table_text: str
    files: list[Path]
    results: dict[str, MethodResult]
    best_method: str | None


def _varying(runs: Sequence[RunRecord]) -> set[str]:
    """Param names (seed aside) whose values differ among `runs`: the searched ones."""
    keys = {k for r in runs for k in r.params} - {"seed"}
    return {k for k in keys if len({repr(r.params.get(k)) for r in runs}) > 1}


def _better(a: float, b: float, mode: str) -> bool:
    return a > b if mode == "max" else a < b


def best_per_method(records: Sequence[RunRecord], metric: str = "val_acc",
                    mode: str = "max") -> dict[str, MethodResult]:
    """Select each method's best config (see the module docstring) and summarize it."""
    by_method: dict[str, list[RunRecord]] = defaultdict(list)
    for r in records:
        by_method[r.method].append(r)
    out: dict[str, MethodResult] = {}
    for method, runs in by_method.items():
        ok = plots.latest_per_seed(runs, metric)
        confirmed = {r.group_key for r in ok if r.phase == "confirm"}
        phase = "confirm" if confirmed else "search"
        groups: dict[str, list[RunRecord]] = defaultdict(list)
        for r in ok:
            if not confirmed or r.group_key in confirmed:
                groups[r.group_key].append(r)
        key, best, summary = "", None, None
        for gk, g in groups.items():
            s = summarize([r.final[metric] for r in g])
            if summary is None or _better(s.mean, summary.mean, mode) or (
                    s.mean == summary.mean and s.n > summary.n):
                key, summary = gk, s
        if summary is not None:
            pick = max if mode == "max" else min
            best = pick(groups[key], key=lambda r: r.final[metric])
        varying = _varying(runs)
        config = {k: v for k, v in best.params.items() if k in varying} if best else {}
        out[method] = MethodResult(
            method=method, group_key=key, phase=phase if summary else "-", config=config,
            summary=summary, best_run=best, runs=len(runs),
            statuses=dict(Counter(r.status for r in runs)),
            grad_evals=sum(r.grad_evals for r in runs),
            device_seconds=sum(r.device_seconds for r in runs),
        )
    return out


def _fmt_value(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _config_text(cfg: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt_value(v)}" for k, v in sorted(cfg.items())) or "-"


def _runs_text(res: MethodResult) -> str:
    other = {k: v for k, v in sorted(res.statuses.items()) if k != "completed"}
    return f"{res.runs}" + (f" ({', '.join(f'{v} {k}' for k, v in other.items())})" if other
                            else "")


def _cells(res: MethodResult) -> list[str]:
    s = res.summary
    return [
        res.method, _config_text(res.config), s.fmt() if s else "no completed run",
        s.fmt_ci() if s else "n/a", str(s.n if s else 0), res.phase,
        f"{res.grad_evals:,.0f}", f"{res.device_seconds:,.1f}", _runs_text(res),
    ]


def _markdown(results: dict[str, MethodResult], best: str | None, metric: str) -> str:
    head = list(HEADERS)
    head[2] = f"{metric} mean ± std"
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, res in results.items():
        c = _cells(res)
        if name == best:
            c[0], c[2] = f"**{c[0]}**", f"**{c[2]}**"
        lines.append("| " + " | ".join(x.replace("|", "\\|") for x in c) + " |")
    return "\n".join(lines) + "\n"


def _tex(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"),
                 ("#", r"\#"), ("±", r"$\pm$")):
        s = s.replace(a, b)
    return s


def _latex(results: dict[str, MethodResult], best: str | None, metric: str) -> str:
    head = list(HEADERS)
    head[2] = f"{metric} mean ± std"
    lines = [r"\begin{tabular}{ll" + "r" * (len(head) - 2) + "}", r"\hline",
             " & ".join(_tex(h) for h in head) + r" \\", r"\hline"]
    for name, res in results.items():
        c = [_tex(x) for x in _cells(res)]
        if name == best:
            c[0], c[2] = rf"\textbf{{{c[0]}}}", rf"\textbf{{{c[2]}}}"
        lines.append(" & ".join(c) + r" \\")
    lines += [r"\hline", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def _csv(results: dict[str, MethodResult], best: str | None) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["method", "group_key", "phase", "config", "n", "mean", "std", "ci_low", "ci_high",
                "grad_evals", "device_seconds", "runs", "best"])
    for name, res in results.items():
        s = res.summary
        stats = [s.n, s.mean, s.std, s.ci_low, s.ci_high] if s else [0, "", "", "", ""]
        stats = ["" if isinstance(v, float) and math.isnan(v) else v for v in stats]
        w.writerow([name, res.group_key, res.phase, _config_text(res.config), *stats,
                    res.grad_evals, res.device_seconds, res.runs, name == best])
    return buf.getvalue()


def collect_provenance(parent_run_id: str | None, records: Sequence[RunRecord],
                       source_sha256: str | None = None,
                       repo_dir: str | Path = ".") -> dict[str, Any]:
    """Git commit (`git rev-parse HEAD`, None outside git), dirty flag, hashes and run ids."""
    def git(*args: str) -> str | None:
        try:
            p = subprocess.run(["git", *args], cwd=repo_dir, capture_output=True, text=True,
                               timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return p.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain") if commit else None
    return {
        "git_commit": commit,
        "git_dirty": bool(status) if status is not None else None,
        "search_space_sha256": source_sha256,
        "mlflow_parent_run_id": parent_run_id,
        "mlflow_run_ids": [r.run_id for r in records],
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _provenance_md(prov: dict[str, Any], records: Sequence[RunRecord]) -> str:
    lines = ["## Provenance", ""]
    for k, v in prov.items():
        if k != "mlflow_run_ids":
            lines.append(f"- {k}: `{v}`")
    ids: dict[str, list[str]] = defaultdict(list)
    for r in records:
        ids[r.method].append(f"{r.run_id} ({r.phase}, {r.status}, seed {r.seed})")
    if ids:
        lines += ["", "<details><summary>MLflow run ids</summary>", ""]
        for m, rows in ids.items():
            lines += [f"- {m}: " + "; ".join(rows)]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def build_report(records: Sequence[RunRecord], *, out_dir: Path, study_metric: str = "val_acc",
                 mode: Literal["max", "min"] = "max", fmt: Fmt = "md",
                 provenance: dict[str, Any] | None = None) -> ReportResult:
    """Write report.md, report.csv, report.tex and the PNG plots into `out_dir`.

    `table_text` is the table in `fmt`; the best method's entry is bold (`**` / `\\textbf`).
    """
    if fmt not in ("md", "csv", "latex"):
        raise ValueError(f"fmt: value {fmt!r} is unknown; allowed: md, csv, latex")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = best_per_method(records, study_metric, mode)
    ranked = [r for r in results.values() if r.summary is not None]
    best = None
    for r in ranked:
        if best is None or _better(r.summary.mean, results[best].summary.mean, mode):
            best = r.method
    tables = {"md": _markdown(results, best, study_metric),
              "csv": _csv(results, best), "latex": _latex(results, best, study_metric)}
    best_runs = {m: r.best_run for m, r in results.items() if r.best_run is not None}
    pngs = [p for p in (
        plots.plot_metric_vs_rho(records, study_metric, out_dir / "metric_vs_rho.png"),
        plots.plot_rho_pbs_heatmap(records, study_metric, out_dir / "rho_pbs_heatmap.png"),
        plots.plot_metric_vs_compute(records, study_metric, out_dir / "metric_vs_compute.png"),
        plots.plot_learning_curves(best_runs, study_metric, out_dir / "learning_curves.png"),
    ) if p is not None]
    md = [f"# Sweep report: {study_metric} ({mode})", "",
          "Best config per method (confirm-phase runs when present, else search runs); "
          "95% CI: Student t over seeds. Grad evals, device time and runs: all runs.", "",
          tables["md"], ""]
    md += [f"![{p.stem}]({p.name})\n" for p in pngs]
    md.append(_provenance_md(provenance or {}, records))
    files = [out_dir / "report.md", out_dir / "report.csv", out_dir / "report.tex"]
    for path, text in zip(files, ["\n".join(md), tables["csv"], tables["latex"]], strict=True):
        path.write_text(text)
    return ReportResult(tables[fmt], files + pngs, results, best)


def log_report_to_mlflow(tracking_uri: str, parent_run_id: str, files: Sequence[Path]) -> None:
    """Log `files` as artifacts of the sweep's parent run under `report/`."""
    client = MlflowClient(tracking_uri=tracking_uri)
    for f in files:
        client.log_artifact(parent_run_id, str(f), artifact_path="report")
