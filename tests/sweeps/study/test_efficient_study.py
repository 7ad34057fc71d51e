"""The efficient-SAM study file parses, and each method's sample builds the variant it names."""

from __future__ import annotations

import optuna
import pytest

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


@pytest.mark.parametrize("sets, words", [
    (["perturbation=obf", "perturb_policy=looksam"], ("perturb_policy='looksam'", "'obf'")),
    (["perturbation=momentum", "momentum=0"], ("perturbation 'momentum'", "momentum > 0")),
    (["perturb_policy=aesam", "perturb_batch_size=16"], ("perturb_batch_size=16", "m-sharpness")),
])
def test_bad_combination_exits_2_with_one_line(sets, words, tmp_path, monkeypatch, capsys) -> None:
    from sweeps.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text("dataset: digits\nepochs: 1\n")
    argv = ["train", "c.yaml"] + [a for s in sets for a in ("--set", s)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and all(w in err for w in words), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]  # nothing written


def test_a_study_with_a_bad_combination_is_refused() -> None:
    from sweeps.errors import SpaceError
    from sweeps.study.study_file import parse_study

    text = ("base: {dataset: digits, epochs: 1, batch_size: 64}\nmethods:\n"
            "  msam: {fixed: {perturbation: momentum, perturb_policy: every}, "
            "space: {rho: {loguniform: [0.1, 1.0]}}}\n")
    with pytest.raises(SpaceError, match="nothing to skip"):
        parse_study(text)
