"""Hyperparameter importance per method: how much of the variation of the validation metric over
a method's search trials each searched key explains, by Optuna's fANOVA evaluator
(`optuna.importance.FanovaImportanceEvaluator`, Hutter et al. 2014, "An efficient approach for
assessing hyperparameter importance", ICML; a random forest fitted to the trials, fixed seed).

The trials are the method's completed, full-length search runs with a finite metric, rebuilt
as an in-memory Optuna study (`optuna.trial.create_trial`) with the distributions the study
file gives each key (its `suggest`), so the records alone suffice (no Optuna storage needed).
A method with fewer than `MIN_TRIALS` such trials, or no searched key, gets none and the reason;
with one searched key its importance is 1 by construction, which the reason says too.

Example (on a sweep's records)::

    imp = importances(records, study)     # {"sam": Importance({"rho": 0.8, "m": 0.2}, 12, "")}
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import optuna

from sweeps.results.selection import scoring_runs
from sweeps.store.schema import RunRecord
from sweeps.study.spec import StudySpec

__all__ = ["MIN_TRIALS", "SEED", "Importance", "method_importance", "importances"]

MIN_TRIALS = 4
SEED = 0


@dataclass(frozen=True)
class Importance:
    """A method's importances (key -> share, summing to 1), its trials, and why it has none."""

    values: dict[str, float] = field(default_factory=dict)
    trials: int = 0
    why: str = ""


def _distributions(study: StudySpec, method: str) -> dict[str, optuna.distributions.BaseDistribution]:
    """The Optuna distribution of each searched key, as the study's sampler would ask for it."""
    probe = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=SEED)).ask()
    for key, dist in sorted(study.methods[method].sampled.items()):
        dist.suggest(probe, key)
    return dict(probe.distributions)


def method_importance(records: Sequence[RunRecord], study: StudySpec, method: str,
                      seed: int = SEED) -> Importance:
    """fANOVA importances of `method`'s searched keys over its scoring search trials."""
    keys = sorted(study.methods[method].sampled)
    runs = [r for r in scoring_runs(records, study.metric) if r.method == method]
    if not keys:
        return Importance(trials=len(runs), why="searches no key")
    if len(runs) < MIN_TRIALS:
        return Importance(trials=len(runs), why=f"{len(runs)} completed trials < {MIN_TRIALS}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = _distributions(study, method)
    direction = "maximize" if study.mode == "max" else "minimize"
    s = optuna.create_study(direction=direction)
    for r in runs:
        params = {k: r.params.get(k) for k in keys}
        s.add_trial(optuna.trial.create_trial(params=params, distributions=dists,
                                              value=float(r.final[study.metric])))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = optuna.importance.get_param_importances(
            s, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed))
    why = "one searched key: its importance is 1 by construction" if len(keys) == 1 else ""
    return Importance({k: float(v) for k, v in values.items() if math.isfinite(v)},
                      len(s.trials), why)


def importances(records: Sequence[RunRecord], study: StudySpec,
                seed: int = SEED) -> dict[str, Importance]:
    """Every study method's importances (or why it has none)."""
    return {m: method_importance(records, study, m, seed) for m in study.methods}
