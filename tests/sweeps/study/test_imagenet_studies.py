"""The paper's ImageNet studies (search_spaces/imagenet_*.yaml) load, name models samtrain has,
and hold the authors' recipe (github.com/BorealisAI/perturbed-forgetting, scripts/train_rn50.sh
and train_vits16.sh) at the middle of every searched range."""

from __future__ import annotations

import pytest

from samtrain.models import MODEL_NAMES
from sweeps.study.spec import build_train_config
from sweeps.study.study_file import load_study
from tests.support import ROOT

RECIPES = {  # file: (model, epochs, lr, weight decay, warmup, the paper's rho, baseline)
    "imagenet_resnet50": ("resnet50", 90, 1.6, 1e-3, 16, 0.04, "sgd"),
    "imagenet_vit_s16": ("vit_s", 300, 3e-3, 0.3, 32, 0.6, "adamw"),
}


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_the_imagenet_study_holds_the_authors_recipe(name):
    model, epochs, lr, wd, warmup, rho, baseline = RECIPES[name]
    study = load_study(ROOT / "search_spaces" / f"{name}.yaml")
    assert study.name == name and study.baseline == baseline and model in MODEL_NAMES
    assert list(study.methods) == [baseline, "sam", "obf"]
    assert study.n_trials == 1 + 2 * study.budget  # the baseline samples nothing: one run
    for method, spec in study.methods.items():
        middle = {k: d.from_unit(0.5) for k, d in spec.sampled.items()}
        cfg = build_train_config(study, method, middle)
        assert (cfg.dataset, cfg.model, cfg.epochs, cfg.lr, cfg.weight_decay, cfg.warmup_epochs) \
            == ("imagenet", model, epochs, lr, wd, warmup)
        assert cfg.batch_size == 4096 and cfg.num_workers == 8 and cfg.use_gpu
        if method == baseline:
            assert cfg.perturbation == "none" and not middle
            continue
        assert cfg.rho == pytest.approx(rho) and cfg.perturb_batch_size == 64
        assert (cfg.perturbation, cfg.obf_C) == (("obf", 1000.0) if method == "obf"
                                                 else ("ascent", -1.0))
