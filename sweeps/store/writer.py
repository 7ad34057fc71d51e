"""`SweepWriter`: writes a sweep's parent and child runs to MLflow (the schema in `schema`).

Every call is idempotent where MLflow allows it, so that a retried call (after a crash, or from
the tracking outbox) leaves no duplicate: the parent and each child are found by their tags
before being created, tags and equal params may be set again, and a metric logged again with the
same step and timestamp is stored once. A child's params are the ones that act on its run
(`run_params`), its whole resolved config the artifact `config.json`. Each run gets the launching
driver's provenance (`environment`: `sweeps.store.provenance`) once: the tags `mlflow.source.git.commit` and
`git_dirty` and the artifact `environment.json`; a run found again keeps what it has.

Example:
    w = SweepWriter("sqlite:////tmp/doc-mlflow.db", "doc-sweep", sweep_id="0b5e...")
    parent = w.open_parent()
    cfg = TrainConfig()
    run_id = w.child("t1", "sam", "search", cfg.model_dump(mode="json"), cfg.group_key(),
                     environment=launch_environment())
    w.log_epoch(run_id, {"epoch": 1, "val_acc": 0.5}, timestamp_ms=1700000000000)
    w.finish(run_id, "completed")    # MLflow state FINISHED; pruned: KILLED; diverged: FAILED
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from samtrain.config.train_config import TrainConfig
from sweeps.store.phase import Phase
from sweeps.store.provenance import provenance_tags
from sweeps.store.schema import (
    CONFIG_ARTIFACT,
    ENVIRONMENT_ARTIFACT,
    MLFLOW_STATE,
    RUN_PARAMS,
    Role,
    RunStatus,
    Tag,
    result_metrics,
    tag_filter,
)
from sweeps.store.tracking_uri import refuse_secrets


def param_values(train_config: dict[str, Any]) -> list[Param]:
    """A `TrainConfig` (as JSON) as MLflow params, one per field (None as "None", mappings and
    lists as JSON).

    >>> [(p.key, p.value) for p in param_values({"rho": 0.05, "perturb_batch_size": None,
    ...                                          "model_kwargs": {"width": 8, "bias": True}})]
    [('rho', '0.05'), ('perturb_batch_size', 'None'), ('model_kwargs', '{"bias": true, "width": 8}')]
    """
    return [Param(k, "None" if v is None else json.dumps(v, sort_keys=True)
                  if isinstance(v, dict | list) else str(v)) for k, v in train_config.items()]


def run_params(method: str, train_config: dict[str, Any]) -> list[Param]:
    """A trial's MLflow params: its method and the `TrainConfig` fields that act on it
    (`TrainConfig.applied_params`: no `rho` on a plain SGD run, no `obf_*` on a SAM run).

    >>> sorted(p.key for p in run_params("sgd", {"perturbation": "none", "rho": 0.05}))[:4]
    ['amp', 'batch_size', 'channels_last', 'data_dir']
    >>> any(p.key == "rho" for p in run_params("sgd", {"perturbation": "none"}))
    False
    """
    applied = TrainConfig(**train_config).applied_params()
    return [Param("method", method), *param_values(applied)]


def sqlite_artifact_root(tracking_uri: str) -> str | None:
    """Artifacts of a sqlite store live beside its file (`mlartifacts/`); None for servers."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    db = Path(tracking_uri.removeprefix("sqlite:///"))
    return (db.parent / "mlartifacts").resolve().as_uri()


@dataclass(frozen=True)
class MLflowTarget:
    """Where a sweep's runs go: tracking URI, experiment (= sweep) name, sweep id; `writer()`
    makes the `SweepWriter` (in the process that writes: it holds a client); `project_source`
    names the study file whose git repository is recorded as the runs' project
    (`sweeps.store.provenance`). Its URI holds no password (`refuse_secrets`: Tune pickles it
    with the MLflow callback into the experiment state)."""

    tracking_uri: str
    sweep_name: str
    sweep_id: str
    parent: bool = True
    source_file: str | None = None
    project_source: str | None = None  # the user's study file: its repository is the project

    def __post_init__(self) -> None:
        refuse_secrets(self.tracking_uri, "tracking_uri")

    def writer(self) -> SweepWriter:
        return SweepWriter(self.tracking_uri, self.sweep_name, self.sweep_id, parent=self.parent)


