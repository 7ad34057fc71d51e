"""The efficient-SAM study file parses, and each method's sample builds the variant it names."""

from __future__ import annotations

import optuna

from sweeps.search.sampling import suggest_config
from sweeps.study.distributions import Float, Int
from sweeps.study.spec import build_train_config
from sweeps.study.study_file import load_study
from tests.support import ROOT

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_efficient_study_builds_every_variant() -> None:
    study = load_study(ROOT / "search_spaces" / "efficient_sam.yaml")
    assert [m for m in study.methods if m not in study.arms] == [
        "sgd", "sam", "sam_every", "sam_random", "aesam", "looksam", "msam"]
    assert study.methods["looksam"].space["perturb_every"] == Int(2, 10)
    assert study.methods["msam"].space["rho"] == Float(0.05, 3.0, log=True)
    built = {}
    for method in (m for m in study.methods if m not in study.arms):
        trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1)).ask()
        built[method] = build_train_config(study, method, suggest_config(trial, study, method),
                                           seed=0)
    assert {m: (c.perturbation, c.perturb_policy) for m, c in built.items()} == {
        "sgd": ("none", "always"), "sam": ("ascent", "always"), "sam_every": ("ascent", "every"),
        "sam_random": ("ascent", "prob"), "aesam": ("ascent", "aesam"),
        "looksam": ("ascent", "looksam"), "msam": ("momentum", "always")}
    assert 2 <= built["looksam"].perturb_every <= 10 and built["aesam"].aesam_c_end <= 0
    assert all(c.perturb_batch_size is None for c in built.values())
