"""Study files -> `StudySpec`: the shipped studies, every validation message, the config a
method's sample builds."""

from __future__ import annotations

import optuna
import pytest

from sweeps.errors import SpaceError
from sweeps.search.sampling import method_schedule, suggest_config
from sweeps.study.distributions import Choice, Fixed, Float
from sweeps.study.spec import build_train_config
from sweeps.study.study_file import load_study, parse_study
from tests.support import ROOT

SPACES = ROOT / "search_spaces"
optuna.logging.set_verbosity(optuna.logging.WARNING)


BASE = "base: {dataset: digits, model: small_cnn, epochs: 2, batch_size: 128}\n"


def err(text: str) -> str:
    with pytest.raises(SpaceError) as e:
        parse_study(text)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


# ---------------------------------------------------------------- shipped files


@pytest.mark.parametrize("path", sorted(SPACES.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_files_load(path):
    study = load_study(path)
    assert study.name == path.stem
    assert study.source_text == path.read_text()
    assert len(study.source_sha256) == 64
    schedule = method_schedule(study)
    assert len(schedule) == study.n_trials
    grid = study.sampler.type == "grid"
    for m in study.methods:  # budget each (a grid: its points); once with nothing to sample
        spec = study.methods[m]
        want = len(spec.grid()) if grid else study.budget
        assert schedule.count(m) == (want if spec.sampled else 1)
    for method in study.methods:  # every method builds with a sampled config
        trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
        cfg = build_train_config(study, method, suggest_config(trial, study, method), seed=7)
        assert cfg.seed == 7 and cfg.num_workers == study.resources.workers


def test_shipped_files_exist():
    assert {p.stem for p in SPACES.glob("*.yaml")} >= {
        "tiny", "fashion_label_noise", "cifar10_resnet18"}


def test_tiny():
    s = load_study(SPACES / "tiny.yaml")
    assert list(s.methods) == ["sgd", "sam"] and s.budget == 2 and s.scheduler is None
    assert s.methods["sam"].space["rho"] == Float(0.01, 0.2, log=True)
    assert s.base["dataset"] == "digits"
    assert load_study(SPACES / "tiny.yaml", budget=5, name="x").n_trials == 6  # sgd: 1, sam: 5


def test_the_demo_study_uses_the_default_asha_and_compute_matching():
    s = load_study(SPACES / "fashion_label_noise.yaml")
    assert s.scheduler is not None
    assert (s.scheduler.type, s.scheduler.grace_period) == ("asha", None)  # the defaults
    assert s.arms == {"sgd_x2": 2.0} and s.matched["obf"] == "sgd_x2"
    assert s.methods["obf"].space["obf_C"] == Choice((-1, 10, 1000))


def test_the_demo_study_tunes_every_method_equally():
    """The baseline and its equal-compute arm search lr and weight decay with the same trial
    count as each SAM-family method; the arm searches its epochs in [40, 80]."""
    s = load_study(SPACES / "fashion_label_noise.yaml")
    assert set(s.shared_space) == {"lr", "weight_decay"}
    assert s.trial_counts == {m: 3 for m in ("sgd", "sam", "obf", "gsam", "asam", "sgd_x2")}
    assert s.equal_budgets and s.n_trials == 18 and s.confirm_seeds == 5
    assert sorted(s.methods["sgd"].sampled) == ["lr", "weight_decay"]
    assert sorted(s.methods["sgd_x2"].sampled) == ["epochs", "lr", "weight_decay"]
    assert s.methods["sgd_x2"].sampled["epochs"].extremes() == [40, 80]
    lr = s.shared_space["lr"]
    assert lr.low < 0.05 < lr.high and s.shared_space["weight_decay"].low < 5e-4


# ---------------------------------------------------------------- shared_space

SHARED = BASE + """budget: 4
shared_space: {lr: {loguniform: [0.01, 0.2]}, momentum: 0.8}
methods:
  sgd: {fixed: {perturbation: none}}
  sam: {space: {rho: {loguniform: [0.01, 0.5]}}}
"""


def test_the_shared_space_is_searched_by_every_method_the_baseline_included():
    s = parse_study(SHARED)
    assert s.methods["sgd"].space == {"lr": Float(0.01, 0.2, log=True), "momentum": Fixed(0.8)}
    assert sorted(s.methods["sam"].sampled) == ["lr", "rho"]
    assert s.trial_counts == {"sgd": 4, "sam": 4} and s.n_trials == 8 and s.equal_budgets
    assert method_schedule(s) == ["sgd", "sam"] * 4
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    sampled = suggest_config(trial, s, "sgd")
    assert set(trial.params) == {"sgd/lr"} and 0.01 <= sampled["lr"] <= 0.2
    cfg = build_train_config(s, "sgd", sampled)
    assert (cfg.lr, cfg.momentum, cfg.perturbation) == (sampled["lr"], 0.8, "none")


def test_confirm_seeds_default_to_5_also_where_an_older_file_says_0():
    assert parse_study(SHARED).confirm_seeds == 5 == parse_study(SHARED + "confirm_seeds: 0\n").confirm_seeds
    assert parse_study(SHARED + "confirm_seeds: 7\n").confirm_seeds == 7


def test_without_a_shared_space_a_method_that_samples_nothing_runs_once():
    s = parse_study(SHARED.replace("shared_space: {lr: {loguniform: [0.01, 0.2]}, momentum: 0.8}\n",
                                   ""))
    assert s.trial_counts == {"sgd": 1, "sam": 4} and not s.equal_budgets


@pytest.mark.parametrize("method, expected", [
    ("sam: {space: {rho: {loguniform: [0.01, 0.5]}, lr: {uniform: [0.1, 0.2]}}}",
     "methods.sam.space.lr: value {'uniform': [0.1, 0.2]} is invalid: 'lr' is in shared_space, "
     "which every method searches; set it in one place"),
    ("sam: {fixed: {lr: 0.3}, space: {rho: {loguniform: [0.01, 0.5]}}}",
     "methods.sam.fixed.lr: value 0.3 is invalid: 'lr' is in shared_space, which every method "
     "searches; set it in one place"),
])
def test_a_key_both_shared_and_in_a_method_is_an_error_naming_it(method, expected):
    assert err(SHARED.replace("sam: {space: {rho: {loguniform: [0.01, 0.5]}}}", method)) == expected


def test_shared_space_entries_are_checked_like_a_methods_space():
    assert err(SHARED.replace("momentum: 0.8", "lrr: 0.8")) == (
        "shared_space.lrr: unknown TrainConfig key (value 0.8); did you mean 'lr'?")
    assert err(SHARED.replace("momentum: 0.8", "weight_decay: {uniform: [0.1]}")).startswith(
        "shared_space.weight_decay: ")
    assert err(SHARED + "sampler: grid\n").startswith("shared_space.lr: sampler grid needs its points")
    assert err(SHARED.replace("[0.01, 0.2]", "[0.0, 0.2]")).startswith("shared_space.lr: ")


def test_paper_methods_expressible():
    """SGD/AdamW, SAM, OBF, GSAM, GSAM+OBF, ASAM, ASAM+OBF, RandSAM all validate."""
    s = load_study(SPACES / "cifar10_resnet18.yaml")
    assert set(s.methods) >= {"sgd", "sam", "obf", "gsam", "gsam_obf", "asam", "asam_obf",
                              "randsam"}
    assert s.resources.workers == 4 and s.resources.gpus_per_worker == 1.0
    cfg = build_train_config(s, "gsam_obf", {"rho": 0.07, "perturb_batch_size": 32,
                                             "gsam_alpha": 0.1, "obf_gamma": 1e-12})
    assert (cfg.perturbation, cfg.obf_C, cfg.gsam_alpha, cfg.use_gpu) == ("obf", 10, 0.1, True)
    assert build_train_config(s, "randsam", {"rho": 0.1, "perturb_batch_size": 16}
                              ).perturbation == "random"
    adamw = parse_study(BASE + "methods: {adamw: {fixed: {optimizer: adamw, perturbation: none}}}")
    assert build_train_config(adamw, "adamw", {}).optimizer == "adamw"


# ---------------------------------------------------------------- validation messages


def test_unknown_top_level_key():
    msg = err(BASE + "budgte: 3\nmethods: {a: {}}")
    assert msg == "budgte: unknown key (value 3); did you mean 'budget'?"
    msg = err(BASE + "zzz: 3\nmethods: {a: {}}")  # nothing close: the allowed keys
    assert msg.startswith("zzz: unknown key (value 3); allowed: name, metric, mode, budget")


def test_unknown_trainconfig_key():
    msg = err(BASE + "methods: {sam: {space: {rhoo: {uniform: [0, 1]}}}}")
    assert msg == ("methods.sam.space.rhoo: unknown TrainConfig key (value {'uniform': [0, 1]}); "
                   "did you mean 'rho'?")
    msg = err(BASE + "methods: {sam: {space: {zzz: {uniform: [0, 1]}}}}")
    assert msg.startswith("methods.sam.space.zzz: unknown TrainConfig key")
    assert "allowed:" in msg and "perturb_batch_size" in msg and "num_workers" not in msg


def test_unknown_method_key():
    msg = err(BASE + "methods: {sam: {fixd: {rho: 0.1}}}")
    assert msg == "methods.sam.fixd: unknown key (value {'rho': 0.1}); did you mean 'fixed'?"
    msg = err(BASE + "methods: {sam: {zzz: {rho: 0.1}}}")
    assert msg.startswith("methods.sam.zzz: unknown key") and "allowed: fixed, space" in msg


def test_empty_methods():
    assert err(BASE + "methods: {}").startswith("methods: value {} is empty")
    assert "methods: required key is missing" in err(BASE)


def test_budget():
    assert "budget: value 0 is invalid" in err(BASE + "budget: 0\nmethods: {a: {}}")
    with pytest.raises(SpaceError, match="budget: value 0"):
        load_study(SPACES / "tiny.yaml", budget=0)


def test_rho_negative_lower_bound():
    msg = err(BASE + "methods: {sam: {space: {rho: {uniform: [-0.1, 0.2]}}}}")
    assert msg.startswith("methods.sam.space.rho: ") and "-0.1" in msg and ">= 0" in msg


def test_perturb_batch_size_not_dividing():
    msg = err(BASE + "methods: {sam: {space: {perturb_batch_size: {choice: [16, 48]}}}}")
    assert msg.startswith("methods.sam.space.perturb_batch_size: ")
    assert "perturb_batch_size=48" in msg and "128" in msg


def test_perturb_batch_size_per_worker():
    """128 over 4 workers is 32 per worker: 64 does not divide it."""
    text = BASE + ("resources: {workers: 4}\n"
                   "methods: {sam: {space: {perturb_batch_size: {choice: [16, 64]}}}}")
    assert "perturb_batch_size=64" in err(text) and "32" in err(text)


def test_interaction_of_two_keys():
    text = BASE + ("methods: {sam: {space: {batch_size: {choice: [128, 96]},"
                   " perturb_batch_size: {choice: [32, 64]}}}}")
    msg = err(text)
    assert msg.startswith("methods.sam.space: at batch_size=96, perturb_batch_size=64")


def test_obf_c_and_fixed_values():
    msg = err(BASE + "methods: {obf: {fixed: {perturbation: obf, obf_C: 0.5}}}")
    assert msg.startswith("methods.obf.fixed: ") and "0.5" in msg and "obf_C" in msg
    assert "obf_C" in err(BASE + "methods: {obf: {space: {obf_C: {choice: [-1, 0.5]}}}}")


def test_resource_keys_and_duplicates():
    assert "resources.workers" in err(BASE + "methods: {a: {fixed: {num_workers: 2}}}")
    msg = err(BASE + "methods: {a: {fixed: {rho: 0.1}, space: {rho: {uniform: [0.1, 0.2]}}}}")
    assert msg.startswith("methods.a.space.rho: also set in methods.a.fixed")


def test_scheduler_validation():
    assert err(BASE + "scheduler: {type: pbt}\nmethods: {a: {}}") == (
        "scheduler.type: value 'pbt' is unknown; allowed: asha, hyperband, median")
    assert err(BASE + "scheduler: fifo\nmethods: {a: {}}").startswith("scheduler.type: value 'fifo'")
    assert "<= the epochs (2)" in err(
        BASE + "scheduler: {type: asha, grace_period: 5}\nmethods: {a: {}}")
    assert err(BASE + "scheduler: {type: median, brackets: 2}\nmethods: {a: {}}") == (
        "scheduler.brackets: unknown key for type median (value 2); allowed: type, grace_period, "
        "min_samples_required")
    assert "scheduler.reduction_factor: value 1 is invalid" in err(
        BASE + "scheduler: {type: hyperband, reduction_factor: 1}\nmethods: {a: {}}")
    assert parse_study(BASE + "scheduler: none\nmethods: {a: {}}").scheduler is None
    h = parse_study(BASE + "scheduler: {type: hyperband, brackets: 2}\nmethods: {a: {}}").scheduler
    assert (h.type, h.brackets, h.grace_period, h.reduction_factor) == ("hyperband", 2, None, 3.0)
    assert parse_study(BASE + "scheduler: {grace_period: 1}\nmethods: {a: {}}").scheduler.type == "asha"


def test_metric_and_method_names():
    assert "allowed: val_acc" in err(BASE + "metric: acc\nmethods: {a: {}}")
    assert "method name 'a/b' is invalid" in err(BASE + "methods: {a/b: {}}")


@pytest.mark.parametrize("metric", ["test_acc", "test_loss"])
def test_a_test_set_metric_never_drives_search(metric):
    msg = err(BASE + f"metric: {metric}\nmethods: {{a: {{}}}}")
    assert msg.startswith(f"metric: value '{metric}' is a test-set metric") and "val_acc" in msg


def test_baseline_defaults_to_the_unperturbed_method_and_must_be_a_method():
    two = "methods: {sam: {}, sgd: {fixed: {perturbation: none}}}"
    assert parse_study(BASE + two).baseline == "sgd"
    assert parse_study(BASE + "baseline: sam\n" + two).baseline == "sam"
    assert parse_study(BASE + "methods: {sam: {}}").baseline is None
    assert "baseline: value 'x' is not a method" in err(BASE + "baseline: x\n" + two)


def test_repeated_keys_are_errors_at_any_depth():
    assert "key 'sam' is written twice" in err(BASE + "methods:\n  sam: {}\n  sam: {}\n")
    assert "key 'rho' is written twice" in err(
        BASE + "methods: {sam: {space: {rho: 0.1, rho: 0.2}}}")


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "1e999"])
def test_non_finite_numbers_are_rejected(value):
    assert "finite" in err(BASE + f"methods: {{sam: {{fixed: {{rho: {value}}}}}}}")
    assert "finite" in err(BASE + f"scheduler: {{type: asha, reduction_factor: {value}}}\n"
                                  "methods: {a: {}}")


@pytest.mark.parametrize("name", ["../x", "a/b", ".hidden", "", "x" * 101, "sp ace"])
def test_sweep_names_are_checked(name):
    assert "name: value" in err(BASE + f"name: '{name}'\nmethods: {{a: {{}}}}")


def test_component_configs_cover_each_method_and_every_sampled_component():
    from sweeps.study.spec import component_configs

    s = parse_study("base: {dataset: digits, loss: 'tests.support.problem:scaled_ce'}\nmethods:\n"
                    "  sgd: {fixed: {perturbation: none}}\n"
                    "  sam: {space: {rho: {uniform: [0.01, 0.1]}, "
                    "model: {choice: [small_cnn, 'tests.support.problem:pooled']}}}\n")
    got = [(c.perturbation, c.model, c.loss) for c in component_configs(s)]
    loss = "tests.support.problem:scaled_ce"
    assert got == [("none", "small_cnn", loss), ("ascent", "small_cnn", loss),
                   ("ascent", "small_cnn", loss), ("ascent", "tests.support.problem:pooled", loss)]
