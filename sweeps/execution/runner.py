"""Tune experiments of a sweep: the trainable and run config every experiment shares, and
`run_configs`, fixed configs (confirm seeds, `sweep train`) as one Tune experiment; the search
phase is `sweeps.execution.search_phase`'s.

Every trial is retried `max_failures` times (its process or node died) from its last
checkpoint; see `sweeps.store.sweep_dir` for the files of a sweep. Every trial's config has
the one shape of `sweeps.search.trial_config`.

Example (starts Ray)::

    grid = run_configs("tiny", "confirm-0", "runs", "sqlite:///mlflow.db",
                       [("sam", cfg, "confirm")], Resources(), sweep_id=meta.sweep_id)
"""

from __future__ import annotations

import math
import os
from typing import Any

from samtrain.config.train_config import TrainConfig
from sweeps.errors import SweepError
from sweeps.execution.console import SweepReporter
from sweeps.execution.mlflow_callback import MLflowTrialCallback
from sweeps.execution.ray_cluster import connect_ray
from sweeps.execution.resources import ResourcePlan, concurrency, trial_plan
from sweeps.execution.storage_sync import StorageSync
from sweeps.search.trial_config import KEY, read_trial, trial_entry, trial_method
from sweeps.store.sweep_dir import SweepDir, sweep_dir
from sweeps.store.writer import MLflowTarget
from sweeps.study.spec import Resources

# Trials checkpoint at most every `checkpoint_interval_s` (study key, default 30 s) and at their
# last epoch: per-epoch checkpoints of short trials cost a visible share of a sweep's time
# (benchmarks/RESULTS.md, P3), and a retried trial loses at most that much work.
SNAPSHOT_WINDOW_S = 60.0  # see `checkpoints_to_keep`
METRIC_COLUMNS = ["epoch", "train_loss", "val_loss", "val_acc", "rho"]


def trainable_for(plan: ResourcePlan, in_process: bool, d: SweepDir, max_failures: int,
               checkpoint_interval_s: float) -> Any:
    from ray import tune

    from sweeps.execution.trainable import run_trial

    fn = tune.with_parameters(run_trial, plan=plan, in_process=in_process,
                              storage_path=d.train_storage,
                              checkpoint_interval_s=checkpoint_interval_s,
                              max_failures=max_failures)
    resources = {"cpu": plan.trial_cpus or plan.worker_cpus,
                 "gpu": plan.worker_gpus if in_process else 0.0}
    return tune.with_resources(fn, resources)


def checkpoints_to_keep(on_object_storage: bool, checkpoint_interval_s: float) -> int:
    """Checkpoints Tune keeps per trial: 2 in a local folder. On object storage, enough that a
    checkpoint outlives its successor by `SNAPSHOT_WINDOW_S` or more: Tune's experiment snapshot,
    which names each trial's latest checkpoint, reaches storage seconds after Tune deletes older
    checkpoints, so a driver killed in between left a snapshot naming a deleted one (measured:
    `sweep resume` then failed the trial; checkpoints every 0.6 s, 2 kept).

    >>> checkpoints_to_keep(False, 0.0), checkpoints_to_keep(True, 30.0), checkpoints_to_keep(True, 0.0)
    (2, 2, 60)
    """
    if not on_object_storage:
        return 2
    return max(2, math.ceil(SNAPSHOT_WINDOW_S / max(checkpoint_interval_s, 1.0)))


def run_config(name: str, d: SweepDir, callback: Any, max_failures: int,
               checkpoint_interval_s: float) -> Any:
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Tune's own CSV/JSON result files stay (its experiment analysis reads them); its default
    # TensorBoard logger does not: MLflow has the metrics, and tensorboardX would import torch into
    # the driver, 1.5-3 s before the first trial can start (benchmarks/RESULTS.md, P3).
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    reporter = SweepReporter(METRIC_COLUMNS, every_s=15.0)  # one status column, progress, ETA
    # a sweep on object storage uploads its working copy after the MLflow callback's writes
    upload = [StorageSync(d)] if d.mirror else []
    return tune.RunConfig(
        name=name, storage_path=d.location,
        callbacks=[callback, CSVLoggerCallback(), JsonLoggerCallback(), *upload],
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=checkpoints_to_keep(d.mirror is not None, checkpoint_interval_s)),
        failure_config=tune.FailureConfig(max_failures=max_failures), progress_reporter=reporter,
        verbose=1)


def run_configs(name: str, experiment: str, storage: str, tracking_uri: str,
                trials: list[tuple[str, TrainConfig, str]], resources: Resources, *, sweep_id: str,
                parent: bool = True, log_checkpoints: bool = False, address: str | None = None,
                in_process: bool | None = None, max_failures: int = 2,
                checkpoint_interval_s: float = 30.0) -> Any:
    """Run fixed configs `(method, cfg, phase)` as one Tune experiment `STORAGE/NAME/experiment`.

    Restarting with the same names resumes: finished trials are kept, unfinished ones continue.
    """
    from ray import tune

    d = sweep_dir(storage, name)
    path = d.at(experiment)
    space = [trial_entry(m, ph, c) for m, c, ph in trials]
    restore = tune.Tuner.can_restore(path)
    if restore and stored_trials(path) != sorted(trials, key=_trial_order):
        raise SweepError(f"{path} already holds other runs; use another --name (or delete that "
                         "directory)")
    cluster = connect_ray(address)
    plan, in_process = trial_plan(resources, cluster, in_process)
    trainable = trainable_for(plan, in_process, d, max_failures if not in_process else 0,
                           checkpoint_interval_s)
    if restore:
        return fit(tune.Tuner.restore(path, trainable=trainable, resume_unfinished=True,
                                      resume_errored=True), d)
    d.root.mkdir(parents=True, exist_ok=True)
    target = MLflowTarget(tracking_uri, name, sweep_id, parent=parent)
    # a sweep's runs share its outbox; lone runs (`sweep train`) keep theirs beside their experiment
    outbox = "outbox" if parent else f"{experiment}-outbox"
    callback = MLflowTrialCallback(target, outbox, log_checkpoints=log_checkpoints, sweep=d)
    tuner = tune.Tuner(
        trainable, param_space={KEY: tune.grid_search(space)},
        tune_config=tune.TuneConfig(max_concurrent_trials=concurrency(resources, plan),
                                    trial_name_creator=trial_name, trial_dirname_creator=trial_name,
                                    reuse_actors=True),
        run_config=run_config(experiment, d, callback, max_failures, checkpoint_interval_s),
    )
    return fit(tuner, d)


def fit(tuner: Any, d: SweepDir) -> Any:
    """`tuner.fit()`, then the sweep's working copy uploaded (on object storage), even if it
    raised."""
    try:
        return tuner.fit()
    finally:
        d.push()


def stored_trials(experiment_path: str) -> list[tuple[str, TrainConfig, str]]:
    """The fixed configs `(method, cfg, phase)` of a `run_configs` experiment on disk."""
    from sweeps.execution.orphans import restored_trials

    out = []
    for config in restored_trials(experiment_path).values():
        t = read_trial(config)
        out.append((t.method, t.config(), t.phase))
    return sorted(out, key=_trial_order)


def _trial_order(t: tuple[str, TrainConfig, str]) -> tuple:
    return (t[0], t[1].group_key(), t[1].seed, t[2])


def trial_name(trial: Any) -> str:
    """Short trial names and directories: `<method>-<trial id>`."""
    return f"{trial_method(trial.config) or 'trial'}-{trial.trial_id}"
