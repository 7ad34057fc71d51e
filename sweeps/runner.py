"""Run sweeps on Ray Tune: Optuna TPE (define-by-run, sqlite storage), ASHA on `epoch`, resume.

A sweep lives in `STORAGE/NAME/`: `space.yaml` (the study as given), `sweep.json` (how to resume
it), `optuna.db` (the Optuna study, for optuna-dashboard), `search/` (the Tune experiment),
`confirm-*/` (seed re-runs) and `train/` (Ray Train runs of multi-worker trials).

Example (starts Ray)::

    from sweeps.space import load_study
    study = load_study("search_spaces/tiny.yaml")
    grid = run_sweep(study, "runs", "sqlite:///mlflow.db")
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from samtrain.config import TrainConfig
from samtrain.launch import ResourcePlan, plan_resources
from sweeps.space import StudySpec, define_by_run, load_study

# Sweep trials checkpoint at most every 30 s (and at their last epoch): per-epoch checkpoints of
# short trials cost a visible share of a sweep's time (benchmarks/RESULTS.md, P3).
CHECKPOINT_INTERVAL_S = 30.0
METRIC_COLUMNS = ["epoch", "train_loss", "val_loss", "val_acc", "rho", "status"]


class SweepError(RuntimeError):
    """A sweep cannot be started or resumed; the message is one line."""


@dataclass(frozen=True)
class SweepPaths:
    root: Path

    @property
    def space(self) -> Path:
        return self.root / "space.yaml"

    @property
    def meta(self) -> Path:
        return self.root / "sweep.json"

    @property
    def optuna_url(self) -> str:
        return f"sqlite:///{self.root / 'optuna.db'}"

    @property
    def train_storage(self) -> str:
        return str(self.root / "train")


def sweep_paths(storage: str | Path, name: str) -> SweepPaths:
    return SweepPaths(Path(storage).resolve() / name)


def connect_ray(address: str | None = None) -> dict[str, float]:
    """Start (or join, with `address`) Ray; return the cluster's resources."""
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if not ray.is_initialized():
        ray.init(address=address, dashboard_host="127.0.0.1", logging_level="WARNING",
                 log_to_driver=False)  # progress comes from Tune's table; errors from trial results
    return {k: float(v) for k, v in ray.cluster_resources().items()}


def trial_plan(resources: Any, cluster: dict[str, float], in_process: bool | None = None
               ) -> tuple[ResourcePlan, bool]:
    """The resource plan of one trial and whether it runs in the trial's own process."""
    if in_process is None:
        in_process = resources.workers == 1
    plan = plan_resources(resources.workers, resources.cpus_per_worker, resources.gpus_per_worker,
                          cluster, in_tune_trial=True, in_process=in_process)
    return plan, in_process


def _trainable(plan: ResourcePlan, in_process: bool, paths: SweepPaths, study: StudySpec | None,
               checkpoint_interval_s: float = CHECKPOINT_INTERVAL_S):
    from ray import tune

    from sweeps.trial import run_trial

    fn = tune.with_parameters(run_trial, plan=plan, in_process=in_process,
                              storage_path=paths.train_storage, study=study,
                              checkpoint_interval_s=checkpoint_interval_s)
    resources = {"cpu": plan.trial_cpus or plan.worker_cpus, "gpu": 0.0 if not in_process
                 else plan.worker_gpus}
    return tune.with_resources(fn, resources)


def _run_config(name: str, paths: SweepPaths, callback: Any, parameter_columns: Any) -> Any:
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # Tune's own CSV/JSON result files stay (its experiment analysis reads them); its default
    # TensorBoard logger does not: MLflow has the metrics, and tensorboardX would import torch into
    # the driver, 1.5-3 s before the first trial can start (benchmarks/RESULTS.md, P3).
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"
    reporter = tune.CLIReporter(metric_columns=METRIC_COLUMNS, parameter_columns=parameter_columns,
                                max_report_frequency=15)
    return tune.RunConfig(
        name=name, storage_path=str(paths.root),
        callbacks=[callback, CSVLoggerCallback(), JsonLoggerCallback()],
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        failure_config=tune.FailureConfig(max_failures=0), progress_reporter=reporter, verbose=1)


