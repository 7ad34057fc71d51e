"""The search plan: each method's trials in order (start points, grid or Sobol points, sampled
ones), round-robin over methods, enqueued in Optuna with their method; extensions continue it."""

from __future__ import annotations

import optuna
import pytest
from scipy.stats import qmc

from sweeps.errors import SweepError
from sweeps.search.plan import PlannedTrial, enqueue, plan_extension, plan_trials
from sweeps.study.study_file import parse_study

BASE = "base: {dataset: digits, model: small_cnn, epochs: 2, batch_size: 128}\n"
METHODS = """methods:
  sgd: {fixed: {perturbation: none}}
  sam:
    space:
      rho: {loguniform: [0.01, 0.5]%s}
      perturb_batch_size: {choice: [16, 32]}
%s"""


def study(top: str, values: str = "", more: str = ""):
    return parse_study(BASE + top + METHODS % (values, more))


def test_a_grid_plans_every_point_once_in_a_seeded_shuffled_order():
    s = study("sampler: grid\nseed: 1\n", values=", values: [0.02, 0.1, 0.3]")
    plan = plan_trials(s)
    sam = [p.values for p in plan if p.method == "sam"]
    assert len(plan) == 7 and plan[0] == PlannedTrial("sgd", {})
    assert sorted((v["rho"], v["perturb_batch_size"]) for v in sam) == sorted(
        (r, m) for r in (0.02, 0.1, 0.3) for m in (16, 32))
    assert sam == [p.values for p in plan_trials(s) if p.method == "sam"]          # seeded
    other = study("sampler: grid\nseed: 2\n", values=", values: [0.02, 0.1, 0.3]")
    assert sam != [p.values for p in plan_trials(other) if p.method == "sam"]
    capped = study("sampler: grid\nbudget: 4\n", values=", values: [0.02, 0.1, 0.3]")
    assert sum(p.method == "sam" for p in plan_trials(capped)) == 4


def test_start_points_come_first_then_the_sampled_trials_round_robin():
    s = study("budget: 3\n", more="    start_from: [{rho: 0.05, perturb_batch_size: 32}]\n")
    assert plan_trials(s) == [PlannedTrial("sgd", {}),
                              PlannedTrial("sam", {"rho": 0.05, "perturb_batch_size": 32}),
                              PlannedTrial("sam", {}), PlannedTrial("sam", {})]


def test_qmc_maps_a_scrambled_sobol_sequence_onto_the_space_and_extends_it():
    s = study("sampler: qmc\nbudget: 4\nseed: 3\n")
    sam = [p.values for p in plan_trials(s) if p.method == "sam"]
    units = qmc.Sobol(d=2, scramble=True, seed=3).random(8)
    d = s.methods["sam"].space
    want = [{"perturb_batch_size": d["perturb_batch_size"].from_unit(u[0]),
             "rho": d["rho"].from_unit(u[1])} for u in units]
    assert sam == want[:4]
    more = [p.values for p in plan_extension(s, 4)]
    assert more == want[4:]                                    # the same sequence, continued
    assert all(0.01 <= v["rho"] <= 0.5 for v in sam + more)


def test_an_extension_adds_trials_to_searched_methods_only_and_never_to_a_grid():
    s = study("budget: 2\n")
    assert plan_extension(s, 3) == [PlannedTrial("sam", {})] * 3
    with pytest.raises(SweepError, match="searches a grid"):
        plan_extension(study("sampler: grid\n", values=", values: [0.1]"), 1)


def test_enqueued_trials_are_asked_in_plan_order_with_their_method_and_values():
    s = study("budget: 2\n", more="    start_from: [{rho: 0.05}]\n")
    ot = optuna.create_study()
    enqueue(ot, plan_trials(s))
    asked = [ot.ask() for _ in range(3)]
    assert [t.user_attrs["method"] for t in asked] == ["sgd", "sam", "sam"]
    assert asked[1].suggest_float("sam/rho", 0.01, 0.5, log=True) == 0.05
    assert asked[1].user_attrs["planned"] == {"rho": 0.05}
    assert asked[2].user_attrs["planned"] == {}


SHARED = "shared_space: {lr: {loguniform: [0.01, 0.2]%s}}\n"


def test_the_shared_space_is_planned_for_every_method_the_baseline_included():
    s = study("budget: 3\n" + SHARED % "",
              more="    start_from: [{rho: 0.05, lr: 0.1}]\n")
    assert plan_trials(s) == [PlannedTrial("sgd", {}),
                              PlannedTrial("sam", {"rho": 0.05, "lr": 0.1}),
                              PlannedTrial("sgd", {}), PlannedTrial("sam", {}),
                              PlannedTrial("sgd", {}), PlannedTrial("sam", {})]
    assert plan_extension(s, 1) == [PlannedTrial("sgd", {}), PlannedTrial("sam", {})]


def test_a_grid_and_a_sobol_design_span_the_merged_space():
    grid = study("sampler: grid\n" + SHARED % ", values: [0.05, 0.1]",
                 values=", values: [0.02, 0.1, 0.3]")
    plan = plan_trials(grid)
    assert sorted(p.values["lr"] for p in plan if p.method == "sgd") == [0.05, 0.1]
    assert len([p for p in plan if p.method == "sam"]) == 2 * 3 * 2   # lr x rho x m
    s = study("sampler: qmc\nbudget: 4\nseed: 3\n" + SHARED % "")
    sgd = [p.values for p in plan_trials(s) if p.method == "sgd"]
    units = qmc.Sobol(d=1, scramble=True, seed=3).random(4)
    assert sgd == [{"lr": s.methods["sgd"].space["lr"].from_unit(u[0])} for u in units]
    sam = [p.values for p in plan_trials(s) if p.method == "sam"]
    assert all(set(v) == {"lr", "perturb_batch_size", "rho"} for v in sam)
