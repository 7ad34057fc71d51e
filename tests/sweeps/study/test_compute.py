"""`compute_matched`: the baseline arm given each SAM-family method's gradient budget as a cap:
it searches its epochs in [E, round(f * E)] with the shared space and the same trial count."""

from __future__ import annotations

import pytest

from sweeps.errors import SpaceError
from sweeps.study.compute import arm_name, method_cost, step_cost
from sweeps.study.distributions import Fixed, Int
from sweeps.study.spec import build_train_config
from sweeps.study.study_file import parse_study

STUDY = """compute_matched: true
budget: 2
base: {dataset: digits, model: small_cnn, epochs: 40, warmup_epochs: 1.0, batch_size: 128}
shared_space: {lr: {loguniform: [0.01, 0.5]}}
methods:
  sgd: {fixed: {perturbation: none}}
  sam: {space: {rho: {loguniform: [0.01, 0.5]}}}
  obf: {fixed: {perturbation: obf}, space: {rho: {loguniform: [0.01, 0.5]}}}
  randsam: {fixed: {perturbation: random}, space: {rho: {loguniform: [0.01, 0.5]}}}
"""


def test_the_cost_unit_counts_a_forward_only_pass_as_a_third():
    """forward + backward = 1, forward only = 1/3 (backward ~ 2x forward FLOPs)."""
    assert step_cost({"perturbation": "none"}) == 1.0
    assert step_cost({"perturbation": "ascent"}) == step_cost({}) == 2.0
    assert step_cost({"perturbation": "obf"}) == 2.0
    assert step_cost({"perturbation": "random"}) == pytest.approx(4 / 3)
    assert arm_name("sgd", 4 / 3) == "sgd_x1.33" and arm_name("sgd", 2.0) == "sgd_x2"


def test_each_cost_factor_gets_one_arm_that_searches_its_epochs_within_the_cap():
    s = parse_study(STUDY)
    assert s.arms == {"sgd_x2": 2.0, "sgd_x1.33": pytest.approx(4 / 3)}
    assert s.matched == {"sam": "sgd_x2", "obf": "sgd_x2", "randsam": "sgd_x1.33"}
    assert list(s.methods) == ["sgd", "sam", "obf", "randsam", "sgd_x2", "sgd_x1.33"]
    assert s.methods["sgd_x2"].space["epochs"] == Int(40, 80)
    assert s.methods["sgd_x1.33"].space["epochs"] == Int(40, round(40 * 4 / 3)) == Int(40, 53)
    assert s.methods["sgd_x2"].space["lr"] == s.methods["sgd"].space["lr"]  # the shared space
    x2 = build_train_config(s, "sgd_x2", {"lr": 0.1, "epochs": 60})
    assert (x2.epochs, x2.warmup_epochs, x2.perturbation, x2.lr) == (60, 1.5, "none", 0.1)
    at_cap = build_train_config(s, "sgd_x2", {"lr": 0.1, "epochs": 80})
    assert (at_cap.epochs, at_cap.warmup_epochs) == (80, 2.0)   # warmup: 1/40 of the epochs
    assert build_train_config(s, "sgd_x2", {}).epochs == 40     # unsampled: the baseline's E
    assert s.max_epochs("sgd_x2") == 80 and s.max_epochs("sgd_x1.33") == 53
    assert s.max_epochs("sgd") == 40
    assert s.trial_counts == {m: 2 for m in s.methods} and s.equal_budgets
    assert parse_study(STUDY.replace("compute_matched: true", "")).arms == {}


def test_the_arm_keeps_the_baselines_own_space_and_start_points():
    s = parse_study(STUDY.replace("sgd: {fixed: {perturbation: none}}",
                                  "sgd: {fixed: {perturbation: none}, space: {momentum: "
                                  "{uniform: [0.5, 0.95]}}, start_from: [{momentum: 0.9}]}"))
    arm = s.methods["sgd_x2"]
    assert sorted(arm.sampled) == ["epochs", "lr", "momentum"]
    assert arm.start_from == ({"momentum": 0.9},)


def test_a_one_epoch_range_is_fixed_and_a_grid_takes_both_ends():
    one = parse_study(STUDY.replace("epochs: 40", "epochs: 1").replace(
        "  sam: {space: {rho: {loguniform: [0.01, 0.5]}}}\n  obf: {fixed: {perturbation: obf}, "
        "space: {rho: {loguniform: [0.01, 0.5]}}}\n", ""))
    assert one.methods["sgd_x1.33"].space["epochs"] == Fixed(1)   # round(1.33) = 1
    grid = parse_study(STUDY.replace("{loguniform: [0.01, 0.5]}", "{choice: [0.05, 0.1]}")
                       + "sampler: grid\n")
    assert grid.methods["sgd_x2"].space["epochs"].grid_values() == (40, 80)
    assert grid.trials_of("sgd_x2") == 2 == len(grid.methods["sgd_x2"].grid()) // 2  # budget cap


def test_compute_matching_needs_a_plain_baseline_fixed_epochs_and_a_free_name():
    with pytest.raises(SpaceError, match="compute_matched: value True needs a baseline method"):
        parse_study(STUDY.replace("  sgd: {fixed: {perturbation: none}}\n", ""))
    with pytest.raises(SpaceError, match="needs a baseline without a perturbation"):
        parse_study(STUDY + "baseline: sam\n")
    with pytest.raises(SpaceError, match="methods.sgd_x2: method name 'sgd_x2' is taken"):
        parse_study(STUDY + "  sgd_x2: {fixed: {perturbation: none}}\n")
    with pytest.raises(SpaceError, match=r"^compute_matched: value True searches the arm's "
                                         r"epochs; the baseline 'sgd' searches epochs already"):
        parse_study(STUDY.replace("shared_space: {", "shared_space: {epochs: {int: [5, 10]}, "))


def test_efficient_variants_get_the_arm_of_their_planned_cost_and_searched_knobs_their_most():
    """LookSAM k = 5 plans 1.2 evaluations a step, SAM every 4th step 1.25, Momentum-SAM 1 (no
    arm); AE-SAM decides from its gradients, so its arm gets the most it can spend (2)."""
    s = parse_study("""compute_matched: true
base: {dataset: digits, model: small_cnn, epochs: 10}
methods:
  sgd: {fixed: {perturbation: none}}
  looksam: {fixed: {perturb_policy: looksam, perturb_every: 5}}
  every4: {fixed: {perturb_policy: every, perturb_every: 4}}
  msam: {fixed: {perturbation: momentum}}
  aesam: {fixed: {perturb_policy: aesam}}
  looksam_k: {fixed: {perturb_policy: looksam}, space: {perturb_every: {int: [2, 10]}}}
""")
    assert s.matched == {"looksam": "sgd_x1.2", "every4": "sgd_x1.25", "aesam": "sgd_x2",
                         "looksam_k": "sgd_x1.5"}
    assert s.methods["sgd_x1.2"].space["epochs"] == Int(10, 12)
    assert method_cost({"perturb_policy": "looksam"}, {"perturb_every": Int(2, 10)}) == 1.5