def run_sweep(study: StudySpec, storage: str | Path, tracking_uri: str,
              address: str | None = None) -> Any:
    """Start the search phase of `study` (named `study.name`); returns Tune's `ResultGrid`."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    from sweeps.resumable_search import ResumableOptunaSearch
    from sweeps.tracking import MLflowTrialCallback

    paths = sweep_paths(storage, study.name)
    if paths.meta.exists():
        raise SweepError(f"sweep {study.name!r} already exists in {paths.root}; "
                         f"use `sweep resume {study.name}` or another --name")
    cluster = connect_ray(address)
    plan, in_process = trial_plan(study.resources, cluster)
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.space.write_text(study.source_text)
    paths.meta.write_text(json.dumps({"name": study.name, "budget": study.budget,
                                      "tracking_uri": tracking_uri,
                                      "source_sha256": study.source_sha256}, indent=1))
    import optuna

    searcher = ResumableOptunaSearch(space=define_by_run(study), metric=study.metric,
                                     mode=study.mode, study_name=study.name,
                                     sampler=optuna.samplers.TPESampler(seed=study.seed),
                                     storage=optuna.storages.RDBStorage(paths.optuna_url))
    scheduler = None
    if study.scheduler is not None:
        epochs = max(c.epochs for c in method_configs(study))
        scheduler = ASHAScheduler(time_attr="epoch", max_t=study.scheduler.max_t or epochs,
                                  grace_period=study.scheduler.grace_period,
                                  reduction_factor=study.scheduler.reduction_factor)
    callback = MLflowTrialCallback(tracking_uri, study.name, study=study,
                                   source_file=str(paths.space))
    tuner = tune.Tuner(
        _trainable(plan, in_process, paths, study),
        tune_config=tune.TuneConfig(metric=study.metric, mode=study.mode, search_alg=searcher,
                                    scheduler=scheduler, num_samples=study.n_trials,
                                    max_concurrent_trials=_concurrency(study, plan),
                                    trial_name_creator=trial_name, trial_dirname_creator=trial_name,
                                    reuse_actors=True),
        run_config=_run_config("search", paths, callback, ["method"]),
    )
    return tuner.fit()


def resume_sweep(name: str, storage: str | Path, address: str | None = None) -> Any:
    """Continue an interrupted search: finished trials stay, unfinished ones resume."""
    from ray import tune

    study, meta, paths = open_sweep(name, storage)
    experiment = paths.root / "search"
    if not tune.Tuner.can_restore(str(experiment)):
        raise SweepError(f"sweep {name!r} has no Tune experiment in {experiment} to resume")
    cluster = connect_ray(address)
    plan, in_process = trial_plan(study.resources, cluster)
    orphans = forget_orphans(study, meta, paths)
    if orphans:
        print(f"sweep {name!r}: {orphans} trial(s) started after the last snapshot before the crash "
              "will run again under new ids; their partial runs were removed")
    tuner = tune.Tuner.restore(str(experiment), trainable=_trainable(plan, in_process, paths, study),
                               resume_unfinished=True, resume_errored=True)
    return tuner.fit()


def run_configs(name: str, experiment: str, storage: str | Path, tracking_uri: str,
                trials: list[tuple[str, TrainConfig, str]], resources: Any,
                parent: bool = True, log_checkpoints: bool = False,
                address: str | None = None, in_process: bool | None = None) -> Any:
    """Run fixed configs `(method, cfg, phase)` as one Tune experiment `STORAGE/NAME/experiment`.

    Restarting with the same names resumes: finished trials are kept, unfinished ones continue.
    """
    from ray import tune

    from sweeps.tracking import MLflowTrialCallback

    paths = sweep_paths(storage, name)
    cluster = connect_ray(address)
    plan, in_process = trial_plan(resources, cluster, in_process)
    trainable = _trainable(plan, in_process, paths, None)
    path = paths.root / experiment
    if tune.Tuner.can_restore(str(path)):
        return tune.Tuner.restore(str(path), trainable=trainable, resume_unfinished=True,
                                  resume_errored=True).fit()
    paths.root.mkdir(parents=True, exist_ok=True)
    space = [{"method": m, "phase": ph, "train_config": c.model_dump(mode="json")}
             for m, c, ph in trials]
    callback = MLflowTrialCallback(tracking_uri, name, parent=parent,
                                   log_checkpoints=log_checkpoints)
    tuner = tune.Tuner(
        trainable,
        param_space={"trial": tune.grid_search(space)},
        tune_config=tune.TuneConfig(max_concurrent_trials=plan.max_concurrent,
                                    trial_name_creator=trial_name, trial_dirname_creator=trial_name,
                                    reuse_actors=True),
        run_config=_run_config(experiment, paths, callback, {"trial/method": "method"}),
    )
    return tuner.fit()


def forget_orphans(study: StudySpec, meta: dict[str, Any], paths: SweepPaths) -> int:
    """Reconcile Optuna and MLflow with the Tune snapshot a resume starts from.

    Trials started after Tune's last experiment snapshot are unknown to the restored Tuner (the
    searcher re-suggests them). Their Optuna trials are marked FAIL and `orphan` (so the method
    schedule, and with it every method's budget, stays exact) and their MLflow runs are deleted
    (so the resumed sweep has no duplicate runs). Returns how many were found.
    """
    import pickle

    import optuna

    from sweeps.space import ORPHAN
    from sweeps.tracking import SweepTracker

    states = sorted((paths.root / "search").glob("searcher-state-*.pkl"), key=lambda p: p.stat().st_mtime)
    if not states:
        return 0
    with states[-1].open("rb") as f:  # written by this sweep's own driver
        known = pickle.load(f)["_ot_trials"]
    numbers = {t.number for t in known.values()}
    ot_study = optuna.load_study(study_name=study.name, storage=paths.optuna_url)
    orphans = [t for t in ot_study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.RUNNING])
               if t.number not in numbers]
    for t in orphans:
        ot_study._storage.set_trial_user_attr(t._trial_id, ORPHAN, True)
        ot_study._storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
    deleted = SweepTracker(meta["tracking_uri"], study.name).delete_orphans("search", set(known))
    return max(len(orphans), deleted)


def open_sweep(name: str, storage: str | Path) -> tuple[StudySpec, dict[str, Any], SweepPaths]:
    """The study, metadata and paths of an existing sweep."""
    paths = sweep_paths(storage, name)
    if not paths.meta.is_file():
        raise SweepError(f"sweep {name!r} not found: no {paths.meta}; start it with `sweep run`")
    meta = json.loads(paths.meta.read_text())
    return load_study(paths.space, budget=meta["budget"], name=name), meta, paths


def trial_name(trial: Any) -> str:
    """Short trial names and directories: `<method>-<trial id>`."""
    config = trial.config.get("trial", trial.config)
    return f"{config.get('method', 'trial')}-{trial.trial_id}"


def method_configs(study: StudySpec) -> list[TrainConfig]:
    """Each method's config before sampling (base + fixed)."""
    from sweeps.space import build_train_config

    return [build_train_config(study, m, {}) for m in study.methods]


def _concurrency(study: StudySpec, plan: ResourcePlan) -> int:
    limit = getattr(study.resources, "max_concurrent_trials", None)
    return min(plan.max_concurrent, limit) if limit else plan.max_concurrent
