"""The replay of `sweep run`'s search (`benchmarks.replay`) on small synthetic tables: what it costs,
when the Ray schedulers stop trials, two trials at a time, agreement with the old tabular search
and with Ray Tune itself driving `SweepSearch` and `ASHAScheduler`."""

from __future__ import annotations

import collections
import dataclasses
import functools
import random

import optuna
import pytest

from benchmarks.landscapes import Axis
from benchmarks.replay import SAMPLERS, SchedulerSpec, make_sampler, replay, suggest, to_grid
from benchmarks.search_efficiency import synthetic
from benchmarks.tabular_search import Curve, run_search, tpe_startup
from tests.support.spies import record_constructions

ASHA = SchedulerSpec("asha", 2, 3)  # rungs at epochs 2 and 6 of 12


def test_trials_cost_only_the_epochs_they_ran_and_asha_stops_only_at_its_rungs() -> None:
    land, table = synthetic()
    for workers in (1, 2):
        trials = replay(table, land.axes, "tpe", ASHA, budget=12, seed=0, workers=workers)
        assert len(trials) == 12
        assert any(not t.completed for t in trials), "ASHA stopped nothing"
        for t in trials:
            c = table[t.config]
            assert t.epochs == 12 if t.completed else t.epochs in (2, 6)
            assert (t.grad_evals, t.seconds) == (30 * t.epochs, pytest.approx(c.epoch_seconds[0] * t.epochs))
            assert t.val_acc == c.val_acc[t.epochs - 1]
            assert t.end == pytest.approx(t.start + t.seconds)


def test_no_stopping_runs_every_trial_to_the_end() -> None:
    land, table = synthetic()
    for sampler in SAMPLERS:
        trials = replay(table, land.axes, sampler, SchedulerSpec("none"), budget=5, seed=1)
        assert [t.epochs for t in trials] == [12] * 5 and all(t.completed for t in trials)


def test_two_workers_run_two_trials_side_by_side_in_recorded_epoch_time() -> None:
    land, table = synthetic()  # epoch seconds differ by m: 0.8, 1.6, 3.2 s
    trials = replay(table, land.axes, "random", SchedulerSpec("none"), budget=7, seed=2, workers=2)
    assert sorted(t.start for t in trials)[:2] == [0.0, 0.0]  # both workers start at once
    ends = sorted(t.end for t in trials)
    starts = sorted(t.start for t in trials)[2:]
    assert starts == pytest.approx(ends[:5])  # a freed worker takes the next trial at once
    for t in trials:  # never more than 2 in flight
        assert sum(u.start <= t.start < u.end for u in trials) <= 2
    seq = replay(table, land.axes, "random", SchedulerSpec("none"), budget=7, seed=2, workers=1)
    assert {t.config for t in seq} == {t.config for t in trials}  # random: same draws
    assert max(t.end for t in trials) < max(t.end for t in seq)


def test_median_stopping_stops_trials_below_the_median_after_the_grace_period() -> None:
    land, table = synthetic()
    spec = SchedulerSpec("median", 3, min_samples=2)
    trials = replay(table, land.axes, "random", spec, budget=12, seed=0)
    stopped = [t for t in trials if not t.completed]
    assert stopped and all(t.epochs >= 3 for t in stopped)
    assert all(t.completed for t in trials[:2])  # fewer than 2 other trials: never stopped


def test_grid_sampler_visits_each_point_once_and_survives_the_exhausted_grid() -> None:
    land, table = synthetic()
    for workers in (1, 2):
        trials = replay(table, land.axes, "grid", ASHA, budget=len(table), seed=4, workers=workers)
        assert sorted(t.config for t in trials) == sorted(table)
    full = replay(table, land.axes, "grid", SchedulerSpec("none"), len(table), seed=4)
    part = replay(table, land.axes, "grid", SchedulerSpec("none"), 4, seed=4)
    assert [t.config for t in part] == [t.config for t in full[:4]]  # the seed's shuffled order


def test_log_axes_give_each_grid_value_an_equal_share() -> None:
    axis = Axis("rho", (0.02, 0.0381, 0.0725, 0.138, 0.263, 0.5), True)
    assert [to_grid(axis, v) for v in axis.values] == list(axis.values)  # each value in its bin
    rng = random.Random(0)
    draws = [to_grid(axis, 0.02 * 25 ** rng.random()) for _ in range(6000)]
    assert all(900 < n < 1100 for n in collections.Counter(draws).values())
    lin = Axis("gsam_alpha", (0.0, 0.25, 0.5), False)
    assert [to_grid(lin, x) for x in (0.0, 0.16, 0.17, 0.5)] == [0.0, 0.0, 0.25, 0.5]


