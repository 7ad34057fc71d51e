"""`compute_matched`: the baseline arm trained as long as each SAM-family method computes."""

from __future__ import annotations

import pytest

from sweeps.errors import SpaceError
from sweeps.study.compute import RANDSAM_STEP_COST
from sweeps.study.spec import build_train_config
from sweeps.study.study_file import parse_study

STUDY = """compute_matched: true
budget: 2
base: {dataset: digits, model: small_cnn, epochs: 40, warmup_epochs: 1.0, batch_size: 128}
methods:
  sgd: {fixed: {perturbation: none}, space: {lr: {loguniform: [0.01, 0.5]}}}
  sam: {space: {rho: {loguniform: [0.01, 0.5]}}}
  obf: {fixed: {perturbation: obf}, space: {rho: {loguniform: [0.01, 0.5]}}}
  randsam: {fixed: {perturbation: random}, space: {rho: {loguniform: [0.01, 0.5]}}}
"""


def test_each_cost_factor_gets_one_arm_with_the_epochs_and_warmup_stretched():
    s = parse_study(STUDY)
    assert s.arms == {"sgd_x2": 2.0, "sgd_x1.41": RANDSAM_STEP_COST}
    assert s.matched == {"sam": "sgd_x2", "obf": "sgd_x2", "randsam": "sgd_x1.41"}
    assert list(s.methods) == ["sgd", "sam", "obf", "randsam", "sgd_x2", "sgd_x1.41"]
    x2 = build_train_config(s, "sgd_x2", {"lr": 0.1})
    assert (x2.epochs, x2.warmup_epochs, x2.perturbation, x2.lr) == (80, 2.0, "none", 0.1)
    assert build_train_config(s, "sgd_x1.41", {"lr": 0.1}).epochs == round(40 * 1.41) == 56
    assert s.methods["sgd_x2"].space == s.methods["sgd"].space    # searched like the baseline
    assert s.trials_of("sgd_x2") == 2 and s.baseline == "sgd"
    assert parse_study(STUDY.replace("compute_matched: true", "")).arms == {}


def test_compute_matching_needs_a_plain_baseline_and_a_free_name():
    with pytest.raises(SpaceError, match="compute_matched: value True needs a baseline method"):
        parse_study(STUDY.replace("  sgd: {fixed: {perturbation: none}, space: {lr: {loguniform: "
                                  "[0.01, 0.5]}}}\n", ""))
    with pytest.raises(SpaceError, match="needs a baseline without a perturbation"):
        parse_study(STUDY + "baseline: sam\n")
    with pytest.raises(SpaceError, match="methods.sgd_x2: method name 'sgd_x2' is taken"):
        parse_study(STUDY + "  sgd_x2: {fixed: {perturbation: none}}\n")
