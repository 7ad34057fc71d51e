"""`sweep status` and `sweep best`: read a sweep's runs back from MLflow.

Example:
    print(format_status(study, "sqlite:///mlflow.db", "tiny"))
"""

from __future__ import annotations

from collections import Counter

import yaml

from samtrain.config import TrainConfig
from sweeps.records import RunRecord, load_records
from sweeps.runner import SweepError
from sweeps.space import StudySpec


def best_runs(study: StudySpec, records: list[RunRecord]) -> dict[str, RunRecord]:
    """The best run of each method by the study's metric (finished, full-length runs first)."""
    sign = 1.0 if study.mode == "max" else -1.0
    best: dict[str, RunRecord] = {}
    for r in records:
        value = r.final.get(study.metric)
        if value is None or r.status in ("failed", "running", "diverged"):
            continue
        cur = best.get(r.method)
        if cur is None or _rank(r, study, sign) > _rank(cur, study, sign):
            best[r.method] = r
    return best


def _rank(r: RunRecord, study: StudySpec, sign: float) -> tuple[int, float]:
    return (1 if r.status == "completed" else 0, sign * r.final[study.metric])


def format_status(study: StudySpec, tracking_uri: str, name: str) -> str:
    """Trials by state (per method and phase) and the best so far per method."""
    _, records = load_records(tracking_uri, name)
    lines = [f"sweep {name!r}: {len(records)} runs; metric {study.metric} ({study.mode})"]
    counts = Counter((r.method, r.phase, r.status) for r in records)
    for method in study.methods:
        for phase in ("search", "confirm"):
            by_state = {s: n for (m, p, s), n in counts.items() if m == method and p == phase}
            if by_state or phase == "search":
                expected = f"/{study.trials_of(method)}" if phase == "search" else ""
                done = sum(by_state.values())
                states = ", ".join(f"{s} {n}" for s, n in sorted(by_state.items())) or "none yet"
                lines.append(f"  {method:<12} {phase:<8} {done}{expected}: {states}")
    lines.append("best so far:")
    best = best_runs(study, records)
    for method in study.methods:
        r = best.get(method)
        if r is None:
            lines.append(f"  {method:<12} -")
            continue
        keys = sorted(study.methods[method].space)
        shown = ", ".join(f"{k}={r.params.get(k)!r}" for k in keys)
        lines.append(f"  {method:<12} {study.metric}={r.final[study.metric]:.4f} "
                     f"(epoch {int(r.final.get('epoch', 0))}, {r.status}) {shown}")
    return "\n".join(lines)


def best_config_yaml(study: StudySpec, tracking_uri: str, name: str, method: str | None) -> str:
    """The best TrainConfig (overall, or of `method`) as YAML, ready for `sweep train`."""
    if method is not None and method not in study.methods:
        raise SweepError(f"--method: value {method!r} is unknown; allowed: "
                         f"{', '.join(study.methods)}")
    _, records = load_records(tracking_uri, name)
    best = best_runs(study, records)
    if method is not None:
        best = {method: best[method]} if method in best else {}
    if not best:
        raise SweepError(f"sweep {name!r} has no finished run{' of ' + method if method else ''} yet")
    sign = 1.0 if study.mode == "max" else -1.0
    r = max(best.values(), key=lambda rec: _rank(rec, study, sign))
    cfg = TrainConfig.build(r.params)
    header = (f"# best {r.method} run of sweep {name!r}: {study.metric}="
              f"{r.final[study.metric]:.4f} (MLflow run {r.run_id})\n")
    return header + yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
