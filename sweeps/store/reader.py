"""Read a sweep back from MLflow: one `schema.RunRecord` per child run of the sweep's parent.

The parent is found by the sweep's id (`sweep.json`), never by name alone; see `schema`.

Example:
    parent_id, records = load_records("sqlite:///mlflow.db", "tiny", sweep_id="0b5e...")
    records[0].method, records[0].final["val_acc"]
    ('sam', 0.93)
"""

from __future__ import annotations

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from sweeps.errors import SweepNotTracked
from sweeps.store.schema import Phase, Role, RunRecord, Tag, parse_params, tag_filter
from sweeps.store.tracking_uri import connect_uri

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
    client = MlflowClient(tracking_uri=connect_uri(tracking_uri))
    parent = find_parent_run(client, sweep_name, sweep_id)
    runs = _children(client, parent.info.experiment_id, parent.info.run_id)
    return parent.info.run_id, [_record(client, r, history) for r in runs]
