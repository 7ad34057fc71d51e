"""From a study to trial configs and back: the method schedule, Optuna sampling, `TrainConfig`s.

Search trial `k` runs method `method_schedule(study)[k]`: `budget` trials of each method,
round-robin (1 for a method with nothing to sample). Optuna parameters are named
`"<method>/<key>"`, so TPE models each method's space separately. A trial config is either
`{"method", "params", "optuna_trial"}` (a searched trial) or `{"method", "phase",
"train_config"}` (a fixed config: confirm runs, `sweep train`); `trial_train_config` turns
either into `(method, phase, TrainConfig)`.

Example:
    >>> from sweeps.study import load_study
    >>> study = load_study("search_spaces/tiny.yaml")
    >>> method_schedule(study)
    ['sgd', 'sam', 'sam']
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import optuna

from samtrain.config import TrainConfig
from sweeps.distributions import Fixed, SpaceError
from sweeps.study import StudySpec, build_config, resource_values

__all__ = ["method_schedule", "suggest_config", "define_by_run", "build_train_config",
           "trial_train_config", "ORPHANS"]

ORPHANS = "orphans"  # study user attr: numbers of trials a crashed driver started, never run


def _check_method_name(study: StudySpec, method: str) -> None:
    if method not in study.methods:
        raise SpaceError(f"method: value {method!r} is unknown; allowed: {', '.join(study.methods)}")


def method_schedule(study: StudySpec) -> list[str]:
    """The method of each search trial, round-robin; `study.trials_of(m)` of each method.

    >>> from sweeps.study import parse_study
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

    >>> from sweeps.study import load_study
    >>> trial = optuna.create_study().ask()
    >>> sorted(suggest_config(trial, load_study("search_spaces/tiny.yaml"), "sam"))
    ['rho']
    """
    _check_method_name(study, method)
    return {k: d.suggest(trial, f"{method}/{k}") for k, d in study.methods[method].space.items()}


def define_by_run(study: StudySpec) -> Callable[[optuna.Trial], dict[str, Any]]:
    """A define-by-run function for `OptunaSearch(space=...)` or `optuna.Study.optimize`.

    Trial number `k` (orphans of a crash not counted) gets method `method_schedule(study)[k]`, so
    `study.n_trials` trials give exactly `study.trials_of(m)` per method. It returns `{"method":
    name, "params": {key: value}, "optuna_trial": number}` with plain TrainConfig keys (fixed
    entries of the space included). Under Ray, the trial config also holds `{name: {key: value}}`
    (Ray unflattens the captured `"name/key"` suggestions): ignore it. The method is also stored
    as the Optuna user attr "method".
    """
    return functools.partial(_round_robin_space, study)


def _round_robin_space(study: StudySpec, trial: optuna.Trial) -> dict[str, Any]:
    """The define-by-run function (module level, so Tune can pickle the searcher's state)."""
    schedule = method_schedule(study)
    method = schedule[schedule_index(trial) % len(schedule)]
    trial.set_user_attr("method", method)
    return {"method": method, "params": suggest_config(trial, study, method),
            "optuna_trial": trial.number}


def schedule_index(trial: optuna.Trial) -> int:
    """The trial's position in the method schedule: its number less the orphans before it."""
    orphans = trial.study.user_attrs.get(ORPHANS, [])
    return trial.number - sum(1 for n in orphans if n < trial.number)


def build_train_config(study: StudySpec, method: str, sampled: dict[str, Any],
                       seed: int | None = None) -> TrainConfig:
    """`base` + the method's `fixed` + `sampled` (+ resources, + `seed` if given).

    >>> from sweeps.study import load_study
    >>> s = load_study("search_spaces/tiny.yaml")
    >>> cfg = build_train_config(s, "sam", {"rho": 0.1}, seed=3)
    >>> cfg.perturbation, cfg.rho, cfg.seed
    ('ascent', 0.1, 3)
    """
    _check_method_name(study, method)
    m = study.methods[method]
    extra = sorted(set(sampled) - set(m.space))
    if extra:
        raise SpaceError(f"methods.{method}: sampled key {extra[0]!r} (value "
                         f"{sampled[extra[0]]!r}) is not in its space; allowed: "
                         f"{', '.join(m.space) or 'none'}")
    fixed_space = {k: d.value for k, d in m.space.items() if isinstance(d, Fixed)}
    values = {**study.base, **m.fixed, **fixed_space, **sampled, **resource_values(study.resources)}
    if seed is not None:
        values["seed"] = seed
    return build_config(f"methods.{method}", values)


def trial_train_config(config: dict[str, Any], study: StudySpec | None = None
                       ) -> tuple[str, str, TrainConfig]:
    """`(method, phase, TrainConfig)` of a trial config (fixed configs nest under "trial")."""
    config = config.get("trial", config)
    method, phase = config["method"], config.get("phase", "search")
    if "train_config" in config:
        return method, phase, TrainConfig(**config["train_config"])
    if study is None:
        raise ValueError("a searched trial config needs its study")
    return method, phase, build_train_config(study, method, config.get("params", {}))
