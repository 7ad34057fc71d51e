"""Read a sweep back from MLflow: one `RunRecord` per child (trial) run of the sweep's parent run.

Schema written by the sweep's tracking code (experiment name = sweep name):
  * parent run: tags `sweep.name`, `sweep.role="parent"`;
  * child runs: tags `mlflow.parentRunId`, `sweep.name`, `sweep.role="child"`, `method`,
    `group_key`, `trial_id`, `phase` (search|confirm), `status`
    (completed|pruned|diverged|failed|running); params = `TrainConfig.flat_params()`; per-epoch
    metrics with `step=epoch` (val_acc, epoch_seconds, grad_evals (cumulative), ...).

Example:
    parent_id, records = load_records("sqlite:///mlflow.db", "tiny")
    records[0].method, records[0].final["val_acc"]
    ('sam', 0.93)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import yaml
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from pydantic import TypeAdapter, ValidationError

from samtrain.config import TrainConfig

__all__ = ["RunRecord", "load_records", "parse_params", "find_parent_run"]

PHASES = ("search", "confirm")
STATUSES = ("completed", "pruned", "diverged", "failed", "running")


@dataclass
class RunRecord:
    """One trial run: tags, typed params, last metric values and per-epoch history."""

    run_id: str
    method: str
    phase: str
    status: str
    group_key: str
    seed: int | None
    params: dict[str, Any]
    final: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    device_seconds: float = 0.0
    grad_evals: float = 0.0
    trial_id: str = ""

    def metric(self, name: str) -> float | None:
        """The last value of metric `name`, or None if it was never logged."""
        return self.final.get(name)


@cache
def _adapter(name: str) -> TypeAdapter[Any]:
    return TypeAdapter(TrainConfig.model_fields[name].annotation)


def parse_params(raw: dict[str, str]) -> dict[str, Any]:
    """MLflow's string params -> Python values, typed by the `TrainConfig` field of each name.

    Unknown names are parsed as YAML scalars; `"None"` is None.

    >>> parse_params({"rho": "0.05", "perturb_batch_size": "None", "model": "small_cnn"})
    {'rho': 0.05, 'perturb_batch_size': None, 'model': 'small_cnn'}
    """
    out: dict[str, Any] = {}
    for k, s in raw.items():
        if s == "None":
            out[k] = None
            continue
        try:
            loaded = yaml.safe_load(s)
        except yaml.YAMLError:
            loaded = s
        if k not in TrainConfig.model_fields:
            out[k] = loaded
            continue
        for candidate in (s, loaded):  # "small_cnn" as str; "[3, 32, 32]" via YAML
            try:
                out[k] = _adapter(k).validate_python(candidate)
                break
            except ValidationError:
                continue
        else:
            out[k] = loaded
    return out


def find_parent_run(client: MlflowClient, sweep_name: str) -> Run:
    """The newest parent run of `sweep_name` (experiment of the same name)."""
    exp = client.get_experiment_by_name(sweep_name)
    if exp is None:
        raise LookupError(f"sweep {sweep_name!r}: no MLflow experiment of that name")
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`sweep.role` = 'parent' and tags.`sweep.name` = '{sweep_name}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        raise LookupError(f"sweep {sweep_name!r}: no parent run (tag sweep.role='parent')")
    return runs[0]


def _children(client: MlflowClient, experiment_id: str, parent_id: str) -> list[Run]:
    runs: list[Run] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}'",
            order_by=["attributes.start_time ASC"],
            max_results=1000,
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _history(client: MlflowClient, run: Run) -> list[dict[str, float]]:
    by_step: dict[int, dict[str, float]] = {}
    for key in sorted(run.data.metrics):
        for m in client.get_metric_history(run.info.run_id, key):
            by_step.setdefault(m.step, {"epoch": float(m.step)})[key] = m.value
    return [by_step[s] for s in sorted(by_step)]


def _record(client: MlflowClient, run: Run) -> RunRecord:
    tags = run.data.tags
    params = parse_params(run.data.params)
    history = _history(client, run)
    seed = params.get("seed")
    status = tags.get("status") or run.info.status.lower()
    return RunRecord(
        run_id=run.info.run_id,
        method=tags.get("method", "?"),
        phase=tags.get("phase", "search"),
        status=status,
        group_key=tags.get("group_key", ""),
        seed=int(seed) if isinstance(seed, int) else None,
        params=params,
        final=dict(run.data.metrics),
        history=history,
        device_seconds=float(sum(h.get("epoch_seconds", 0.0) for h in history)),
        grad_evals=float(run.data.metrics.get("grad_evals", 0.0)),
        trial_id=tags.get("trial_id", ""),
    )


def load_records(tracking_uri: str, sweep_name: str,
                 parent_run_id: str | None = None) -> tuple[str, list[RunRecord]]:
    """`(parent_run_id, records)` of the sweep's newest parent run (or of `parent_run_id`).

    Records come in start order; metric histories are read with `get_metric_history`.
    """
    client = MlflowClient(tracking_uri=tracking_uri)
    if parent_run_id is None:
        parent = find_parent_run(client, sweep_name)
    else:
        parent = client.get_run(parent_run_id)
    pid = parent.info.run_id
    runs = _children(client, parent.info.experiment_id, pid)
    return pid, [_record(client, r) for r in runs]
