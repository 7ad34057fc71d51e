"""One trial-config shape: what `trial_config` writes, `read_trial` reads back, whichever phase."""

from __future__ import annotations

import json

import pytest

from samtrain.config.train_config import TrainConfig
from sweeps.search.trial_config import KEY, read_trial, trial_config, trial_entry, trial_method


@pytest.mark.parametrize("phase, number", [("search", 3), ("confirm", None), ("train", None)])
def test_written_and_read_back_through_json(phase, number):
    cfg = TrainConfig(dataset="digits", rho=0.07, perturb_batch_size=16, seed=5)
    config = json.loads(json.dumps(trial_config("sam", phase, cfg, optuna_trial=number)))
    t = read_trial(config)
    assert (t.method, t.phase, t.optuna_trial, t.group_key) == ("sam", phase, number,
                                                                cfg.group_key())
    assert t.config() == cfg


def test_grid_search_entries_and_searched_configs_have_the_same_shape():
    cfg = TrainConfig()
    assert trial_config("sgd", "confirm", cfg) == {KEY: trial_entry("sgd", "confirm", cfg)}
    assert set(trial_entry("sgd", "search", cfg, optuna_trial=0)) == {
        "method", "phase", "train_config", "group_key", "optuna_trial"}


def test_trial_method_of_configs_with_and_without_a_trial():
    assert trial_method(trial_config("obf", "search", TrainConfig())) == "obf"
    assert trial_method({"lr": 0.1}) == ""