def test_samplers_use_the_sweeps_parameter_names_and_settings(monkeypatch) -> None:
    tpes = record_constructions(monkeypatch, optuna.samplers, "TPESampler")
    grids = record_constructions(monkeypatch, optuna.samplers, "GridSampler")
    land, _ = synthetic()
    tpe = make_sampler("tpe", land.axes, "sam", budget=12, seed=0, workers=2)
    assert isinstance(tpe, optuna.samplers.TPESampler)
    make_sampler("tpe", land.axes, "sam", 12, 0, workers=1)
    assert [(c["n_startup_trials"], c["multivariate"], c["group"], c["constant_liar"])
            for c in tpes] == [(4, True, True, True), (4, True, True, False)]
    grid = make_sampler("grid", land.axes, "sam", 12, 0, 1)
    assert isinstance(grid, optuna.samplers.GridSampler)
    (space,) = grids[0]["args"]
    assert sorted(space) == ["sam/perturb_batch_size", "sam/rho"]
    assert space["sam/rho"] == list(next(a for a in land.axes if a.key == "rho").values)
    with pytest.raises(ValueError):
        make_sampler("cmaes", land.axes, "sam", 12, 0, 1)


def test_hyperband_replays_are_reproducible() -> None:
    land, table = synthetic()
    spec = SchedulerSpec("hyperband", 2, 2, brackets=3)
    runs = [replay(table, land.axes, "tpe", spec, 10, seed=5, workers=2) for _ in range(2)]
    assert runs[0] == runs[1]


def test_replay_agrees_with_the_old_tabular_search_without_stopping() -> None:
    """With the old benchmark's space (the grid's values as categoricals) and sampler settings, the
    replay draws the same trials as `tabular_search` (which ran trials one after another)."""
    land, table = synthetic()
    cat = tuple(dataclasses.replace(a, log=None) for a in land.axes)
    for seed in range(3):
        for budget in (4, 9):
            old = run_search(table, "random", budget, seed)
            new = replay(table, cat, optuna.samplers.RandomSampler(seed=seed),
                         SchedulerSpec("none"), budget, seed)
            assert [(t.config, t.grad_evals) for t in new] == [(t.config, t.grad_evals) for t in old]
            old = run_search(table, "tpe", budget, seed)
            sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=tpe_startup(budget))
            new = replay(table, cat, sampler, SchedulerSpec("none"), budget, seed)
            assert [t.config for t in new] == [t.config for t in old]


def _define_by_run(axes: tuple[Axis, ...], trial: optuna.Trial) -> None:
    """`sweep run`'s define-by-run sampling of one method (module level: Tune pickles it)."""
    suggest(trial, axes, "sam")


@pytest.mark.ray
def test_replay_makes_the_decisions_ray_tune_makes(ray_local) -> None:
    """Ray Tune itself, one trial at a time, with `SweepSearch` (TPE) and an `ASHAScheduler`, on
    trainables that report a table's curves: the same configs, stopped at the same epochs."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    from samtrain.engine.status import RunStatus
    from sweeps.search.searcher import SweepSearch

    land, table = synthetic(epochs=8)
    spec, budget, seed = SchedulerSpec("asha", 2, 2), 10, 3
    ours = replay(table, land.axes, "tpe", spec, budget, seed)
    rhos = sorted(land.axes[0].values)
    curves = {k: list(c.val_acc) for k, c in table.items()}

    def trainable(config):  # nested: pickled by value with what it needs
        import math
        import time

        started = time.time()

        x = config["sam"]["rho"]
        rho = rhos[min(len(rhos) - 1, int(len(rhos) * math.log(x / rhos[0]) / math.log(rhos[-1] / rhos[0])))]
        vals = curves[(rho, config["sam"]["perturb_batch_size"])]
        for e, v in enumerate(vals, start=1):
            status = RunStatus.COMPLETED.value if e == len(vals) else RunStatus.RUNNING.value
            tune.report({"epoch": e, "val_acc": v, "status": status, "rho_grid": rho,
                         "started": started})

    searcher = SweepSearch(space=functools.partial(_define_by_run, land.axes), metric="val_acc", mode="max",
                           sampler=make_sampler("tpe", land.axes, "sam", budget, seed, 1))
    scheduler = ASHAScheduler(time_attr="epoch", metric="val_acc", mode="max", max_t=8,
                              grace_period=spec.grace, reduction_factor=spec.rf)
    grid = tune.Tuner(trainable, tune_config=tune.TuneConfig(
        search_alg=searcher, scheduler=scheduler, num_samples=budget, max_concurrent_trials=1),
        run_config=tune.RunConfig(verbose=0)).fit()
    got = sorted(grid, key=lambda r: r.metrics["started"])
    tune_trials = [((r.metrics["rho_grid"], r.config["sam"]["perturb_batch_size"]),
                    r.metrics["epoch"]) for r in got]
    assert tune_trials == [(t.config, t.epochs) for t in ours]
    assert any(e < 8 for _, e in tune_trials)


def test_unknown_scheduler_kind_is_an_error() -> None:
    with pytest.raises(ValueError):
        SchedulerSpec("pbt").build(10)
    assert SchedulerSpec("asha", 5, 3).label == "ASHA 5/3"
    assert SchedulerSpec("hyperband", 5, 3, brackets=3).label == "HB 5/3 x3"
    assert SchedulerSpec("median", 10, min_samples=3).label == "median 10/3"
    assert Curve((0.1,), (1.0,), (30,), 0.5).epochs == 1
