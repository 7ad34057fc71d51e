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


def _masked(make_record, masks: dict[float, list[list[bool]]]):
    """Search runs of sam whose params carry `val_correct` (one list of hits per seed)."""
    import numpy as np

    from samtrain.engine.epoch import correct_bitmask

    out, t = [], iter(range(1000))
    for rho, seeds in masks.items():
        for seed, hits in enumerate(seeds):
            rec = make_record("sam", "search", "completed", seed, {"rho": rho},
                              {"val_acc": sum(hits) / len(hits), "val_examples": len(hits)},
                              next(t))
            rec.params["val_correct"] = correct_bitmask(np.array(hits))
            out.append(rec)
    return out


def test_the_paired_se_comes_from_the_discordant_counts():
    import numpy as np

    from sweeps.results.noise import correct_mask, paired_difference_se

    a = np.array([1, 1, 1, 1, 0, 0, 1, 0, 1, 1], dtype=bool)
    b = np.array([1, 1, 0, 1, 0, 1, 1, 0, 0, 1], dtype=bool)   # b_only = 1, a_only = 2
    n, only_a, only_b = 10, 2, 1
    expected = math.sqrt((only_a + only_b - (only_a - only_b) ** 2 / n) / n ** 2)
    assert paired_difference_se(a, b) == pytest.approx(expected)
    d = a.astype(float) - b.astype(float)                        # the same: SE of a mean
    assert expected == pytest.approx(d.std(ddof=0) / math.sqrt(n))
    assert math.isnan(paired_difference_se(a, b[:5]))
    assert correct_mask("n3:e0").tolist() == [True, True, True]
    assert correct_mask(None) is None and correct_mask("n9:zz") is None


def test_configs_within_one_paired_se_use_the_bitmasks(make_record):
    """Two configs that agree on almost every image differ by 2 images in 200: the paired SE is
    sqrt(2 - 4/200)/200 = 0.0070, far below the binomial SE 0.035: the 1 % gap is beyond it,
    though the binomial rule would call the two indistinguishable."""
    best = [True] * 100 + [False] * 100
    other = [True] * 98 + [False] * 102                          # 2 discordant images
    nb = noisy_best(_masked(make_record, {0.05: [best], 0.1: [other]}), "val_acc", "max")["sam"]
    assert nb.se_kind == "paired"
    key = nb.indistinguishable[0].group_key
    diff_key = next(k for k in nb.diff_se if k != key)
    assert nb.diff_se[diff_key] == pytest.approx(math.sqrt(2 - 4 / 200) / 200)
    assert [s.params["rho"] for s in nb.indistinguishable] == [0.05]
    assert nb.se == pytest.approx(math.sqrt(0.25 / 200))          # the best's own SE, shown


def test_seed_variance_adds_to_the_paired_se_and_old_runs_fall_back(make_record):
    best = [[True] * 60 + [False] * 40, [True] * 62 + [False] * 38]
    other = [[True] * 59 + [False] * 41]
    nb = noisy_best(_masked(make_record, {0.05: best, 0.1: other}), "val_acc", "max")["sam"]
    seed_var = statistics.variance([0.60, 0.62]) / 2
    mcnemar = (1 - 1 / 100) / 100 ** 2                             # first runs: 1 discordant
    assert list(nb.diff_se.values()) == [pytest.approx(math.sqrt(mcnemar + seed_var))]
    records = _runs(make_record, {0.05: [0.5], 0.1: [0.49]}, n_val=2000)   # no bitmask
    old = noisy_best(records, "val_acc", "max")["sam"]
    assert old.se_kind == "own" and old.diff_se == {}
    assert [s.params["rho"] for s in old.indistinguishable] == [0.05, 0.1]   # binomial SE