class SweepWriter:
    """Parent/child MLflow runs of one sweep (`parent=False`: lone runs, e.g. `sweep train`)."""

    def __init__(self, tracking_uri: str, sweep_name: str, sweep_id: str, parent: bool = True):
        refuse_secrets(tracking_uri, "tracking_uri")  # passwords come from the environment
        self.tracking_uri = tracking_uri
        # MLflow prints "View run ... at: <server URL>" for every run a server ends: two lines per
        # trial in the sweep's output
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        self.client = MlflowClient(self.tracking_uri)
        self.sweep_name, self.sweep_id = sweep_name, sweep_id
        self.use_parent = parent
        self.experiment_id = self._experiment()
        self.parent_run_id: str | None = None

    def _experiment(self) -> str:
        exp = self.client.get_experiment_by_name(self.sweep_name)
        if exp is not None:
            return exp.experiment_id
        return self.client.create_experiment(
            self.sweep_name, artifact_location=sqlite_artifact_root(self.tracking_uri))

    def find(self, **tags: str) -> list[Any]:
        """This sweep's runs carrying every `tag=value` of `tags` (keys as in `Tag` values)."""
        flt = tag_filter({Tag.SWEEP_ID: self.sweep_id, **tags})
        return self.client.search_runs([self.experiment_id], filter_string=flt, max_results=10000)

    def _provenance(self, run: Any, environment: dict[str, Any] | None, new: bool,
                    config: dict[str, Any] | None = None) -> None:
        """Add what `run` (an MLflow `Run`; `new`: just created with the tags) lacks of
        `environment`'s tags and artifact, and of `config` (the run's full resolved
        `TrainConfig`) as `config.json`; what it has stays (a run created by another driver, or
        before a crash, keeps that driver's commit and environment)."""
        files = {name: value for name, value in ((ENVIRONMENT_ARTIFACT, environment),
                                                 (CONFIG_ARTIFACT, config)) if value is not None}
        if not files:
            return
        run_id, have = run.info.run_id, run.data.tags
        missing = {k: v for k, v in provenance_tags(environment or {}).items() if k not in have}
        if missing and not new:
            self.set_tags(run_id, missing)
        logged = set() if new else {a.path for a in self.client.list_artifacts(run_id)}
        for name, value in files.items():
            if name not in logged:
                self.client.log_dict(run_id, value, name)

    def open_parent(self, source_file: str | Path | None = None, fail_leftovers: bool = True,
                    environment: dict[str, Any] | None = None) -> str | None:
        """Find or create the parent run; with `fail_leftovers` (at a driver's start: nothing of
        its own runs yet) mark children left RUNNING by a crashed driver as failed."""
        for run in self.find(**{Tag.ROLE: Role.CHILD}) if fail_leftovers else []:
            if run.info.status == "RUNNING":
                self.client.set_tag(run.info.run_id, Tag.STATUS, RunStatus.FAILED)
                self.client.set_terminated(run.info.run_id, "FAILED")
        if not self.use_parent:
            return None
        found = self.find(**{Tag.ROLE: Role.PARENT})
        if found:
            self.parent_run_id = found[0].info.run_id
            self.client.update_run(self.parent_run_id, status="RUNNING")
            self._provenance(found[0], environment, new=False)
            return self.parent_run_id
        tags = {Tag.SWEEP: self.sweep_name, Tag.SWEEP_ID: self.sweep_id, Tag.ROLE: Role.PARENT,
                **provenance_tags(environment or {})}
        run = self.client.create_run(self.experiment_id, run_name=self.sweep_name,
                                     tags={str(k): str(v) for k, v in tags.items()})
        self.parent_run_id = run.info.run_id
        if source_file is not None:
            self.client.log_artifact(self.parent_run_id, str(source_file))
        self._provenance(run, environment, new=True)
        return self.parent_run_id

    def close(self, state: str = "FINISHED") -> None:
        if self.parent_run_id:
            self.client.set_terminated(self.parent_run_id, state)

    def child(self, trial_id: str, method: str, phase: str, train_config: dict[str, Any],
              group_key: str, node_id: str | None = None,
              environment: dict[str, Any] | None = None) -> str:
        """The run of this trial: reused when it exists (resume, retry), else created; its
        params are `run_params` (the method and the fields that act on it), the whole
        `TrainConfig` (as JSON) its artifact `config.json`, `environment` its provenance (once)."""
        params = run_params(method, train_config)
        found = self.find(**{Tag.TRIAL_ID: trial_id})
        if found:  # params again too: equal values are a no-op, and a crash may have lost them
            run_id = found[0].info.run_id
            self.client.update_run(run_id, status="RUNNING")
            tags = {Tag.STATUS: RunStatus.RUNNING, **({Tag.NODE_ID: node_id} if node_id else {})}
            self.client.log_batch(run_id, params=params,
                                  tags=[RunTag(k, str(v)) for k, v in tags.items()])
            self._provenance(found[0], environment, new=False, config=train_config)
            return run_id
        tags = {Tag.SWEEP: self.sweep_name, Tag.SWEEP_ID: self.sweep_id,
                Tag.ROLE: Role.CHILD if self.use_parent else Role.SINGLE, Tag.METHOD: method,
                Tag.GROUP_KEY: group_key, Tag.TRIAL_ID: trial_id, Tag.PHASE: phase,
                Tag.STATUS: RunStatus.RUNNING, **provenance_tags(environment or {})}
        if node_id:
            tags[Tag.NODE_ID] = node_id
        if self.parent_run_id:
            tags[Tag.PARENT] = self.parent_run_id
        run = self.client.create_run(self.experiment_id, run_name=f"{method}-{trial_id}",
                                     tags={str(k): str(v) for k, v in tags.items()})
        self.client.log_batch(run.info.run_id, params=params)
        self._provenance(run, environment, new=True, config=train_config)
        return run.info.run_id

    def delete_orphans(self, phase: Phase, known_trial_ids: set[str]) -> int:
        """Delete the runs of `phase` whose trial the resumed experiment does not know (it runs
        them again under new trial ids)."""
        runs = self.find(**{Tag.PHASE: phase, Tag.ROLE: Role.CHILD})
        orphans = [r for r in runs if r.data.tags.get(Tag.TRIAL_ID) not in known_trial_ids]
        for r in orphans:
            self.client.delete_run(r.info.run_id)
        return len(orphans)

    def log_epoch(self, run_id: str, result: dict[str, Any], timestamp_ms: int | None = None) -> None:
        """Every numeric value of `result` as a metric (step = epoch); `run_params` as params.

        A run parameter is recorded once: a restored run reports its own (e.g. a new timing) and
        the first value stays (MLflow params are immutable).
        """
        self.log_epochs(run_id, [(result, timestamp_ms)])

    def log_epochs(self, run_id: str, epochs: list[tuple[dict[str, Any], int | None]]) -> None:
        """`log_epoch` of several `(result, timestamp_ms)` of one run, in one request."""
        metrics: list[Metric] = []
        run_params: dict[str, Any] = {}
        for result, timestamp_ms in epochs:
            step = int(result.get("epoch", 0))
            now = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
            metrics += [Metric(k, v, now, step) for k, v in result_metrics(result).items()]
            for k, v in (result.get(RUN_PARAMS) or {}).items():
                run_params.setdefault(k, v)
        params: list[Param] = []
        if run_params:
            have = self.client.get_run(run_id).data.params
            params = [Param(k, str(v)) for k, v in run_params.items() if k not in have]
        if metrics or params:
            self.client.log_batch(run_id, metrics=metrics, params=params)

    def finish(self, run_id: str, status: RunStatus | str, checkpoint_dir: str | None = None) -> None:
        """Tag the final `status` and end the run in MLflow's matching state (`MLFLOW_STATE`)."""
        status = RunStatus(status)
        if checkpoint_dir and Path(checkpoint_dir).is_dir():
            self.client.log_artifacts(run_id, checkpoint_dir, artifact_path="checkpoint")
        self.client.log_batch(run_id, tags=[RunTag(Tag.STATUS, status.value)])
        self.client.set_terminated(run_id, MLFLOW_STATE.get(status, "FINISHED"))

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self.client.log_batch(run_id, tags=[RunTag(str(k), str(v)) for k, v in tags.items()])

    def log_artifacts(self, files: list[Path], artifact_path: str) -> None:
        """Log `files` to the parent run under `artifact_path` (e.g. the report)."""
        for f in files:
            self.client.log_artifact(self.parent_run_id, str(f), artifact_path=artifact_path)
