"""The old tabular search simulation (`benchmarks.tabular_search`) on a tiny synthetic table; the
replay of `benchmarks.replay` is checked against it in `test_replay.py`."""

from __future__ import annotations

import dataclasses
import random

import pytest

from benchmarks.tabular_search import (
    SEARCHERS,
    Curve,
    Table,
    Trial,
    compute_to_reach,
    grid_best,
    pick,
    run_search,
    summarize,
    tpe_startup,
)

EPOCHS = 20


def curve(final: float, early: float, seconds: float = 1.0, test: float = 0.5) -> Curve:
    """A learning curve rising linearly from `early` to `final`; 30 grad evals an epoch."""
    val = tuple(early + (final - early) * e / (EPOCHS - 1) for e in range(EPOCHS))
    return Curve(val, (seconds,) * EPOCHS, tuple(30 * (e + 1) for e in range(EPOCHS)), test)


def make_table() -> Table:
    rng = random.Random(1)
    return {(rho, m): curve(0.5 + 0.3 * rng.random(), 0.1 + 0.3 * rng.random(),
                            seconds=0.1 * m, test=rng.random())
            for rho in (0.02, 0.05, 0.1, 0.2) for m in (16, 32, 64)}


def test_pruned_trial_costs_only_its_epochs() -> None:
    table = make_table()
    trials = run_search(table, "tpe_asha", budget=12, seed=0)
    pruned = [t for t in trials if not t.completed]
    assert pruned, "ASHA pruned nothing on a table with widely spread curves"
    for t in trials:
        c = table[t.config]
        assert t.epochs == EPOCHS if t.completed else t.epochs < EPOCHS
        assert t.grad_evals == 30 * t.epochs
        assert t.seconds == pytest.approx(c.epoch_seconds[0] * t.epochs)
        assert t.val_acc == c.val_acc[t.epochs - 1]
    assert {t.epochs for t in pruned} <= {5, 15}  # ASHA's rungs: grace 5, reduction factor 3
    assert summarize(table, trials)["grad_evals"] == sum(t.grad_evals for t in trials)


def test_compute_to_reach_on_a_constructed_sequence() -> None:
    trials = [Trial((0.1, 16), 20, True, 0.60, 600, 10.0),
              Trial((0.2, 16), 5, False, 0.95, 150, 2.0),   # pruned: never counts as reached
              Trial((0.3, 16), 20, True, 0.70, 600, 10.0),
              Trial((0.4, 16), 20, True, 0.80, 600, 10.0)]
    assert compute_to_reach(trials, 0.70) == (1350, 22.0)
    assert compute_to_reach(trials, 0.75) == (1950, 32.0)
    assert compute_to_reach(trials, 0.90) is None
    assert compute_to_reach(trials, 0.50) == (600, 10.0)


def test_tpe_startup_sized_to_the_budget() -> None:
    assert [tpe_startup(b) for b in (1, 3, 6, 12, 24, 30, 100)] == [1, 1, 2, 4, 8, 10, 10]


def test_pick_is_the_best_completed_trial() -> None:
    trials = [Trial((0.1, 16), 20, True, 0.70, 600, 1.0),
              Trial((0.2, 16), 5, False, 0.99, 150, 1.0),
              Trial((0.3, 16), 20, True, 0.80, 600, 1.0),
              Trial((0.4, 16), 20, True, 0.80, 600, 1.0)]
    assert pick(trials) == trials[2]  # pruned trials never win; ties go to the earlier trial
    assert pick(trials[1:2]) is None
    table = make_table()
    for searcher in SEARCHERS:
        ts = run_search(table, searcher, budget=8, seed=3)
        best = max(t.val_acc for t in ts if t.completed)
        assert pick(ts) is not None and pick(ts).val_acc == best  # type: ignore[union-attr]


def test_full_grid_finds_the_grid_best() -> None:
    table = make_table()
    s = summarize(table, run_search(table, "grid", budget=len(table), seed=5))
    assert s["pick"] == grid_best(table)[0]
    assert s["reach_grad_evals"] is not None and s["reach_grad_evals"] <= s["grad_evals"]


def test_test_accuracy_never_influences_the_pick() -> None:
    table = make_table()
    tests = [c.test_acc for c in table.values()]
    random.Random(7).shuffle(tests)
    shuffled = {k: dataclasses.replace(c, test_acc=t) for (k, c), t in zip(table.items(), tests, strict=True)}
    for searcher in SEARCHERS:
        for seed in (0, 1):
            a = run_search(table, searcher, budget=8, seed=seed)
            b = run_search(shuffled, searcher, budget=8, seed=seed)
            assert a == b
            assert summarize(table, a)["pick"] == summarize(shuffled, b)["pick"]
