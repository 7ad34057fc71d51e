"""The MLflow schema: what of a result is a metric, tag filters, and `parse_params` typing
MLflow's strings back to `TrainConfig` values."""

import pytest

from samtrain.config.train_config import TrainConfig
from sweeps.store.schema import RunRecord, parse_params, result_metrics, tag_filter, train_config_of
from sweeps.store.writer import param_values


def test_every_numeric_result_value_is_a_metric_but_not_tunes_bookkeeping():
    result = {"epoch": 3, "val_acc": 0.5, "forget_events": 12, "new_metric": 1.5, "status": "running",
              "time_this_iter_s": 2.0, "training_iteration": 3, "pid": 7, "node_ip": "x",
              "done": False, "flag": True, "run_params": {"msharp_path": "loop"}}
    assert result_metrics(result) == {"epoch": 3.0, "val_acc": 0.5, "forget_events": 12.0,
                                      "new_metric": 1.5}


def test_tag_filter_quotes_values():
    assert tag_filter({"method": "o'brien", "phase": "search"}) == (
        "tags.`method` = 'o\\'brien' and tags.`phase` = 'search'")


@pytest.mark.parametrize("cfg", [
    TrainConfig(),
    TrainConfig(dataset="synthetic", synthetic_shape=(1, 8, 8), rho=0.07, perturb_batch_size=16,
                adaptive="both", gsam_alpha=0.2, perturbation="obf", obf_C=-1, obf_gamma=1e-6,
                label_noise=0.4, train_subset=100, val_size=0.25, grad_clip=1.0, amp="bf16",
                data_dir="/tmp/x y", seed=11),
    TrainConfig(dataset="my_pkg.data:build", dataset_kwargs={"root": "/d", "n": 3, "eps": 1e-05},
                model="my_pkg.nets:build", model_kwargs={"widths": [8, 16], "act": None, "bn": True},
                loss="my_pkg.losses:make", loss_kwargs={"q": 0.7, "nested": {"a": "None"}}),
], ids=["defaults", "everything-set", "own-components"])
def test_a_train_config_written_as_params_reads_back_equal_field_by_field(cfg):
    raw = {p.key: p.value for p in param_values(cfg.model_dump(mode="json"))}
    assert set(raw) == set(TrainConfig.model_fields) and all(isinstance(v, str) for v in raw.values())
    parsed = parse_params(raw)
    for name in TrainConfig.model_fields:
        assert parsed[name] == getattr(cfg, name), name
    assert train_config_of({**parsed, "msharp_path": "loop"}) == cfg


def test_parse_params_types():
    assert parse_params({"rho": "0.05", "perturb_batch_size": "None", "model": "small_cnn",
                         "epochs": "3", "synthetic_shape": "[3, 32, 32]", "msharp_loop_ms": "1.5",
                         "use_gpu": "False"}) == {
        "rho": 0.05, "perturb_batch_size": None, "model": "small_cnn", "epochs": 3,
        "synthetic_shape": (3, 32, 32), "msharp_loop_ms": 1.5, "use_gpu": False}


def test_parse_params_types_config_fields_and_parses_other_values_as_yaml():
    p = parse_params({"lr": "0.05", "epochs": "2", "grad_clip": "None", "use_gpu": "False",
                      "data_dir": "2024", "obf_C": "-1.0", "val_size": "2000", "extra": "3"})
    assert p == {"lr": 0.05, "epochs": 2, "grad_clip": None, "use_gpu": False,
                 "data_dir": "2024", "obf_C": -1.0, "val_size": 2000, "extra": 3}


def test_full_length_means_completed_at_the_configured_epoch():
    def rec(status, epoch):
        return RunRecord("r", "sam", "search", status, "k", 0, {"epochs": 4}, {"epoch": epoch})
    assert rec("completed", 4).full_length
    assert not rec("completed", 3).full_length and not rec("pruned", 4).full_length
