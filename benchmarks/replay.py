"""Replay `sweep run`'s search of one method on a table of learning curves, with the library
classes themselves: an Optuna sampler driven by ask/tell, a Ray Tune scheduler driven with fake
trial objects, `workers` trials at a time, each trial's results arriving epoch by epoch.

What is replayed, as Tune drives `SweepSearch` (Optuna) and the scheduler in `sweep run`:
- a trial is asked from Optuna (define-by-run, parameters named `"<method>/<key>"`: a
  `loguniform` key is sampled as a float, a `choice` key as a categorical) and added to the
  scheduler (`on_trial_add`); the sampled config maps to the table's grid point (a float to the
  value of its bin: the range is cut into as many equal log-width bins as the grid has values);
- every epoch, a result `{"epoch", "training_iteration", metric}` goes to the scheduler's
  `on_trial_result`; on CONTINUE it also goes to Optuna (`trial.report(metric, epoch)`);
- a trial ends when the scheduler says STOP or at its last epoch: then `on_trial_complete` with
  its last result, and Optuna is told the final value (last epoch) or PRUNED (stopped earlier);
- with `workers` > 1, trials run side by side: the next event is the epoch that ends first by
  the table's recorded `epoch_seconds`; a freed worker asks for the next trial at once. Tune asks
  the first `workers` trials before any result arrives.

Samplers (`make_sampler`), as `sweeps/execution/runner.py` builds them: `tpe` (multivariate, group,
`n_startup_trials = max(1, min(10, budget // 3))`, constant liar with more than one worker),
`random`, `grid` (the grid's values, shuffled by the seed) and `qmc` (scrambled Sobol). The
scheduler is one instance per method (one method here); `None` is Tune's FIFO (no stopping).

Example:
    >>> from benchmarks.tabular_search import Curve
    >>> c = Curve((0.1, 0.2), (1.0, 1.0), (30, 60), 0.5)
    >>> table = {(r, m): c for r in (0.1, 1.0) for m in (16, 32)}
    >>> space = (Axis("rho", (0.1, 1.0), True), Axis("perturb_batch_size", (16, 32), None))
    >>> [t.epochs for t in replay(table, space, "random", SchedulerSpec("none"), 3, seed=0)]
    [2, 2, 2]
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna

from benchmarks.landscapes import Axis
from benchmarks.tabular_search import Curve, Table

SAMPLERS = ("tpe", "random", "grid", "qmc")
METRIC = "val_acc"


@dataclass(frozen=True)
class SchedulerSpec:
    """A scheduler as a study names it: `kind` in none, asha, hyperband, median."""

    kind: str
    grace: int = 0
    rf: float = 0.0
    brackets: int = 1
    min_samples: int = 3

    @property
    def label(self) -> str:
        """A short name, e.g. `ASHA 5/3`, `HB 5/3 x3`, `median 10/3`."""
        if self.kind == "none":
            return "no stopping"
        if self.kind == "median":
            return f"median {self.grace}/{self.min_samples}"
        name = "ASHA" if self.kind == "asha" else "HB"
        tail = f" x{self.brackets}" if self.kind == "hyperband" else ""
        return f"{name} {self.grace}/{self.rf:g}{tail}"

    def build(self, max_t: int) -> Any:
        """The Ray scheduler (`None` for no stopping), metric `val_acc`, mode max."""
        from ray.tune.schedulers import ASHAScheduler, AsyncHyperBandScheduler, MedianStoppingRule

        common = dict(time_attr="epoch", metric=METRIC, mode="max")
        if self.kind == "none":
            return None
        if self.kind == "asha":
            return ASHAScheduler(**common, max_t=max_t, grace_period=self.grace,
                                 reduction_factor=self.rf)
        if self.kind == "hyperband":
            return AsyncHyperBandScheduler(**common, max_t=max_t, grace_period=self.grace,
                                           reduction_factor=self.rf, brackets=self.brackets)
        if self.kind == "median":
            return MedianStoppingRule(**common, grace_period=self.grace,
                                      min_samples_required=self.min_samples)
        raise ValueError(f"unknown scheduler kind {self.kind!r}")


@dataclass(frozen=True)
class RTrial:
    """One replayed trial: its grid point, the epochs it ran, and when (replay seconds)."""

    config: tuple[Any, ...]
    epochs: int
    completed: bool
    val_acc: float  # at its last epoch run
    grad_evals: int
    seconds: float
    start: float
    end: float


@dataclass(eq=False)
class FakeTrial:
    """What the Ray schedulers read of a Tune trial (hashable by identity, as Tune's)."""

    trial_id: str
    config: dict[str, Any]
    status: str = "RUNNING"


class FakeController:
    """The controller a scheduler may ask for live trials: none pending (the concurrency limit
    keeps Tune from queueing trials beyond the running ones)."""

    def get_live_trials(self) -> list[FakeTrial]:
        return []


def make_sampler(name: str, space: tuple[Axis, ...], method: str, budget: int, seed: int,
                 workers: int) -> optuna.samplers.BaseSampler:
    """The Optuna sampler of a study with `sampler: name` and `budget` trials of this method."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "tpe":
            return optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=max(1, min(10, budget // 3)), multivariate=True,
                group=True, constant_liar=workers > 1)
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if name == "grid":
            return optuna.samplers.GridSampler(
                {f"{method}/{a.key}": list(a.values) for a in space}, seed=seed)
        if name == "qmc":
            return optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=seed,
                                              warn_independent_sampling=False)
    raise ValueError(f"unknown sampler {name!r}; one of {SAMPLERS}")


def suggest(trial: optuna.Trial, space: tuple[Axis, ...], method: str) -> tuple[Any, ...]:
    """Sample the method's space (define-by-run, in the study's key order); the grid point."""
    point = []
    for a in space:
        name = f"{method}/{a.key}"
        if a.log is None:
            point.append(trial.suggest_categorical(name, list(a.values)))
            continue
        point.append(to_grid(a, trial.suggest_float(name, min(a.values), max(a.values),
                                                    log=bool(a.log))))
    return tuple(point)


def to_grid(axis: Axis, x: float) -> Any:
    """The grid value standing for a sampled float `x`: [min, max] of the values is cut into as
    many bins of equal width (equal log-width for a log axis) as there are values, each value in
    its own bin (edges at 0.0585 and 0.171 here), so each value gets an equal share of the
    sampling distribution.

    >>> [to_grid(Axis("rho", (0.02, 0.1, 0.5), True), x) for x in (0.02, 0.05, 0.06, 0.49, 0.5)]
    [0.02, 0.02, 0.1, 0.5, 0.5]
    """
    values = sorted(axis.values)
    lo, hi = values[0], values[-1]
    frac = math.log(x / lo) / math.log(hi / lo) if axis.log else (x - lo) / (hi - lo)
    return values[max(0, min(len(values) - 1, int(frac * len(values))))]


@dataclass
class _Running:
    """A trial in flight on one worker."""

    trial: optuna.Trial
    fake: FakeTrial
    config: tuple[Any, ...]
    curve: Curve
    start: float
    clock: float
    epoch: int = 0
    history: list[float] = field(default_factory=list)


def replay(table: Table, space: tuple[Axis, ...], sampler: str | optuna.samplers.BaseSampler,
           scheduler: SchedulerSpec, budget: int, seed: int, workers: int = 1,
           method: str = "sam") -> list[RTrial]:
    """One search of `budget` trials; the trials in the order they ended."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if isinstance(sampler, str):
        sampler = make_sampler(sampler, space, method, budget, seed, workers)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    max_t = max(c.epochs for c in table.values())
    sched = scheduler.build(max_t)
    np.random.seed(seed)  # AsyncHyperBandScheduler draws each trial's bracket from numpy's RNG
    ctrl, slots, done, asked = FakeController(), [None] * workers, [], 0

    def start(now: float) -> _Running:
        nonlocal asked
        ot = study.ask()
        config = suggest(ot, space, method)
        fake = FakeTrial(str(asked), {"trial": {"method": method}})
        asked += 1
        if sched is not None:
            sched.on_trial_add(ctrl, fake)
        return _Running(ot, fake, config, table[config], now, now)

    for w in range(min(workers, budget)):
        slots[w] = start(0.0)
    while any(slots):
        w = min((i for i, s in enumerate(slots) if s),
                key=lambda i: (slots[i].clock + slots[i].curve.epoch_seconds[slots[i].epoch], i))
        run = slots[w]
        run.clock += run.curve.epoch_seconds[run.epoch]
        run.epoch += 1
        acc = run.curve.val_acc[run.epoch - 1]
        result = {"epoch": run.epoch, "training_iteration": run.epoch, METRIC: acc}
        decision = "CONTINUE" if sched is None else sched.on_trial_result(ctrl, run.fake, result)
        last = run.epoch == run.curve.epochs
        if decision != "STOP":
            run.trial.report(acc, run.epoch)
        if decision != "STOP" and not last:
            continue
        if sched is not None:
            sched.on_trial_complete(ctrl, run.fake, result)
        run.fake.status = "TERMINATED"
        _tell(study, run.trial, acc if last else None)
        ge, secs = run.curve.cost(run.epoch)
        done.append(RTrial(run.config, run.epoch, last, acc, ge, secs, run.start, run.clock))
        slots[w] = start(run.clock) if asked < budget else None
    return done


def _tell(study: optuna.Study, trial: optuna.Trial, value: float | None) -> None:
    """Tell Optuna the final value, or PRUNED (`None`). `GridSampler` calls `study.stop()` once
    the grid is used up, which raises outside `optimize`; Tune's `OptunaSearch` logs that
    exception and goes on, and so does this."""
    try:
        if value is None:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, value)
    except RuntimeError:
        if not isinstance(study.sampler, optuna.samplers.GridSampler):
            raise
