"""Validation noise around each method's winner: the SE of a score (binomial for one run's
accuracy, across seeds for several runs), and the configs within one SE of the best."""

from __future__ import annotations

import math
import statistics

import pytest

from sweeps.results.noise import binomial_se, noisy_best, score_se, validation_examples
from sweeps.results.selection import rank_configs


def _runs(make_record, values: dict[float, list[float]], n_val: int | None = 2000,
          metric: str = "val_acc"):
    """Search runs of sam: rho -> the final metric of each of its seeds."""
    out, t = [], iter(range(1000))
    for rho, vs in values.items():
        for seed, v in enumerate(vs):
            final = {metric: v, **({"val_examples": n_val} if n_val else {})}
            out.append(make_record("sam", "search", "completed", seed, {"rho": rho}, final, next(t)))
    return out


def test_binomial_se_is_the_formula():
    assert binomial_se(0.485, 2000) == pytest.approx(math.sqrt(0.485 * 0.515 / 2000))
    assert binomial_se(0.485, 2000) == pytest.approx(0.011175, abs=1e-6)   # 1.1 points
    assert math.isnan(binomial_se(0.5, 0)) and math.isnan(binomial_se(1.5, 10))


def test_one_run_accuracy_takes_the_binomial_se_of_its_validation_examples(make_record):
    records = _runs(make_record, {0.05: [0.50]}, n_val=1000)
    (best,) = rank_configs(records, "val_acc", "max")
    assert validation_examples(best) == 1000
    assert score_se(best, "val_acc") == pytest.approx(math.sqrt(0.25 / 1000))


def test_several_runs_take_the_se_across_seeds(make_record):
    records = _runs(make_record, {0.05: [0.50, 0.56, 0.53]})
    (best,) = rank_configs(records, "val_acc", "max")
    assert score_se(best, "val_acc") == pytest.approx(
        statistics.stdev([0.50, 0.56, 0.53]) / math.sqrt(3))


def test_a_one_run_loss_has_no_se_and_the_set_is_the_best_alone(make_record):
    records = _runs(make_record, {0.05: [0.30], 0.1: [0.3001]}, metric="val_loss")
    nb = noisy_best(records, "val_loss", "min")["sam"]
    assert math.isnan(nb.se) and [s.params["rho"] for s in nb.indistinguishable] == [0.05]


def test_within_one_se_of_the_best_counts_in_both_directions_and_nothing_beyond(make_record):
    se = math.sqrt(0.5 * 0.5 / 2000)                       # 0.01118 at p = 0.5
    values = {0.01: [0.5], 0.02: [0.5 - 0.9 * se], 0.05: [0.5 - 1.1 * se], 0.1: [0.5 - se / 2],
              0.2: [0.40]}
    nb = noisy_best(_runs(make_record, values), "val_acc", "max")["sam"]
    assert nb.best.params["rho"] == 0.01 and nb.se == pytest.approx(se)
    assert [s.params["rho"] for s in nb.indistinguishable] == [0.01, 0.1, 0.02]  # best first
    assert nb.n_configs == 5
    low = noisy_best(_runs(make_record, {0.01: [0.3], 0.02: [0.3 + 0.5 * se]},
                           metric="val_loss", n_val=None), "val_loss", "min")["sam"]
    assert [s.params["rho"] for s in low.indistinguishable] == [0.01]  # a loss: no SE, alone
