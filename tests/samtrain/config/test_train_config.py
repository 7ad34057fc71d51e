"""TrainConfig: names, validation errors (one line naming key and value), overrides, group key."""

import pytest
import yaml

from samtrain.config.train_config import SAM_FIELDS, TrainConfig, parse_overrides
from samtrain.errors import ConfigError


def test_sam_kwargs_use_the_same_names():
    cfg = TrainConfig(rho=0.2, perturbation="obf", obf_C=10.0, obf_gamma=0.5)
    kw = cfg.sam_kwargs()
    assert set(kw) == set(SAM_FIELDS)
    assert kw["rho"] == 0.2 and kw["obf_C"] == 10.0 and kw["perturbation"] == "obf"


@pytest.mark.parametrize("values, key, value", [
    ({"rho": -0.1}, "rho", "-0.1"),
    ({"obf_C": 0.5}, "obf_C", "0.5"),
    ({"obf_gamma": 1.5}, "obf_gamma", "1.5"),
    ({"perturbation": "sharp"}, "perturbation", "'sharp'"),
    ({"adaptive": "sideways"}, "adaptive", "'sideways'"),
    ({"model": "resnet9000"}, "model", "'resnet9000'"),
    ({"dataset": "mnist"}, "dataset", "'mnist'"),
    ({"loss": "my_pkg.losses"}, "loss", "'my_pkg.losses'"),
    ({"model_kwargs": {"w": float("inf")}}, "model_kwargs", "inf"),
    ({"loss_kwargs": {"fn": print}}, "loss_kwargs", "built-in function print"),
    ({"dataset_kwargs": {"blob": "x" * 7000}}, "dataset_kwargs", "at most 6000 characters"),
    ({"model_kwargs": {"image_size": 8}}, "model_kwargs", "the dataset gives them"),
    ({"dataset": "my_pkg.data:build", "data_dir": "/d"}, "data_dir", "dataset_kwargs"),
    ({"label_noise": 1.0}, "label_noise", "1.0"),
    ({"epochs": 0}, "epochs", "0"),
])
def test_invalid_values_name_key_and_value(values, key, value):
    with pytest.raises(ConfigError) as e:
        TrainConfig.build(values)
    msg = str(e.value)
    assert "\n" not in msg and repr(key) in msg and value in msg


def test_unknown_key_is_an_error_suggesting_the_key_or_listing_allowed_keys():
    with pytest.raises(ConfigError, match=r"^unknown key 'rhoo' \(value 0.1\); did you mean 'rho'\?$"):
        TrainConfig.build({"rhoo": 0.1})
    with pytest.raises(ConfigError, match=r"unknown key 'zzz' \(value 0.1\); allowed keys: .*rho"):
        TrainConfig.build({"zzz": 0.1})


def test_perturb_batch_must_divide_per_worker_batch():
    with pytest.raises(ConfigError, match="perturb_batch_size=24 must divide the per-worker micro-batch 64"):
        TrainConfig.build({"batch_size": 128, "num_workers": 2, "perturb_batch_size": 24})
    assert TrainConfig(batch_size=128, num_workers=2, perturb_batch_size=16).per_worker_batch_size == 64


def test_gsam_needs_a_gradient_perturbation():
    with pytest.raises(ConfigError, match="gsam_alpha=0.1 needs a clean gradient"):
        TrainConfig.build({"perturbation": "random", "gsam_alpha": 0.1})


def test_yaml_and_overrides():
    cfg = TrainConfig.from_yaml_text("rho: 0.1\nepochs: 2\n", ["lr=0.05", "adaptive=null", "amp=bf16"])
    assert (cfg.rho, cfg.epochs, cfg.lr, cfg.adaptive, cfg.amp) == (0.1, 2, 0.05, None, "bf16")
    with pytest.raises(ConfigError, match="not of the form key=value"):
        parse_overrides(["lr0.1"])
    with pytest.raises(ConfigError, match="does not exist"):
        TrainConfig.from_yaml("/nonexistent.yaml")


def test_group_key_ignores_only_the_seeds():
    a, b = TrainConfig(seed=1), TrainConfig(seed=2)
    assert a.group_key() == b.group_key() == TrainConfig(seed=3, data_seed=3).group_key()
    assert TrainConfig(data_seed=7).group_key() == TrainConfig().group_key() == "289f748127d6"
    assert a.group_key() != TrainConfig(seed=1, rho=0.07).group_key()
    for changed in ({"loss": "torch.nn:MultiMarginLoss"}, {"loss_kwargs": {"q": 1}},
                    {"model_kwargs": {"w": 1}}, {"dataset_kwargs": {"n": 1}}):
        assert TrainConfig(**changed).group_key() != a.group_key(), changed


def test_group_keys_of_configs_without_the_later_fields_are_unchanged():
    """Keys computed before `loss` and the `*_kwargs` existed (a sweep stores them as tags)."""
    assert TrainConfig().group_key() == "289f748127d6"
    assert TrainConfig(dataset="fashion_mnist", rho=0.1, perturbation="obf",
                       model="resnet20").group_key() == "f503ebb8d28f"


