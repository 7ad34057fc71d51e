"""The Pareto set: exactly the configs no other config beats on every objective."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from sweeps.results.pareto import Objective, pareto_configs, pareto_indices


def _brute_force(points, modes):
    def better_or_equal(a, b):
        return all((x >= y) if m == "max" else (x <= y) for x, y, m in zip(a, b, modes, strict=True))
    return [i for i, p in enumerate(points)
            if not any(better_or_equal(q, p) and q != p for q in points)]


@pytest.mark.parametrize("seed", range(5))
def test_pareto_indices_equal_the_definition_on_random_points(seed):
    rng = random.Random(seed)
    points = [(rng.choice([0.5, 0.6, 0.7, 0.8]), rng.choice([100, 200, 300])) for _ in range(15)]
    assert pareto_indices(points, ["max", "min"]) == _brute_force(points, ["max", "min"])


def test_nan_points_are_never_in_the_set_and_ties_both_stay():
    assert pareto_indices([(0.9, math.nan), (0.8, 1.0), (0.8, 1.0)], ["max", "min"]) == [1, 2]


def test_the_non_dominated_configs_of_a_hand_built_record_set(make_record):
    """val_acc (max) vs grad_evals (min): sam's two configs and sgd's trade off; obf's high-rho
    config is dominated by sam's (worse accuracy, same compute), pruned runs never count."""
    r, t = make_record, itertools.count()
    records = [
        r("sgd", "search", "completed", 0, {"perturbation": "none"}, {"val_acc": 0.70}, next(t)),
        r("sam", "search", "completed", 0, {"rho": 0.05}, {"val_acc": 0.80}, next(t)),
        r("sam", "search", "completed", 1, {"rho": 0.05}, {"val_acc": 0.82}, next(t)),
        r("sam", "search", "completed", 0, {"rho": 0.1, "perturb_batch_size": 16},
          {"val_acc": 0.85, "grad_evals": 900.0}, next(t)),
        r("obf", "search", "completed", 0, {"perturbation": "obf", "rho": 0.3},
          {"val_acc": 0.75}, next(t)),
        r("obf", "search", "pruned", 0, {"perturbation": "obf", "rho": 0.4},
          {"val_acc": 0.99}, next(t), reached=1),
    ]
    # make_record: grad_evals 100 (sgd) or 200 (SAM family) per epoch x 3 epochs
    points = pareto_configs(records, [Objective("val_acc", "max"), Objective("grad_evals", "min")])
    got = [(p.score.method, p.score.params.get("rho"), p.values) for p in points]
    assert got == [("sam", 0.1, (0.85, 900.0)), ("sam", 0.05, (pytest.approx(0.81), 600.0)),
                   ("sgd", 0.05, (0.70, 300.0))]
    assert points[1].score.n == 2
