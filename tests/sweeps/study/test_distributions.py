"""Search-space distributions: each YAML form parses to its distribution, every malformed one is
one line naming the key and the rule, and each samples inside its range through Optuna."""

from __future__ import annotations

import math

import optuna
import pytest

from sweeps.errors import SpaceError
from sweeps.study.distributions import Choice, Fixed, Float, Int, parse_dist

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.parametrize("raw, want", [
    ({"loguniform": [0.01, 0.2]}, Float(0.01, 0.2, log=True)),
    ({"uniform": [0, 1]}, Float(0.0, 1.0, log=False)),
    ({"int": [1, 8], "log": True}, Int(1, 8, log=True)),
    ({"int": [1, 8]}, Int(1, 8, log=False)),
    ({"choice": [16, 32, None]}, Choice((16, 32, None))),
    ({"fixed": [1, 2]}, Fixed([1, 2])),
    (10, Fixed(10)),
    (None, Fixed(None)),
])
def test_each_yaml_form_parses_to_its_distribution(raw, want):
    assert parse_dist("methods.sam.space.x", raw) == want


@pytest.mark.parametrize("raw, message", [
    ({"lognormal": [0.01, 0.1]}, "methods.sam.space.rho: distribution 'lognormal' is unknown; "
                                 "allowed: loguniform, uniform, int, choice, fixed"),
    ({"uniform": [0.2, 0.1]}, "methods.sam.space.rho: uniform [0.2, 0.1] needs low < high"),
    ({"loguniform": [0, 0.1]}, "methods.sam.space.rho: loguniform [0, 0.1] needs low > 0"),
    ({"choice": []}, "methods.sam.space.rho: choice [] must be a non-empty list"),
    ({"choice": [1, 1]}, "methods.sam.space.rho: choice [1, 1] has duplicates"),
    ({"choice": [[1]]}, "methods.sam.space.rho: choice value [1] is not a scalar; allowed: null, "
                        "bool, int, float, str"),
    ({"int": [1.5, 4]}, "methods.sam.space.rho: int bound 1.5 is not an integer"),
    ({"int": [0, 4], "log": True}, "methods.sam.space.rho: int [0, 4] with log: true needs low >= 1"),
    ({"uniform": 0.1}, "methods.sam.space.rho: uniform needs [low, high], got 0.1"),
    ({"uniform": [0.1, float("inf")]}, "methods.sam.space.rho: uniform bound inf is not a finite "
                                       "number"),
    ({"uniform": [0.1, 1], "log": True}, "methods.sam.space.rho: `log` is only allowed with int "
                                         "(use loguniform for floats)"),
    ({"int": [1, 4], "log": "yes"}, "methods.sam.space.rho: log 'yes' must be true or false"),
    ({"uniform": [0, 1], "choice": [1]}, "must have exactly one distribution key"),
    ([0.01, 0.1], "is a bare list; write {choice: [0.01, 0.1]}"),
])
def test_malformed_entries_are_one_line_naming_the_key_and_the_rule(raw, message):
    with pytest.raises(SpaceError) as e:
        parse_dist("methods.sam.space.rho", raw)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_samples_stay_in_range_on_their_scale():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    log_float, lin_int = Float(0.01, 1.0, log=True), Int(1, 64, log=True)
    choice, fixed = Choice((16, None, "x")), Fixed(0.5)
    floats, ints = [], []
    for _ in range(400):
        trial = study.ask()
        floats.append(log_float.suggest(trial, "a/rho"))
        ints.append(lin_int.suggest(trial, "a/m"))
        assert choice.suggest(trial, "a/c") in (16, None, "x")
        assert fixed.suggest(trial, "a/f") == 0.5 and "a/f" not in trial.params
        study.tell(trial, 0.0)
    assert all(0.01 <= f <= 1.0 for f in floats) and all(1 <= i <= 64 for i in ints)
    # log scale: about half the samples below the geometric midpoint 0.1 (uniform would give 9 %)
    below = sum(f < math.sqrt(0.01 * 1.0) for f in floats) / len(floats)
    assert 0.4 < below < 0.6
    assert {type(i) for i in ints} == {int}


def test_extremes_are_the_values_every_config_must_survive():
    assert Float(0.01, 0.2, log=True).extremes() == [0.01, 0.2]
    assert Int(1, 8).extremes() == [1, 8]
    assert Choice((16, 32, None)).extremes() == [16, 32, None]
    assert Fixed(3).extremes() == [3]
