"""Tuning-budget curves (`sweeps.results.tuning_curves`): Dodge et al.'s expected maximum and
the test score of its pick against a brute-force enumeration of every draw with replacement,
the trial pool (pruned kept at their last value, failed out), the bootstrap band, the
device-seconds axis, and P(best at budget k) against exact enumeration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sweeps.results.tuning_curves import expected_max, iid_note, prob_best, tuning_curve
from sweeps.store.schema import RunRecord
from sweeps.study.study_file import parse_study

VAL = [0.30, 0.10, 0.50, 0.20, 0.45]
TEST = [0.28, 0.12, 0.40, 0.22, 0.47]


def brute(values, k, pick=None, best=max):
    """Mean over all n^k draws with replacement of the best draw's value (or of `pick`'s)."""
    pick = values if pick is None else pick
    draws = list(itertools.product(range(len(values)), repeat=k))
    return np.mean([pick[best(d, key=lambda i: values[i])] for d in draws])


def test_expected_max_is_the_mean_best_of_all_draws_with_replacement():
    got = expected_max(VAL)
    assert got == pytest.approx([brute(VAL, k) for k in range(1, 6)], abs=1e-12)
    assert got[0] == pytest.approx(np.mean(VAL)) and got[-1] < max(VAL)
    low = expected_max(VAL, 3, mode="min")
    assert low == pytest.approx([brute(VAL, k, best=min) for k in range(1, 4)], abs=1e-12)


def run(i, val, status="completed", test=None, secs=10.0, method="sam", phase="search",
        group=None, epochs=3, history=()):
    final = {"epoch": float(epochs), "val_acc": val, **({"test_acc": test} if test else {})}
    return RunRecord(f"r{i}", method, phase, status, group or f"g{i}", i, {"epochs": 3}, final,
                     history=list(history), device_seconds=secs)


def test_curve_weights_the_test_score_of_the_validation_pick_and_counts_seconds():
    recs = [run(i, v, test=t, secs=10.0 + i) for i, (v, t) in enumerate(zip(VAL, TEST, strict=True))]
    c = tuning_curve(recs, "sam", "val_acc", "max", "test_acc", n_boot=500)
    assert c.n == 5 and c.expected == pytest.approx(expected_max(VAL))
    assert c.test == pytest.approx([brute(VAL, k, TEST) for k in range(1, 6)], abs=1e-12)
    assert c.seconds == pytest.approx(12.0 * np.arange(1, 6))     # k x the mean seconds
    assert np.all(c.band_low <= c.band_high) and c.band_high[-1] - c.band_low[-1] > 0
    assert c.band_low[0] <= c.expected[0] <= c.band_high[0]
    # a confirmed config's test score is its confirm seeds' mean, not its search run's
    confirm = [run(10 + s, 0.5, test=0.30 + 0.02 * s, phase="confirm", group="g2")
               for s in range(3)]
    d = tuning_curve(recs + confirm, "sam", "val_acc", "max", "test_acc", n_boot=100)
    moved = TEST[:2] + [0.32] + TEST[3:]
    assert d.test == pytest.approx([brute(VAL, k, moved) for k in range(1, 6)], abs=1e-12)
    # a trial without a test score: no test curve
    assert tuning_curve(recs + [run(9, 0.2)], "sam", "val_acc", "max", "test_acc").test is None


def test_pruned_trials_count_at_their_last_value_failed_ones_not_at_all():
    pruned = run(7, 0.05, status="pruned", epochs=1, history=[{"epoch": 1.0, "val_acc": 0.05}])
    failed = run(8, 0.99, status="failed")
    diverged = run(9, float("nan"), status="diverged")
    c = tuning_curve([run(i, v) for i, v in enumerate(VAL)] + [pruned, failed, diverged],
                     "sam", "val_acc", "max", n_boot=50)
    assert (c.n, c.pruned, c.diverged) == (7, 1, 1)
    # the diverged trial without a finite value scores as the pool's worst (the pruned 0.05)
    assert c.expected == pytest.approx(expected_max(VAL + [0.05, 0.05]))
    assert tuning_curve([failed], "sam", "val_acc", "max") is None


def test_probability_best_at_budget_k_against_exact_enumeration():
    pools = {"a": np.array([0.1, 0.4, 0.6]), "b": np.array([0.3, 0.5]), "c": np.array([0.5])}
    got = prob_best(pools, 3, n_draws=20_000, seed=1)

    def exact(k):
        wins = dict.fromkeys(pools, 0.0)
        draws = [list(itertools.product(v, repeat=k)) for v in pools.values()]
        total = 0
        for combo in itertools.product(*draws):
            best = [max(d) for d in combo]
            top = [m for m, b in zip(pools, best, strict=True) if b == max(best)]
            for m in top:
                wins[m] += 1 / len(top)
            total += 1
        return {m: w / total for m, w in wins.items()}

    for k in (1, 2, 3):
        want = exact(k)
        for m in pools:
            assert got[m][k - 1] == pytest.approx(want[m], abs=0.015)
    assert sum(got[m][0] for m in pools) == pytest.approx(1.0)


def test_the_output_says_tpe_and_asha_trials_are_not_iid():
    tpe = parse_study("name: t\nmetric: val_acc\nscheduler: {type: asha}\nmethods:\n"
                      "  sam: {space: {rho: {loguniform: [0.01, 0.5]}}}\n")
    note = iid_note(tpe)
    assert "TPE trials are not i.i.d. draws" in note and "ASHA stopped some early" in note
    rnd = parse_study("name: t\nmetric: val_acc\nsampler: random\nscheduler: none\nmethods:\n"
                      "  sam: {space: {rho: {loguniform: [0.01, 0.5]}}}\n")
    assert "random trials are independent draws" in iid_note(rnd)
