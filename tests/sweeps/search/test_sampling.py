"""The method schedule and Optuna define-by-run sampling: exact per-method budgets, ranges,
reproducibility, and one trial config per trial with its `TrainConfig` built once."""

from __future__ import annotations

from collections import Counter

import optuna
import pytest

from samtrain.config.train_config import TrainConfig
from sweeps.errors import SpaceError
from sweeps.search.plan import enqueue, plan_trials
from sweeps.search.sampling import define_by_run, make_sampler, method_schedule, suggest_config
from sweeps.search.trial_config import read_trial
from sweeps.study.spec import build_train_config
from sweeps.study.study_file import parse_study
from tests.support.spies import record_constructions

optuna.logging.set_verbosity(optuna.logging.WARNING)

BASE = "base: {dataset: digits, model: small_cnn, epochs: 2, batch_size: 128}\n"
SAMPLING = BASE + """budget: 6
methods:
  sgd: {fixed: {perturbation: none}}
  sam:
    fixed: {perturbation: ascent}
    space:
      rho: {loguniform: [0.01, 0.2]}
      perturb_batch_size: {choice: [16, 32, 64]}
      grad_accum_steps: {int: [1, 2]}
      obf_C: 10
"""


def _run(seed: int) -> optuna.Study:
    study = parse_study(SAMPLING + f"seed: {seed}\n")
    fn = define_by_run(study)
    ot = optuna.create_study(direction="maximize", sampler=make_sampler(study, 1))
    enqueue(ot, plan_trials(study))

    def objective(trial: optuna.Trial) -> float:
        t = read_trial(fn(trial))
        trial.set_user_attr("trial", t)
        return t.config().rho if t.method == "sam" else 0.0

    ot.optimize(objective, n_trials=study.n_trials)
    return ot


def test_round_robin_schedule_gives_every_method_its_budget():
    study = parse_study(BASE + "budget: 3\nmethods: {a: {space: {rho: {uniform: [0, 1]}}}, "
                               "b: {}, c: {space: {rho: {uniform: [0, 1]}}}}")
    assert method_schedule(study) == ["a", "b", "c", "a", "c", "a", "c"]  # b samples nothing: once


def test_define_by_run_budget_ranges_and_reproducibility():
    study = parse_study(SAMPLING)
    ot = _run(seed=3)
    trials = [t.user_attrs["trial"] for t in ot.trials]
    methods = [t.user_attrs["method"] for t in ot.trials]
    assert Counter(methods) == {"sgd": 1, "sam": 6}  # sgd samples nothing: one run
    assert methods == method_schedule(study) == [t.method for t in trials]
    for ot_trial, t in zip(ot.trials, trials, strict=True):
        cfg = t.config()
        assert t.phase == "search" and t.optuna_trial == ot_trial.number
        assert t.group_key == cfg.group_key()
        if t.method == "sgd":
            assert ot_trial.params == {} and cfg.perturbation == "none"
            continue
        assert set(ot_trial.params) == {"sam/rho", "sam/perturb_batch_size", "sam/grad_accum_steps"}
        assert cfg.rho == ot_trial.params["sam/rho"] and 0.01 <= cfg.rho <= 0.2
        assert cfg.perturb_batch_size in (16, 32, 64) and cfg.grad_accum_steps in (1, 2)
        assert cfg.obf_C == 10 and cfg.perturbation == "ascent"
    again = _run(seed=3)
    assert [t.params for t in again.trials] == [t.params for t in ot.trials]
    assert [t.params for t in _run(seed=4).trials] != [t.params for t in ot.trials]


def test_the_trial_config_carries_the_whole_train_config_built_once():
    study = parse_study(SAMPLING)
    ot = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    enqueue(ot, plan_trials(study))
    ot.ask()
    trial = ot.ask()  # the plan's second trial: sam
    t = read_trial(define_by_run(study)(trial))
    sampled = {k.split("/", 1)[1]: v for k, v in trial.params.items()}
    want = build_train_config(study, "sam", {**sampled, "obf_C": 10})
    assert t.method == "sam" and t.train_config == want.model_dump(mode="json")
    assert TrainConfig(**t.train_config) == want


def test_an_unplanned_trial_is_refused():
    study = parse_study(SAMPLING)
    with pytest.raises(RuntimeError, match="was not planned"):
        define_by_run(study)(optuna.create_study().ask())


def test_tpe_is_multivariate_grouped_with_startup_sized_to_the_budget_and_a_liar_in_parallel(
        monkeypatch):
    made = record_constructions(monkeypatch, optuna.samplers, "TPESampler")
    study = parse_study(SAMPLING)            # 6 sam trials: 2 random start-up trials, sgd's 1
    one, two = make_sampler(study, 1), make_sampler(study, 2)
    assert isinstance(one, optuna.samplers.TPESampler) and isinstance(two, optuna.samplers.TPESampler)
    assert [(c["n_startup_trials"], c["multivariate"], c["group"]) for c in made] == [(3, True, True)] * 2
    assert [c["constant_liar"] for c in made] == [False, True]
    assert {c["seed"] for c in made} == {study.seed}
    assert isinstance(make_sampler(parse_study(SAMPLING + "sampler: random\n"), 2),
                      optuna.samplers.RandomSampler)


def test_suggest_config_prefixes_names():
    study = parse_study(SAMPLING)
    trial = optuna.create_study().ask()
    out = suggest_config(trial, study, "sam")
    assert set(out) == {"rho", "perturb_batch_size", "grad_accum_steps", "obf_C"}
    assert all(k.startswith("sam/") for k in trial.params)
    with pytest.raises(SpaceError, match="method: value 'x' is unknown; allowed: sgd, sam"):
        suggest_config(trial, study, "x")


def test_build_train_config_rejects_foreign_keys():
    study = parse_study(SAMPLING)
    with pytest.raises(SpaceError, match="sampled key 'rho'"):
        build_train_config(study, "sgd", {"rho": 0.1})
