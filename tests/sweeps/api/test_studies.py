"""Studies from a dict or a file, with `dotted.key=value` overrides validated like the file."""

import pytest
import yaml

from sweeps import example_names, example_path, study_from_dict, study_from_file
from sweeps.api.studies import apply_overrides
from sweeps.errors import SpaceError
from sweeps.study.study_file import parse_study
from tests.support import ROOT

TINY = ROOT / "search_spaces" / "tiny.yaml"


def test_a_dict_gives_the_study_its_file_gives():
    raw = yaml.safe_load(TINY.read_text())
    from_dict, from_file = study_from_dict(raw), study_from_file(TINY)
    for key in ("name", "metric", "mode", "base", "methods", "budget", "resources", "seed",
                "baseline", "n_trials"):
        assert getattr(from_dict, key) == getattr(from_file, key), key
    assert parse_study(from_dict.source_text).methods == from_file.methods  # what resume reads


def test_name_and_budget_arguments_win_over_the_dicts():
    study = study_from_dict({"name": "a", "budget": 2, "methods": {"sam": {"space": {
        "rho": {"uniform": [0.01, 0.1]}}}}}, name="b", budget=5)
    assert (study.name, study.n_trials) == ("b", 5)
    assert study_from_dict({"methods": {"sgd": None}}).name == "study"


def test_overrides_set_nested_keys_and_the_stored_text_holds_them():
    study = study_from_file(TINY, overrides=["budget=4", "base.epochs=1", "methods.sam.space.rho="
                                             "{uniform: [0.05, 0.1]}", "methods.sgd.fixed.lr=0.2"])
    assert study.budget == 4 and study.base["epochs"] == 1 and study.n_trials == 5
    assert study.methods["sam"].space["rho"].extremes() == [0.05, 0.1]
    assert study.methods["sgd"].fixed == {"perturbation": "none", "lr": 0.2}
    again = parse_study(study.source_text)  # the sweep's space.yaml: overrides applied
    assert (again.budget, again.base, again.methods) == (4, study.base, study.methods)
    assert study.source_text.startswith("# tiny.yaml with --set budget=4 base.epochs=1")
    assert study_from_file(TINY).source_text == TINY.read_text()  # no overrides: the file as is


def test_apply_overrides_copies_and_makes_sections_but_not_methods():
    raw = {"base": {"lr": 0.1}, "methods": {"sam": None}}
    out = apply_overrides(raw, ["resources.workers=2", "methods.sam.fixed.rho=0.1"])
    assert out == {"base": {"lr": 0.1}, "resources": {"workers": 2},
                   "methods": {"sam": {"fixed": {"rho": 0.1}}}}
    assert raw == {"base": {"lr": 0.1}, "methods": {"sam": None}}  # untouched
    with pytest.raises(SpaceError, match=r"^--set: key 'methods.sma.fixed.rho=1': the study has "
                                         r"no method 'sma'; did you mean 'sam'\?$"):
        apply_overrides(raw, ["methods.sma.fixed.rho=1"])
    with pytest.raises(SpaceError, match=r"'base.lr' holds 0.1, not a mapping"):
        apply_overrides(raw, ["base.lr.x=1"])


@pytest.mark.parametrize("overrides, words", [
    (["base.rh0=0.1"], ("base.rh0", "0.1", "did you mean 'rho'?")),
    (["methods.sam.fixed.perturbation=sam"], ("'perturbation'", "'sam'", "did you mean 'ascent'?")),
    (["budget=0"], ("budget", "0", ">= 1")),
    (["sampler=cmaes"], ("sampler", "'cmaes'", "tpe")),
    (["budget"], ("--set", "'budget'", "key=value")),
])
def test_a_bad_override_is_one_line_naming_it(overrides, words):
    with pytest.raises(SpaceError) as e:
        study_from_file(TINY, overrides=overrides)
    assert "\n" not in str(e.value) and all(w in str(e.value) for w in words), str(e.value)


def test_a_dict_that_is_not_a_study_is_named():
    with pytest.raises(SpaceError, match=r"^study: value \[1\] is invalid"):
        study_from_dict([1])
    with pytest.raises(SpaceError, match="cannot be written as YAML"):
        study_from_dict({"methods": {"sgd": {"fixed": {"lr": object()}}}})


def test_the_bundled_examples_are_the_repositorys_study_files():
    assert example_names() == sorted(p.stem for p in (ROOT / "search_spaces").glob("*.yaml"))
    for name in example_names():
        assert example_path(name).read_text() == (ROOT / "search_spaces" / f"{name}.yaml").read_text()
        assert study_from_file(example_path(name)).name == name
    with pytest.raises(SpaceError, match=r"^example: value 'tin' is unknown; did you mean 'tiny'\?"):
        example_path("tin")
