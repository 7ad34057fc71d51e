"""Samplers, schedulers, grids and start points as a study file writes them: defaults, every
one-line error, and how many trials each method then runs."""

from __future__ import annotations

import pytest

from sweeps.errors import SpaceError
from sweeps.study.strategy import (
    QMC,
    TPE,
    Grid,
    Hyperband,
    Median,
    Random,
    grace_period,
    parse_sampler,
    parse_scheduler,
)
from sweeps.study.study_file import parse_study

BASE = "base: {dataset: digits, model: small_cnn, epochs: 8, batch_size: 128}\n"
SAM = ("  sgd: {fixed: {perturbation: none}}\n"
       "  sam:\n    space:\n      rho: {loguniform: [0.01, 0.5]%s}\n"
       "      perturb_batch_size: {choice: [16, 32, 64]}\n%s")


def study(top: str = "", values: str = "", more: str = ""):
    return parse_study(BASE + top + "methods:\n" + SAM % (values, more))


def err(top: str = "", values: str = "", more: str = "") -> str:
    with pytest.raises(SpaceError) as e:
        study(top, values, more)
    assert "\n" not in str(e.value)
    return str(e.value)


@pytest.mark.parametrize("raw, want", [
    (None, TPE()), ("tpe", TPE()), ("random", Random()), ("grid", Grid()), ("qmc", QMC()),
    ({"type": "tpe", "constant_liar": True, "n_startup_trials": 4},
     TPE(constant_liar=True, n_startup_trials=4)),
    ({"type": "qmc", "scramble": False}, QMC(scramble=False)),
])
def test_samplers_parse_with_their_defaults(raw, want):
    assert parse_sampler(raw) == want


def test_sampler_errors_name_key_value_and_what_is_allowed():
    assert err("sampler: cmaes\n") == (
        "sampler.type: value 'cmaes' is unknown; allowed: tpe, random, grid, qmc")
    assert err("sampler: {type: random, multivariate: true}\n") == (
        "sampler.multivariate: unknown key for type random (value True); allowed: type")
    assert err("sampler: [tpe]\n").startswith("sampler: value ['tpe'] is invalid")


@pytest.mark.parametrize("raw, max_t, want", [
    ("asha", 40, 10), ("asha", 2, 1), ({"type": "asha", "grace_period": 3}, 40, 3),
    ({"type": "hyperband"}, 12, 3), ({"type": "median"}, 7, 2)])
def test_the_default_grace_period_is_a_quarter_of_the_epochs(raw, max_t, want):
    assert grace_period(parse_scheduler(raw), max_t) == want


def test_scheduler_types_and_options():
    assert parse_scheduler({"type": "median", "min_samples_required": 2}) == Median(min_samples_required=2)
    assert parse_scheduler({"type": "hyperband", "brackets": 1}) == Hyperband(brackets=1)
    assert parse_scheduler("none") is None and parse_scheduler(None) is None


def test_a_grid_runs_every_point_of_the_cartesian_product_capped_by_the_budget():
    s = study("sampler: grid\n", values=", values: [0.02, 0.05, 0.1, 0.2]")
    assert s.trials_of("sam") == 12 and s.trials_of("sgd") == 1 and s.n_trials == 13
    assert len(s.methods["sam"].grid()) == 12
    assert {p["perturb_batch_size"] for p in s.methods["sam"].grid()} == {16, 32, 64}
    capped = study("sampler: grid\nbudget: 5\n", values=", values: [0.02, 0.05, 0.1, 0.2]")
    assert capped.trials_of("sam") == 5


def test_grid_values_are_required_by_a_grid_and_refused_by_other_samplers():
    assert err("sampler: grid\n") == ("methods.sam.space.rho: sampler grid needs its points: add "
                                      "`values: [...]` (or use choice)")
    assert err("", values=", values: [0.05]") == (
        "methods.sam.space.rho.values: value [0.05] is only used by sampler grid (this study's "
        "sampler: tpe)")
    assert err("sampler: grid\n", values=", values: [0.05, 0.9]") == (
        "methods.sam.space.rho.values: value 0.9 is invalid: must be a finite number in [0.01, 0.5]")


def test_grid_points_must_each_build_a_config():
    text = (BASE + "sampler: grid\nmethods:\n  sam:\n    space:\n"
            "      perturb_batch_size: {int: [16, 128], values: [16, 48]}\n")
    with pytest.raises(SpaceError, match="grid point perturb_batch_size=48: .*must divide"):
        parse_study(text)


def test_start_points_come_from_the_space_and_count_toward_the_budget():
    s = study("budget: 3\n", more="    start_from:\n      - {rho: 0.05, perturb_batch_size: 64}\n"
                                  "      - {rho: 0.1}\n")
    assert s.methods["sam"].start_from == ({"rho": 0.05, "perturb_batch_size": 64}, {"rho": 0.1})
    assert s.trials_of("sam") == 3
    assert err("budget: 1\n", more="    start_from: [{rho: 0.05}, {rho: 0.1}]\n") == (
        "methods.sam.start_from: 2 configs but the method runs 1 trial(s); raise `budget`")
    assert err("budget: 2\n", more="    start_from: [{lr: 0.05}]\n") == (
        "methods.sam.start_from[0].lr: value 0.05 is not a sampled key of the method; allowed: "
        "perturb_batch_size, rho")
    assert err("budget: 2\n", more="    start_from: [{rho: 0.7}]\n") == (
        "methods.sam.start_from[0].rho: value 0.7 is invalid: must be in [0.01, 0.5]")
    assert err("budget: 2\n", more="    start_from: [{perturb_batch_size: 48}]\n") == (
        "methods.sam.start_from[0].perturb_batch_size: value 48 is not one of its choices "
        "[16, 32, 64]")
    assert "a grid runs every point" in err(
        "sampler: grid\n", values=", values: [0.05]", more="    start_from: [{rho: 0.05}]\n")


MO = "objectives: [{metric: val_acc, mode: max}, {metric: device_seconds, mode: min}]\n"


def test_a_multi_objective_study_selects_by_its_first_objective_and_takes_no_scheduler():
    s = study(MO)
    assert (s.metric, s.mode) == ("val_acc", "max")
    assert [(o.metric, o.mode) for o in s.objectives] == [("val_acc", "max"),
                                                          ("device_seconds", "min")]
    assert err(MO + "scheduler: asha\n") == (
        "scheduler: value 'asha' cannot stop trials of a multi-objective search (Optuna's "
        "multi-objective TPE takes no intermediate values); set scheduler: none")
    assert err("objectives: [{metric: val_acc, mode: max}]\n").startswith(
        "objectives: value [{'metric': 'val_acc', 'mode': 'max'}] is invalid: give two or more")
    assert err("objectives: [{metric: val_acc, mode: max}, {metric: flops, mode: min}]\n") == (
        "objectives[1].metric: value 'flops' is unknown; allowed: val_acc, val_loss, train_acc, "
        "train_loss, perturb_loss, grad_evals, device_seconds")
    assert err(MO + "metric: val_loss\n") == (
        "metric: value 'val_loss' differs from the first objective's 'val_acc'; omit it (the "
        "first objective selects)")
    assert "test-set metric" in err("objectives: [{metric: test_acc, mode: max}, "
                                    "{metric: grad_evals, mode: min}]\n")
