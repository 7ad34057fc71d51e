"""The search phase on Ray Tune: start a sweep, resume it after a crash, extend it with more trials.

`run_sweep` enqueues the study's whole search plan in its Optuna study (`sweeps.search.plan`)
and runs it as the Tune experiment `search` with the study's sampler (`SweepSearch`,
define-by-run; a list of metrics and modes for a multi-objective study) and per-method
scheduler. `resume_sweep` restores the latest search experiment:
finished trials stay, unfinished ones resume. `extend_sweep` gives every searched method N
more trials: it enqueues them in the same Optuna study and runs them as the next experiment
(`search-2`, `search-3`, ...) under the same MLflow parent, its scheduler judging them against
every earlier trial; an interrupted search is resumed first. No finished trial runs again.

Example (starts Ray)::

    from sweeps.study.study_file import load_study
    grid = run_sweep(load_study("search_spaces/tiny.yaml"), "runs", "sqlite:///mlflow.db")
    grid = extend_sweep("tiny", "runs", trials=4)
"""

from __future__ import annotations

from typing import Any

from sweeps.errors import SweepError
from sweeps.execution.console import mlflow_hint
from sweeps.execution.mlflow_callback import MLflowTrialCallback
from sweeps.execution.ray_cluster import connect_ray
from sweeps.execution.resources import ResourcePlan, concurrency, trial_plan
from sweeps.execution.runner import fit, run_config, trainable_for, trial_name
from sweeps.search.plan import PlannedTrial, enqueue, plan_extension, plan_trials
from sweeps.search.sampling import define_by_run, make_sampler
from sweeps.store.sweep_dir import SweepDir, SweepMeta, open_sweep, sweep_dir
from sweeps.store.writer import MLflowTarget
from sweeps.study.spec import StudySpec

__all__ = ["run_sweep", "resume_sweep", "extend_sweep", "unfinished"]


def _objectives(study: StudySpec) -> tuple[list[str], list[str]]:
    """(metrics, modes) the search optimises: the study's objectives, or its one metric."""
    if study.objectives:
        return [o.metric for o in study.objectives], [o.mode for o in study.objectives]
    return [study.metric], [study.mode]


def _optuna_study(study: StudySpec, d: SweepDir) -> Any:
    import optuna

    _, modes = _objectives(study)
    return optuna.create_study(study_name=study.name, storage=d.optuna_url, load_if_exists=True,
                               directions=["maximize" if m == "max" else "minimize" for m in modes])


def _scheduler(study: StudySpec, prior: list[Any]) -> Any:
    from sweeps.search.scheduler import PerMethodScheduler, methods_max_t

    if study.scheduler is None:
        return None
    return PerMethodScheduler(study.scheduler, methods_max_t(study), prior=prior)


def _searcher(study: StudySpec, d: SweepDir, concurrent: int) -> Any:
    from sweeps.search.searcher import SweepSearch
    from sweeps.store.optuna_storage import SweepOptunaStorage

    metrics, modes = _objectives(study)
    many = len(metrics) > 1  # a multi-objective search: Optuna's multi-objective TPE
    return SweepSearch(space=define_by_run(study), metric=metrics if many else metrics[0],
                       mode=modes if many else modes[0], study_name=study.name,
                       sampler=make_sampler(study, concurrent),
                       storage=SweepOptunaStorage(d))


def _tuner(study: StudySpec, d: SweepDir, meta: SweepMeta, experiment: str, n_trials: int,
           plan: ResourcePlan, in_process: bool, prior: list[Any], source_file: str | None) -> Any:
    from ray import tune

    path = getattr(study, "path", None)  # the study file (its repository: the runs' project)
    target = MLflowTarget(meta.tracking_uri, study.name, meta.sweep_id, source_file=source_file,
                          project_source=str(path) if path is not None else None)
    concurrent = concurrency(study.resources, plan)
    return tune.Tuner(
        trainable_for(plan, in_process, d, study.max_failures if not in_process else 0,
                      study.checkpoint_interval_s),
        tune_config=tune.TuneConfig(metric=study.metric, mode=study.mode,
                                    search_alg=_searcher(study, d, concurrent),
                                    scheduler=_scheduler(study, prior), num_samples=n_trials,
                                    max_concurrent_trials=concurrent,
                                    trial_name_creator=trial_name, trial_dirname_creator=trial_name,
                                    reuse_actors=True),
        run_config=run_config(experiment, d, MLflowTrialCallback(target, "outbox", sweep=d),
                              study.max_failures, study.checkpoint_interval_s),
    )


