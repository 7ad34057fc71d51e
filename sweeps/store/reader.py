"""Read a sweep back from MLflow: one `RunRecord` per child run of the sweep's parent.

The parent is found by the sweep's id (`sweep.json`), never by name alone; see `schema`.

Example:
    parent_id, records = load_records("sqlite:///mlflow.db", "tiny", sweep_id="0b5e...")
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
from sweeps.store.schema import Phase, Role, RunStatus, Tag, tag_filter

__all__ = ["RunRecord", "SweepNotTracked", "load_records", "parse_params", "find_parent_run"]


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
    start_time: int = 0
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def full_length(self) -> bool:
        """Completed all its configured epochs."""
        return (self.status == RunStatus.COMPLETED
                and int(self.final.get("epoch", -1)) == int(self.params.get("epochs", -2)))


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


def train_config_of(params: dict[str, Any]) -> TrainConfig:
    """The `TrainConfig` of a run's params (extra run parameters such as `msharp_path` dropped)."""
    return TrainConfig.build({k: v for k, v in params.items() if k in TrainConfig.model_fields})


class SweepNotTracked(LookupError):
    """The tracking store holds no experiment or parent run of the sweep."""


def find_parent_run(client: MlflowClient, sweep_name: str, sweep_id: str) -> Run:
    """The parent run of the sweep with this id (experiment `sweep_name`)."""
    exp = client.get_experiment_by_name(sweep_name)
    if exp is None:
        raise SweepNotTracked(f"sweep {sweep_name!r}: no MLflow experiment of that name")
    runs = client.search_runs([exp.experiment_id], max_results=1,
                              filter_string=tag_filter({Tag.SWEEP_ID: sweep_id,
                                                        Tag.ROLE: Role.PARENT}))
    if not runs:
        raise SweepNotTracked(f"sweep {sweep_name!r}: no parent run with {Tag.SWEEP_ID}={sweep_id}")
    return runs[0]


def _children(client: MlflowClient, experiment_id: str, parent_id: str) -> list[Run]:
    runs: list[Run] = []
    token = None
    while True:
        page = client.search_runs([experiment_id], filter_string=tag_filter({Tag.PARENT: parent_id}),
                                  order_by=["attributes.start_time ASC"], max_results=1000,
                                  page_token=token)
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


def _record(client: MlflowClient, run: Run, with_history: bool = True) -> RunRecord:
    tags = run.data.tags
    params = parse_params(run.data.params)
    history = _history(client, run) if with_history else []
    seed = params.get("seed")
    return RunRecord(
        run_id=run.info.run_id, method=tags.get(Tag.METHOD, "?"),
        phase=tags.get(Tag.PHASE, Phase.SEARCH), status=tags.get(Tag.STATUS) or run.info.status.lower(),
        group_key=tags.get(Tag.GROUP_KEY, ""), seed=int(seed) if isinstance(seed, int) else None,
        params=params, final=dict(run.data.metrics), history=history,
        device_seconds=float(sum(h.get("epoch_seconds", 0.0) for h in history)),
        grad_evals=float(run.data.metrics.get("grad_evals", 0.0)),
        trial_id=tags.get(Tag.TRIAL_ID, ""), start_time=int(run.info.start_time or 0), tags=dict(tags),
    )


def load_records(tracking_uri: str, sweep_name: str, sweep_id: str,
                 history: bool = True) -> tuple[str, list[RunRecord]]:
    """`(parent_run_id, records)` of the sweep; records in start order, with their per-epoch
    metric histories when `history` (one request per run and metric; without it `history` is
    empty and `device_seconds` 0)."""
    client = MlflowClient(tracking_uri=tracking_uri)
    parent = find_parent_run(client, sweep_name, sweep_id)
    runs = _children(client, parent.info.experiment_id, parent.info.run_id)
    return parent.info.run_id, [_record(client, r, history) for r in runs]
