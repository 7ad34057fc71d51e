"""`MLflowTrialCallback`: Tune events -> MLflow runs, through the sweep's outbox.

All logging happens in the driver, from rank-0 results only: a child run per trial (created at
its start, or at its first result, with the driver's provenance: `sweeps.store.provenance`), one
log per reported epoch (every numeric value, step = epoch; the run parameters the loop reports
once, such as the worker's torch, CUDA and device, as params), tags `status` and `node_id`, and
the run's final state (completed: FINISHED, pruned: KILLED, diverged and failed: FAILED). Writes go through
`sweeps.store.outbox.Outbox`, so a tracking-server outage never stops training and loses
nothing. A retried trial (its process or node died) keeps its run: the epochs it re-runs after
restoring its checkpoint are logged again at the same steps, and the run's latest value per
epoch is the one MLflow shows.

Example::

    callback = MLflowTrialCallback(MLflowTarget(uri, "tiny", sweep_id), "outbox", sweep=d)
    tune.RunConfig(callbacks=[callback])

The outbox folder is named relative to the sweep's folder (`sweep`, a `SweepDir`): restored by
`Tuner.restore` in another process, on another machine for a sweep on object storage, the
callback writes to that process's working copy (`sweeps.store.remote`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ray import tune

from samtrain.engine.status import RunStatus
from sweeps.execution.console import trial_outcome
from sweeps.search.trial_config import read_trial
from sweeps.store.provenance import launch_environment
from sweeps.store.schema import RUN_PARAMS, Tag, result_metrics
from sweeps.store.sweep_dir import SweepDir
from sweeps.store.writer import MLflowTarget

FLUSH_AT_END_S = 30.0  # how long the end of a sweep waits for an unreachable tracking server


def _loggable(result: dict[str, Any]) -> dict[str, Any]:
    """The JSON-safe part of a result worth logging: metrics, run parameters, status, node."""
    out: dict[str, Any] = dict(result_metrics(result))
    for key in (RUN_PARAMS, Tag.STATUS.value, Tag.NODE_ID.value):
        if key in result:
            out[key] = result[key]
    return out


class MLflowTrialCallback(tune.Callback):
    """Driver-side MLflow logging of a Tune experiment (picklable: Tune stores it for restore)."""

    sweep: SweepDir | None = None  # callbacks pickled before it existed restore without it

    def __init__(self, target: MLflowTarget, outbox_dir: str | Path,
                 log_checkpoints: bool = False, *, sweep: SweepDir | None = None) -> None:
        """`outbox_dir`: a folder, or, with `sweep`, the name of one in the sweep's folder."""
        self.target, self.outbox_dir, self.sweep = target, str(outbox_dir), sweep
        self.log_checkpoints = log_checkpoints
        self._outbox: Any = None
        self._started: set[str] = set()
        self._nodes: dict[str, dict[str, str]] = {}
        self.undelivered = 0

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_outbox": None, "_started": set(), "_nodes": {}}

    @property
    def outbox(self) -> Any:
        if self._outbox is None:
            from sweeps.store.outbox import Outbox

            self._outbox = Outbox(self.outbox_path, self.target.writer).start()
            self._outbox.put("open_parent", source_file=self.target.source_file,
                             environment=launch_environment(self.target.project_source))
        return self._outbox

    @property
    def outbox_path(self) -> Path:
        return self.sweep.root / self.outbox_dir if self.sweep else Path(self.outbox_dir)

    def setup(self, **info: Any) -> None:
        self.outbox  # noqa: B018 - opens the store in the outbox thread while trials start

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        t = read_trial(trial.config)
        self.outbox.put("child", key=trial.trial_id, method=t.method, phase=t.phase,
                        train_config=t.train_config, group_key=t.group_key,
                        environment=launch_environment(self.target.project_source))
        self._started.add(trial.trial_id)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        if trial.trial_id not in self._started:
            self.on_trial_start(iteration, trials, trial)
        nodes = {k: str(result[k]) for k in (Tag.NODE_ID.value, Tag.WORKER_NODE_IDS.value)
                 if result.get(k)}
        if nodes and self._nodes.get(trial.trial_id) != nodes:
            self._nodes[trial.trial_id] = nodes
            self.outbox.put("set_tags", key=trial.trial_id, tags=nodes)
        self.outbox.put("log_epoch", key=trial.trial_id, result=_loggable(result),
                        timestamp_ms=int(time.time() * 1000))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if trial.trial_id not in self._started:
            return
        epochs = read_trial(trial.config).train_config["epochs"]
        last = trial.last_result or {}
        status = trial_outcome("TERMINATED", last, epochs)  # pruned: stopped before its last epoch
        ckpt = None
        if self.log_checkpoints:
            ckpt = last.get("checkpoint_path") or (trial.checkpoint.path if trial.checkpoint else None)
        self.outbox.put("finish", key=trial.trial_id, status=str(status), checkpoint_dir=ckpt)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if trial.trial_id in self._started:  # it restarts from its checkpoint, in the same run
            self.outbox.put("set_tags", key=trial.trial_id, tags={Tag.STATUS.value: "retrying"})

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if trial.trial_id in self._started:
            self.outbox.put("finish", key=trial.trial_id, status=str(RunStatus.FAILED))

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        failed = any(t.status == "ERROR" for t in trials)
        self.outbox.put("close", state="FAILED" if failed else "FINISHED")
        self.undelivered = self.outbox.close(FLUSH_AT_END_S)
        self._outbox = None
        if self.undelivered:
            later = (f"the next `sweep` command on this sweep (e.g. `sweep status "
                     f"{self.target.sweep_name}`)" if self.target.parent else
                     f"the next `sweep train ... --name {self.target.sweep_name}`")
            print(f"MLflow: {self.undelivered} record(s) could not be delivered "
                  f"({self.target.tracking_uri} does not answer); they are kept in "
                  f"{self.sweep.at(self.outbox_dir) if self.sweep else self.outbox_dir} and sent "
                  f"by {later}")
