"""`sweep confirm` (seed re-runs of the best configs) and `sweep report` (tables and plots).

The seed is its own axis, never tuned: a cell is `(group_key, seed)`, and a cell counts as
filled by any completed full-length run of that config and seed (the search trial of the
study's seed included). Re-running `confirm` fills only missing or failed cells.

Example:
    $ sweep confirm tiny --top 1 --seeds 3
    $ sweep report tiny --format latex
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from samtrain.config import TrainConfig
from sweeps.records import RunRecord, load_records
from sweeps.runner import open_sweep, run_configs
from sweeps.space import StudySpec


def top_configs(study: StudySpec, records: list[RunRecord], top: int) -> dict[str, list[TrainConfig]]:
    """The `top` best distinct configs (by group_key) of each method, by the search metric."""
    sign = 1.0 if study.mode == "max" else -1.0
    out: dict[str, list[TrainConfig]] = {}
    for method in study.methods:
        best: dict[str, tuple[float, RunRecord]] = {}
        for r in records:
            v = r.final.get(study.metric)
            if r.method != method or v is None or r.status not in ("completed", "pruned"):
                continue
            score = sign * v + (1e9 if r.status == "completed" else 0.0)
            if r.group_key not in best or score > best[r.group_key][0]:
                best[r.group_key] = (score, r)
        ranked = sorted(best.values(), key=lambda t: -t[0])[:top]
        out[method] = [TrainConfig.build(r.params) for _, r in ranked]
    return out


def missing_cells(study: StudySpec, records: list[RunRecord], top: int, seeds: int
                  ) -> list[tuple[str, TrainConfig, str]]:
    """`(method, cfg, "confirm")` for every (config, seed) without a completed full-length run."""
    done = {(r.group_key, r.seed) for r in records
            if r.status == "completed" and int(r.final.get("epoch", -1)) == int(r.params["epochs"])}
    trials = []
    for method, configs in top_configs(study, records, top).items():
        for cfg in configs:
            for seed in range(study.seed, study.seed + seeds):
                if (cfg.group_key(), seed) not in done:
                    trials.append((method, cfg.model_copy(update={"seed": seed}), "confirm"))
    return trials


def confirm_sweep(name: str, storage: str, tracking_uri: str | None, top: int, seeds: int | None,
                  address: str | None = None) -> int:
    """Run the missing cells; returns how many runs were started.

    `seeds` None: the study's `confirm_seeds`, else 3.
    """
    study, meta, paths = open_sweep(name, storage)
    seeds = seeds or study.confirm_seeds or 3
    uri = tracking_uri or meta["tracking_uri"]
    _, records = load_records(uri, name)
    trials = missing_cells(study, records, top, seeds)
    if not trials:
        print(f"sweep {name!r}: every confirm cell is filled ({top} configs x {seeds} seeds)")
        return 0
    k = len(list(paths.root.glob("confirm-*")))
    print(f"sweep {name!r}: running {len(trials)} confirm runs")
    run_configs(name, f"confirm-{k}", storage, uri, trials, study.resources, address=address)
    return len(trials)


def report_sweep(name: str, storage: str, tracking_uri: str | None, out: str | None,
                 fmt: str) -> str:
    """Write the report files, log them to the parent MLflow run, return the table text."""
    from sweeps.report import build_report, log_report_to_mlflow

    study, meta, paths = open_sweep(name, storage)
    uri = tracking_uri or meta["tracking_uri"]
    parent_id, records = load_records(uri, name)
    out_dir = Path(out) if out else paths.root / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    provenance = {"git_commit": _git_commit(), "search_space_sha256": study.source_sha256,
                  "mlflow_parent_run": parent_id, "tracking_uri": uri}
    result = build_report(records, study_metric=study.metric, mode=study.mode, out_dir=out_dir,
                          fmt=fmt, provenance=provenance)
    log_report_to_mlflow(uri, parent_id, result.files)
    return result.table_text + f"\n\nReport files: {out_dir}"


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
