"""MLflow tracking for sweeps: one parent run per sweep, one nested child run per trial.

Stock Ray Tune logs flat runs; here the parent holds the search-space file and every trial is a
child (`mlflow.parentRunId`) with the full `TrainConfig` as params, per-epoch metrics (step =
epoch) and tags `method`, `group_key`, `trial_id`, `phase` and `status` (completed | pruned |
diverged | failed | running). All logging happens in the driver, from rank-0 metrics only.
Runs left RUNNING by a crash are marked FAILED by `SweepTracker.open`, and a restarted trial
reuses its run, so a resumed sweep has no duplicates.

Example:
    t = SweepTracker("sqlite:////tmp/doc-mlflow.db", "doc-sweep")
    parent = t.open()
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from ray import tune

from samtrain.config import TrainConfig
from sweeps.space import StudySpec
from sweeps.trial import resolve_trial

METRIC_KEYS = ("epoch", "train_loss", "train_acc", "perturb_loss", "val_loss", "val_acc", "lr",
               "rho", "epoch_seconds", "images_per_second", "grad_evals", "startup_seconds")
FINAL_STATUSES = ("completed", "pruned", "diverged", "failed")
_MLFLOW_STATUS = {"completed": "FINISHED", "pruned": "FINISHED", "diverged": "FINISHED",
                  "failed": "FAILED", "killed": "KILLED"}


def default_tracking_uri() -> str:
    """A sqlite file in the working directory (MLflow's file store is deprecated)."""
    return f"sqlite:///{Path.cwd() / 'mlflow.db'}"


class SweepTracker:
    """Parent/child MLflow runs of one sweep (or a lone run when `parent=False`)."""

    def __init__(self, tracking_uri: str, sweep_name: str, parent: bool = True):
        self.client = MlflowClient(tracking_uri)
        self.tracking_uri = tracking_uri
        self.sweep_name = sweep_name
        self.use_parent = parent
        self.experiment_id = self._experiment()
        self.parent_run_id: str | None = None

    def _experiment(self) -> str:
        exp = self.client.get_experiment_by_name(self.sweep_name)
        if exp is not None:
            return exp.experiment_id
        artifacts = None
        if self.tracking_uri.startswith("sqlite:///"):
            db = Path(self.tracking_uri.removeprefix("sqlite:///"))
            artifacts = (db.parent / "mlartifacts").resolve().as_uri()
        return self.client.create_experiment(self.sweep_name, artifact_location=artifacts)

    def _search(self, extra_filter: str) -> list[Any]:
        flt = f"tags.`sweep.name` = '{self.sweep_name}'" + (f" and {extra_filter}" if extra_filter else "")
        return self.client.search_runs([self.experiment_id], filter_string=flt, max_results=10000)

    def open(self, source_file: str | Path | None = None, tags: dict[str, str] | None = None) -> str | None:
        """Find or create the parent run; mark children left RUNNING by a crash as FAILED."""
        for run in self._search("attributes.status = 'RUNNING' and tags.`sweep.role` = 'child'"):
            self.client.set_tag(run.info.run_id, "status", "failed")
            self.client.set_terminated(run.info.run_id, "FAILED")
        if not self.use_parent:
            return None
        found = self._search("tags.`sweep.role` = 'parent'")
        if found:
            self.parent_run_id = found[0].info.run_id
            self.client.update_run(self.parent_run_id, status="RUNNING")
        else:
            run = self.client.create_run(self.experiment_id, run_name=self.sweep_name, tags={
                "sweep.name": self.sweep_name, "sweep.role": "parent", **(tags or {})})
            self.parent_run_id = run.info.run_id
            if source_file is not None:
                self.client.log_artifact(self.parent_run_id, str(source_file))
        return self.parent_run_id

    def close(self, status: str = "FINISHED") -> None:
        if self.parent_run_id:
            self.client.set_terminated(self.parent_run_id, status)

    def child(self, trial_id: str, method: str, cfg: TrainConfig, phase: str) -> str:
        """The run of this trial: reused when it exists (resume), else created with params and tags."""
        found = self._search(f"tags.trial_id = '{trial_id}'")
        if found:
            run_id = found[0].info.run_id
            self.client.update_run(run_id, status="RUNNING")
            self.client.set_tag(run_id, "status", "running")
            return run_id
        tags = {"sweep.name": self.sweep_name, "sweep.role": "child", "method": method,
                "group_key": cfg.group_key(), "trial_id": trial_id, "phase": phase,
                "status": "running"}
        if self.parent_run_id:
            tags["mlflow.parentRunId"] = self.parent_run_id
        run = self.client.create_run(self.experiment_id, run_name=f"{method}-{trial_id}", tags=tags)
        params = [Param(k, str(v)) for k, v in cfg.flat_params().items()]
        self.client.log_batch(run.info.run_id, params=params)
        return run.info.run_id

    def delete_orphans(self, phase: str, known_trial_ids: set[str]) -> int:
        """Delete unfinished runs of `phase` whose trial the resumed experiment does not know."""
        runs = self._search(f"tags.phase = '{phase}' and tags.`sweep.role` = 'child'")
        orphans = [r for r in runs if r.data.tags.get("trial_id") not in known_trial_ids
                   and r.info.status != "FINISHED"]
        for r in orphans:
            self.client.delete_run(r.info.run_id)
        return len(orphans)

    def log_epoch(self, run_id: str, result: dict[str, Any]) -> None:
        step = int(result.get("epoch", 0))
        now = int(time.time() * 1000)
        metrics = [Metric(k, float(result[k]), now, step) for k in METRIC_KEYS
                   if isinstance(result.get(k), int | float) and not isinstance(result.get(k), bool)]
        if metrics:
            self.client.log_batch(run_id, metrics=metrics)

    def finish(self, run_id: str, status: str, checkpoint_dir: str | None = None) -> None:
        if checkpoint_dir and Path(checkpoint_dir).is_dir():
            self.client.log_artifacts(run_id, checkpoint_dir, artifact_path="checkpoint")
        self.client.log_batch(run_id, tags=[RunTag("status", status)])
        self.client.set_terminated(run_id, _MLFLOW_STATUS.get(status, "FINISHED"))


class MLflowTrialCallback(tune.Callback):
    """Driver-side MLflow logging: a child run per trial under the sweep's parent run.

    Picklable (Tune stores it with the experiment for `Tuner.restore`): `setup` starts opening the
    MLflow store in a thread, and the first event that logs waits for it.
    """

    def __init__(self, tracking_uri: str, sweep_name: str, parent: bool = True,
                 study: StudySpec | None = None, log_checkpoints: bool = False,
                 source_file: str | None = None):
        self.tracking_uri, self.sweep_name, self.parent = tracking_uri, sweep_name, parent
        self.study = study
        self.log_checkpoints, self.source_file = log_checkpoints, source_file
        self._tracker: SweepTracker | None = None
        self._opening: Future[SweepTracker] | None = None
        self._runs: dict[str, tuple[str, TrainConfig]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_tracker": None, "_opening": None, "_runs": {}}

    def _open(self) -> SweepTracker:
        tracker = SweepTracker(self.tracking_uri, self.sweep_name, parent=self.parent)
        tracker.open(self.source_file)
        return tracker

    @property
    def tracker(self) -> SweepTracker:
        if self._tracker is None:
            opening, self._opening = self._opening, None
            self._tracker = opening.result() if opening is not None else self._open()
        return self._tracker

    def setup(self, **info: Any) -> None:
        # Opening a fresh sqlite store takes about a second: do it while the first trial
        # processes start (benchmarks/RESULTS.md, P3); the first use waits (and raises its error).
        if self._tracker is not None or self._opening is not None:
            return
        pool = ThreadPoolExecutor(1, thread_name_prefix="mlflow-open")
        self._opening = pool.submit(self._open)
        pool.shutdown(wait=False)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        method, phase, cfg = resolve_trial(trial.config, self.study)
        self._runs[trial.trial_id] = (self.tracker.child(trial.trial_id, method, cfg, phase), cfg)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        if trial.trial_id not in self._runs:
            self.on_trial_start(iteration, trials, trial)
        self.tracker.log_epoch(self._runs[trial.trial_id][0], result)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if trial.trial_id not in self._runs:
            return
        run_id, cfg = self._runs.pop(trial.trial_id)
        last = trial.last_result or {}
        status = last.get("status", "failed")
        if status == "running" or (status == "completed" and int(last.get("epoch", 0)) < cfg.epochs):
            status = "pruned"  # stopped by the scheduler before its last epoch
        ckpt = None
        if self.log_checkpoints:
            ckpt = last.get("checkpoint_path") or (trial.checkpoint.path if trial.checkpoint else None)
        self.tracker.finish(run_id, status, ckpt)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if trial.trial_id in self._runs:
            self.tracker.finish(self._runs.pop(trial.trial_id)[0], "failed")

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        failed = any(t.status == "ERROR" for t in trials)
        self.tracker.close("FAILED" if failed else "FINISHED")
