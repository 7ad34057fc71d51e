"""Read a sweep back from MLflow: one `schema.RunRecord` per child run of the sweep's parent.

A run logs only the params that act on it (`TrainConfig.applied_params`); its record holds every
`TrainConfig` field again (the others at their defaults, or from its `config.json` where a field
that did not act was set to another value).

The parent is found by the sweep's id (`sweep.json`), never by name alone; see `schema`.

Example:
    parent_id, records = load_records("sqlite:///mlflow.db", "tiny", sweep_id="0b5e...")
    records[0].method, records[0].final["val_acc"]
    ('sam', 0.93)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from samtrain.config.train_config import TrainConfig
from samtrain.errors import ConfigError
from sweeps.errors import SweepNotTracked
from sweeps.store.phase import Phase
from sweeps.store.schema import (
    CONFIG_ARTIFACT,
    Role,
    RunRecord,
    Tag,
    parse_params,
    tag_filter,
    train_config_of,
    with_defaults,
)

__all__ = ["load_records", "find_parent_run"]


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


def _params(client: MlflowClient, run: Run) -> dict[str, Any]:
    """The run's params, the fields it did not log at their defaults; where that is not the
    run's config (a field that did not act was set to another value: its `group_key` differs),
    the fields come from its `config.json`."""
    params = with_defaults(parse_params(run.data.params))
    key = run.data.tags.get(Tag.GROUP_KEY)
    try:
        if not key or train_config_of(params).group_key() == key:
            return params
        path = client.download_artifacts(run.info.run_id, CONFIG_ARTIFACT)
        return {**params, **TrainConfig(**json.loads(Path(path).read_text())).model_dump()}
    except (ConfigError, OSError, ValueError, MlflowException):
        return params  # a run of older code, or one without the artifact: as logged


def _record(client: MlflowClient, run: Run, with_history: bool = True) -> RunRecord:
    tags = run.data.tags
    params = _params(client, run)
    history = _history(client, run) if with_history else []
    seed = params.get("seed")
    return RunRecord(
        run_id=run.info.run_id, method=tags.get(Tag.METHOD, "?"),
        phase=tags.get(Tag.PHASE, Phase.SEARCH), status=tags.get(Tag.STATUS) or run.info.status.lower(),
        group_key=tags.get(Tag.GROUP_KEY, ""), seed=int(seed) if isinstance(seed, int) else None,
        params=params, final=dict(run.data.metrics), history=history,
        device_seconds=float(run.data.metrics.get(
            "device_seconds", sum(h.get("epoch_seconds", 0.0) for h in history))),
        grad_evals=float(run.data.metrics.get("grad_evals", 0.0)),
        trial_id=tags.get(Tag.TRIAL_ID, ""), start_time=int(run.info.start_time or 0), tags=dict(tags),
    )


def load_records(tracking_uri: str, sweep_name: str, sweep_id: str,
                 history: bool = True) -> tuple[str, list[RunRecord]]:
    """`(parent_run_id, records)` of the sweep; records in start order, with their per-epoch
    metric histories when `history` (one request per run and metric; without it `history` is
    empty, and `device_seconds` 0 for runs that did not log the `device_seconds` metric)."""
    client = MlflowClient(tracking_uri=tracking_uri)
    parent = find_parent_run(client, sweep_name, sweep_id)
    runs = _children(client, parent.info.experiment_id, parent.info.run_id)
    return parent.info.run_id, [_record(client, r, history) for r in runs]
