"""From a study to searched trials: the method schedule and Optuna define-by-run sampling.

Search trial `k` runs method `method_schedule(study)[k]`: `budget` trials of each method,
round-robin (1 for a method with nothing to sample). Optuna parameters are named
`"<method>/<key>"`, so TPE models each method's space separately. The define-by-run function
returns the trial config of `sweeps.search.trial_config`, its `TrainConfig` built here, once.

Example:
    >>> from sweeps.study.spec import load_study
    >>> study = load_study("search_spaces/tiny.yaml")
    >>> method_schedule(study)
    ['sgd', 'sam', 'sam']
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import optuna

from sweeps.search.trial_config import trial_config
from sweeps.store.schema import Phase
from sweeps.study.spec import StudySpec, build_train_config, check_method_name

__all__ = ["method_schedule", "suggest_config", "define_by_run", "schedule_index", "ORPHANS"]

ORPHANS = "orphans"  # study user attr: numbers of trials a crashed driver started, never run


def method_schedule(study: StudySpec) -> list[str]:
    """The method of each search trial, round-robin; `study.trials_of(m)` of each method.

    >>> from sweeps.study.spec import parse_study
    >>> method_schedule(parse_study("budget: 2\\nmethods: {a: {}, b: {space: {rho: {uniform: [0, 1]}}}}"))
    ['a', 'b', 'b']
    """
    left = {m: study.trials_of(m) for m in study.methods}
    order: list[str] = []
    while any(left.values()):
        for m in study.methods:
            if left[m]:
                order.append(m)
                left[m] -= 1
    return order


def suggest_config(trial: optuna.Trial, study: StudySpec, method: str) -> dict[str, Any]:
    """Sample `method`'s space; Optuna names are `"<method>/<key>"`, the result uses plain keys.

    >>> from sweeps.study.spec import load_study
    >>> trial = optuna.create_study().ask()
    >>> sorted(suggest_config(trial, load_study("search_spaces/tiny.yaml"), "sam"))
    ['rho']
    """
    check_method_name(study, method)
    return {k: d.suggest(trial, f"{method}/{k}") for k, d in study.methods[method].space.items()}


def define_by_run(study: StudySpec) -> Callable[[optuna.Trial], dict[str, Any]]:
    """A define-by-run function for `OptunaSearch(space=...)` or `optuna.Study.optimize`.

    Trial number `k` (orphans of a crash not counted) gets method `method_schedule(study)[k]`, so
    `study.n_trials` trials give exactly `study.trials_of(m)` per method. It returns the trial
    config (`sweeps.search.trial_config`, phase "search", with the Optuna trial number). Under
    Ray, the config also holds `{name: {key: value}}` beside it (Ray unflattens the captured
    `"name/key"` suggestions): ignore it. The method is also stored as the Optuna user attr
    "method".
    """
    return functools.partial(_round_robin_space, study)


def _round_robin_space(study: StudySpec, trial: optuna.Trial) -> dict[str, Any]:
    """The define-by-run function (module level, so Tune can pickle the searcher's state)."""
    schedule = method_schedule(study)
    method = schedule[schedule_index(trial) % len(schedule)]
    trial.set_user_attr("method", method)
    cfg = build_train_config(study, method, suggest_config(trial, study, method))
    return trial_config(method, Phase.SEARCH.value, cfg, optuna_trial=trial.number)


def schedule_index(trial: optuna.Trial) -> int:
    """The trial's position in the method schedule: its number less the orphans before it."""
    orphans = trial.study.user_attrs.get(ORPHANS, [])
    return trial.number - sum(1 for n in orphans if n < trial.number)
