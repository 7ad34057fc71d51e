"""The search plan: every search trial of a study, in order, enqueued in Optuna before it starts.

Each method gets `study.trials_of(m)` trials, round-robin over the methods. A trial may have
values fixed in advance: a method's `start_from` configs come first, then its grid points
(sampler `grid`, in an order shuffled with the study's seed) or its quasi-random points
(sampler `qmc`: a scrambled Sobol sequence per method, `scipy.stats.qmc.Sobol`); the other
values are sampled when the trial starts (TPE, random). The whole plan is enqueued in the Optuna
study (`Study.enqueue_trial`, the method and the planned values as user attrs "method" and
"planned"), so every trial knows its own method and the per-method budgets stay exact; a trial
lost to a crashed driver is enqueued again (`sweeps.execution.orphans`), and `sweep extend`
enqueues the rounds it adds.

Example:
    >>> from sweeps.study.study_file import load_study
    >>> [(p.method, p.values) for p in plan_trials(load_study("search_spaces/tiny.yaml"))]
    [('sgd', {}), ('sam', {}), ('sam', {})]
"""

from __future__ import annotations

import random
import warnings
from dataclasses import dataclass, field
from typing import Any

import optuna

from sweeps.errors import SweepError
from sweeps.study.spec import MAX_TRIALS, StudySpec
from sweeps.study.strategy import QMC, Grid

__all__ = ["PlannedTrial", "plan_trials", "plan_extension", "enqueue", "param_name"]


@dataclass(frozen=True)
class PlannedTrial:
    """A search trial's method and the values fixed for it in advance ({}: all sampled)."""

    method: str
    values: dict[str, Any] = field(default_factory=dict)


def param_name(method: str, key: str) -> str:
    """The Optuna name of a method's parameter: `"<method>/<key>"`."""
    return f"{method}/{key}"


def _qmc_points(study: StudySpec, method: str, start: int, n: int) -> list[dict[str, Any]]:
    """Points `start .. start + n - 1` of the method's scrambled Sobol sequence."""
    from scipy.stats import qmc

    dists = study.methods[method].sampled
    keys = sorted(dists)
    if n <= 0 or not keys:
        return [{} for _ in range(max(n, 0))]
    assert isinstance(study.sampler, QMC)
    sobol = qmc.Sobol(d=len(keys), scramble=study.sampler.scramble, seed=study.seed)
    if start:
        sobol.fast_forward(start)
    with warnings.catch_warnings():  # n need not be a power of 2 here
        warnings.simplefilter("ignore", UserWarning)
        units = sobol.random(n)
    return [{k: dists[k].from_unit(float(u)) for k, u in zip(keys, row, strict=True)}
            for row in units]


def _method_items(study: StudySpec, method: str) -> list[dict[str, Any]]:
    """The planned values of each of the method's trials, in order."""
    m, n = study.methods[method], study.trials_of(method)
    if not m.sampled:
        return [{}]
    items = [dict(p) for p in m.start_from]
    if isinstance(study.sampler, Grid):
        grid = m.grid()
        random.Random(study.seed).shuffle(grid)
        items += grid[:n]
    elif isinstance(study.sampler, QMC):
        items += _qmc_points(study, method, 0, n - len(items))
    return items + [{} for _ in range(n - len(items))]


def _interleave(items: dict[str, list[dict[str, Any]]]) -> list[PlannedTrial]:
    out: list[PlannedTrial] = []
    for r in range(max((len(v) for v in items.values()), default=0)):
        out += [PlannedTrial(m, v[r]) for m, v in items.items() if r < len(v)]
    return out


def plan_trials(study: StudySpec) -> list[PlannedTrial]:
    """Every search trial of `study`, in the order they start (`study.n_trials` of them)."""
    return _interleave({m: _method_items(study, m) for m in study.methods})


def plan_extension(study: StudySpec, extra: int) -> list[PlannedTrial]:
    """`extra` more trials of each method that samples something (after the study's own)."""
    if isinstance(study.sampler, Grid):
        raise SweepError(f"--trials: sweep {study.name!r} searches a grid, which it has run "
                         "in full; there is nothing more to sample")
    searched = sum(1 for spec in study.methods.values() if spec.sampled)
    if extra * max(searched, 1) + study.n_trials > MAX_TRIALS:
        raise SweepError(f"--trials: value {extra} is too large: the sweep would plan more than "
                         f"{MAX_TRIALS:,} search trials ({searched} searched method(s) x {extra} "
                         f"more, after {study.n_trials:,})")
    items = {}
    for m, spec in study.methods.items():
        if not spec.sampled:
            continue
        if isinstance(study.sampler, QMC):
            items[m] = _qmc_points(study, m, study.trials_of(m) - len(spec.start_from), extra)
        else:
            items[m] = [{} for _ in range(extra)]
    return _interleave(items)


def enqueue(ot_study: optuna.Study, planned: list[PlannedTrial]) -> None:
    """Enqueue `planned` in order: each trial carries its method and planned values."""
    for p in planned:
        ot_study.enqueue_trial({param_name(p.method, k): v for k, v in p.values.items()},
                               user_attrs={"method": p.method, "planned": p.values})