def run_sweep(study: StudySpec, storage: str, tracking_uri: str, address: str | None = None) -> Any:
    """Start the search phase of `study` (named `study.name`); returns Tune's `ResultGrid`."""
    d = sweep_dir(storage, study.name)
    if d.exists():
        raise SweepError(f"sweep {study.name!r} already exists in {d.root}; use "
                         f"`sweep resume {study.name}` or another --name")
    cluster = connect_ray(address)
    plan, in_process = trial_plan(study.resources, cluster)
    meta = SweepMeta.new(study, tracking_uri)
    d.root.mkdir(parents=True, exist_ok=True)  # the Optuna study's file lives there
    planned = plan_trials(study)
    enqueue(_optuna_study(study, d), planned)
    tuner = _tuner(study, d, meta, "search", len(planned), plan, in_process, [], str(d.space))
    d.write(study, meta)  # from here on the sweep exists (and `sweep resume` can continue it)
    return _fit_telling_mlflow(tuner, d, meta)


def _fit_telling_mlflow(tuner: Any, d: SweepDir, meta: SweepMeta) -> Any:
    """`fit`, with where the MLflow runs are (and how to open them) printed before and after."""
    print(mlflow_hint(meta.tracking_uri, meta.name), flush=True)
    try:
        return fit(tuner, d)
    finally:
        print(mlflow_hint(meta.tracking_uri, meta.name), flush=True)


def unfinished(experiment: str) -> bool:
    """Whether a Tune experiment (a path or URI) has a trial that did not end as TERMINATED."""
    from ray import tune

    return any(t.status != "TERMINATED" for t in tune.ExperimentAnalysis(experiment).trials)


def _restore(study: StudySpec, meta: SweepMeta, d: SweepDir, plan: ResourcePlan,
             in_process: bool) -> Any:
    """Reconcile a crashed driver's leftovers, then restore the latest search experiment."""
    from ray import tune

    from sweeps.execution.orphans import forget_orphans
    from sweeps.store.sweep_access import deliver

    experiment = d.search_experiments()[-1]
    deliver(meta, d)
    orphans = forget_orphans(study, meta, d)
    if orphans:
        print(f"sweep {study.name!r}: {orphans} trial(s) started after the last snapshot before "
              "the crash will run again under new ids; their partial runs were removed")
    trainable = trainable_for(plan, in_process, d, study.max_failures if not in_process else 0,
                              study.checkpoint_interval_s)
    return _fit_telling_mlflow(tune.Tuner.restore(d.at(experiment), trainable=trainable,
                                                  resume_unfinished=True, resume_errored=True),
                               d, meta)


def _search_experiments(d: SweepDir, name: str) -> list[str]:
    from ray import tune

    found = [e for e in d.search_experiments() if tune.Tuner.can_restore(d.at(e))]
    if not found:
        raise SweepError(f"sweep {name!r} has no Tune experiment in {d.at('search')} to resume")
    return found


def resume_sweep(name: str, storage: str, address: str | None = None) -> Any:
    """Continue an interrupted search: finished trials stay, unfinished ones resume."""
    study, meta, d = open_sweep(name, storage)
    _search_experiments(d, name)
    cluster = connect_ray(address)
    plan, in_process = trial_plan(study.resources, cluster)
    return _restore(study, meta, d, plan, in_process)


def extend_sweep(name: str, storage: str, trials: int, address: str | None = None) -> list[Any]:
    """`trials` more search trials of every method that samples something; returns the results
    of the runs started (those of the resumed search first, if it was interrupted)."""
    from ray import tune

    study, meta, d = open_sweep(name, storage)
    experiments = _search_experiments(d, name)
    extension: list[PlannedTrial] = plan_extension(study, trials)  # a grid: SweepError
    cluster = connect_ray(address)
    plan, in_process = trial_plan(study.resources, cluster)
    results: list[Any] = []
    if unfinished(d.at(experiments[-1])):
        print(f"sweep {name!r}: resuming its unfinished {experiments[-1]} first")
        results += list(_restore(study, meta, d, plan, in_process))
    prior = [t for e in experiments for t in tune.ExperimentAnalysis(d.at(e)).trials]
    grown = SweepMeta(meta.name, meta.sweep_id, (study.budget or 1) + trials, meta.tracking_uri,
                      meta.source_sha256)
    experiment = f"search-{len(experiments) + 1}"
    enqueue(_optuna_study(study, d), extension)
    d.write_meta(grown)  # a crash from here on: `sweep resume` continues `experiment`
    print(f"sweep {name!r}: {len(extension)} more trial(s) ({trials} per searched method) in "
          f"{experiment}")
    tuner = _tuner(study, d, grown, experiment, len(extension), plan, in_process, prior, None)
    return results + list(_fit_telling_mlflow(tuner, d, grown))
