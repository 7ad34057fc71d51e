"""From a study to searched trials: the Optuna sampler and the define-by-run function.

Every search trial is planned and enqueued in advance (`sweeps.search.plan`): the
define-by-run function reads the trial's method from the trial itself (user attr "method"),
samples that method's space under names `"<method>/<key>"` (values planned in advance, such as
start points, grid or quasi-random points, come back as they were enqueued), and returns the
trial config of `sweeps.search.trial_config` with its `TrainConfig` built here, once.

Example:
    >>> from sweeps.study.study_file import load_study
    >>> study = load_study("search_spaces/tiny.yaml")
    >>> method_schedule(study)
    ['sgd', 'sam', 'sam']
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import optuna

from sweeps.search.plan import param_name, plan_trials
from sweeps.search.trial_config import trial_config
from sweeps.store.phase import Phase
from sweeps.study.spec import StudySpec, build_train_config, check_method_name
from sweeps.study.strategy import TPE

__all__ = ["method_schedule", "suggest_config", "define_by_run", "make_sampler",
           "startup_trials"]


def method_schedule(study: StudySpec) -> list[str]:
    """The method of each search trial, in order: round-robin, `study.trials_of(m)` each.

    >>> from sweeps.study.study_file import parse_study
    >>> method_schedule(parse_study("budget: 2\\nmethods: {a: {}, b: {space: {rho: {uniform: [0, 1]}}}}"))
    ['a', 'b', 'b']
    """
    return [p.method for p in plan_trials(study)]


def suggest_config(trial: optuna.Trial, study: StudySpec, method: str) -> dict[str, Any]:
    """Sample `method`'s space; Optuna names are `"<method>/<key>"`, the result uses plain keys.

    >>> from sweeps.study.study_file import load_study
    >>> trial = optuna.create_study().ask()
    >>> sorted(suggest_config(trial, load_study("search_spaces/tiny.yaml"), "sam"))
    ['rho']
    """
    check_method_name(study, method)
    return {k: d.suggest(trial, param_name(method, k))
            for k, d in study.methods[method].space.items()}


def define_by_run(study: StudySpec) -> Callable[[optuna.Trial], dict[str, Any]]:
    """A define-by-run function for `OptunaSearch(space=...)` over the planned trials.

    It returns the trial config (phase "search", with the Optuna trial number). Under Ray, the
    config also holds `{name: {key: value}}` beside it (Ray unflattens the captured
    `"name/key"` suggestions): ignore it.
    """
    return functools.partial(_planned_space, study)


def _planned_space(study: StudySpec, trial: optuna.Trial) -> dict[str, Any]:
    """The define-by-run function (module level, so Tune can pickle the searcher's state)."""
    method = trial.user_attrs.get("method")
    if method is None:
        raise RuntimeError(f"Optuna trial {trial.number} of study {study.name!r} was not planned "
                           "(no method): every search trial is enqueued by sweeps.search.plan")
    cfg = build_train_config(study, method, suggest_config(trial, study, method))
    return trial_config(method, Phase.SEARCH.value, cfg, optuna_trial=trial.number)


def startup_trials(study: StudySpec) -> int:
    """TPE's random start-up trials: each method's first k trials, k = its trials // 3 (1 to 10),
    counted over the round-robin plan (Optuna's default of 10 in all would make a search of a
    few trials per method pure random search)."""
    tpe = study.sampler
    if isinstance(tpe, TPE) and tpe.n_startup_trials is not None:
        return tpe.n_startup_trials
    return sum(min(max(1, min(10, study.trials_of(m) // 3)), study.trials_of(m))
               for m in study.methods)


def make_sampler(study: StudySpec, concurrent_trials: int) -> optuna.samplers.BaseSampler:
    """The study's Optuna sampler, seeded. Grid and quasi-random points are planned and
    enqueued, so those studies (and keys a start point leaves out) sample at random."""
    s = study.sampler
    if not isinstance(s, TPE):
        return optuna.samplers.RandomSampler(seed=study.seed)
    liar = s.constant_liar if s.constant_liar is not None else concurrent_trials > 1
    with warnings.catch_warnings():  # multivariate, group and constant_liar are "experimental"
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=study.seed, n_startup_trials=startup_trials(study),
                                          multivariate=s.multivariate, group=s.group,
                                          constant_liar=liar)