@pytest.mark.parametrize("cfg", [
    TrainConfig(),
    TrainConfig(dataset="synthetic", synthetic_shape=(1, 8, 8), rho=0.07, perturb_batch_size=16,
                adaptive="before", gsam_alpha=0.2, perturbation="obf", obf_C=-1, obf_gamma=1e-6,
                label_noise=0.4, train_subset=100, val_size=0.25, grad_clip=1.0, amp="bf16",
                data_dir="/data/x y", schedule="linear", seed=11),
    TrainConfig(dataset="my_pkg.data:build", dataset_kwargs={"root": "/d", "eps": 1e-05},
                model="my_pkg.nets:build", model_kwargs={"widths": [8, 16], "act": None},
                loss="my_pkg.losses:make", loss_kwargs={"q": 0.7}),
], ids=["defaults", "everything-set", "own-components"])
def test_yaml_round_trip_keeps_every_field(cfg):
    """What `sweep best` writes (`model_dump(mode="json")` as YAML) reads back equal, field by field."""
    text = yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
    back = TrainConfig.from_yaml_text(text)
    for name in TrainConfig.model_fields:
        assert getattr(back, name) == getattr(cfg, name), name
    assert back == cfg and back.group_key() == cfg.group_key()


@pytest.mark.parametrize("values, unused", [
    ({"perturbation": "none"}, {"rho", "perturb_batch_size", "adaptive", "gsam_alpha",
                                "backup_normalized", "obf_C", "obf_gamma", "obf_sigmoid",
                                "rho_policy", "rho_min"}),
    ({"perturbation": "ascent"}, {"obf_C", "obf_gamma", "obf_sigmoid", "gsam_alpha",
                                  "backup_normalized", "rho_min"}),
    ({"perturbation": "obf", "gsam_alpha": 0.2, "rho_policy": "lr_prop"}, set()),
    ({"optimizer": "adamw"}, {"momentum"}),
    ({"dataset": "synthetic"}, {"data_dir"}),
    ({"dataset": "waveforms.data:build", "loss": "waveforms.loss:focal"},
     {"data_dir", "synthetic_shape", "synthetic_classes", "synthetic_size", "label_smoothing"}),
    ({"sharpness_every": 1}, set()),
])
def test_applied_params_leave_out_exactly_the_fields_that_do_not_act(values, unused):
    cfg = TrainConfig(**values)
    applied = cfg.applied_params()
    always_unused = {"model_kwargs", "dataset_kwargs", "loss_kwargs",  # empty here
                     "init_from", "init_new_head"}  # no weights given
    if values.get("dataset") != "synthetic":
        always_unused |= {"synthetic_shape", "synthetic_classes", "synthetic_size"}
    if not values.get("sharpness_every"):
        always_unused |= {"sharpness_examples", "sharpness_m", "sharpness_rho", "sharpness_steps"}
    if values.get("perturbation") != "obf":
        always_unused |= {"obf_C", "obf_gamma", "obf_sigmoid"}
    if not values.get("gsam_alpha"):
        always_unused |= {"gsam_alpha", "backup_normalized"}
    if values.get("rho_policy") != "lr_prop":
        always_unused.add("rho_min")
    always_unused |= {"eval_sets", "perturb_policy", "perturb_every", "perturb_prob",  # "always"
                      "perturb_prob_schedule", "perturb_prob_start", "aesam_c_start",
                      "aesam_c_end", "aesam_decay", "looksam_alpha"}
    assert set(TrainConfig.model_fields) - set(applied) == unused | always_unused
    assert TrainConfig(**applied) == cfg  # the left-out fields hold their defaults here


@pytest.mark.parametrize("policy, uses", [
    ({"perturb_policy": "every", "perturb_every": 3}, {"perturb_policy", "perturb_every"}),
    ({"perturb_policy": "prob"}, {"perturb_policy", "perturb_prob", "perturb_prob_schedule"}),
    ({"perturb_policy": "prob", "perturb_prob_schedule": "linear"},
     {"perturb_policy", "perturb_prob", "perturb_prob_schedule", "perturb_prob_start"}),
    ({"perturb_policy": "aesam"}, {"perturb_policy", "aesam_c_start", "aesam_c_end", "aesam_decay"}),
    ({"perturb_policy": "looksam"}, {"perturb_policy", "perturb_every", "looksam_alpha"}),
])
def test_a_step_policy_records_the_fields_it_reads(policy, uses):
    policy_fields = {"perturb_policy", "perturb_every", "perturb_prob", "perturb_prob_schedule",
                     "perturb_prob_start", "aesam_c_start", "aesam_c_end", "aesam_decay",
                     "looksam_alpha"}
    cfg = TrainConfig(**policy)
    assert set(cfg.applied_params()) & policy_fields == uses
    assert TrainConfig(**cfg.applied_params()) == cfg


def test_applied_params_keep_a_non_default_kwargs_mapping():
    cfg = TrainConfig(model_kwargs={"width": 8})
    assert cfg.applied_params()["model_kwargs"] == {"width": 8}


def test_init_from_and_its_head_flag_are_params_only_when_weights_are_given():
    assert {"init_from", "init_new_head"} <= set(TrainConfig(init_from="w.pt").applied_params())
    assert TrainConfig(init_from="w.pt").group_key() != TrainConfig().group_key()
    assert TrainConfig(init_new_head=True).group_key() != TrainConfig().group_key()
    with pytest.raises(ConfigError, match="init_from"):
        TrainConfig.build({"init_from": ""})
