"""Suite files: each workload's study is the shared keys with its own `base` merged over them."""

from __future__ import annotations

import re

import pytest

from sweeps.errors import SpaceError
from sweeps.study.suite_file import load_suite, parse_suite
from tests.support import ROOT

EXAMPLE = ROOT / "search_spaces" / "suites" / "two_workloads.yaml"


def test_a_workloads_base_is_merged_over_the_shared_one_and_the_protocol_is_shared():
    suite = parse_suite("suite: s\nbudget: 2\nconfirm_seeds: 4\nbase: {model: small_cnn, lr: 0.1}\n"
                        "resources: {cpus_per_worker: 2.0}\n"
                        "methods: {sgd: {fixed: {perturbation: none}}, "
                        "sam: {space: {rho: {loguniform: [0.01, 0.1]}}}}\n"
                        "workloads:\n  - {id: a, base: {dataset: digits, lr: 0.05}}\n"
                        "  - {id: b-2, base: {dataset: fashion_mnist}, "
                        "resources: {cpus_per_worker: 1.0}}\n")
    a, b = suite.workloads["a"], suite.workloads["b-2"]
    assert (a.name, b.name) == ("s__a", "s__b-2")
    assert a.base == {"model": "small_cnn", "lr": 0.05, "dataset": "digits"}
    assert b.base == {"model": "small_cnn", "lr": 0.1, "dataset": "fashion_mnist"}
    assert (a.resources.cpus_per_worker, b.resources.cpus_per_worker) == (2.0, 1.0)
    for study in (a, b):
        assert (study.budget, study.confirm_seeds, study.baseline) == (2, 4, "sgd")
        assert list(study.methods) == ["sgd", "sam"]
    assert a.source_sha256 != b.source_sha256  # each its own study: resume checks it


def test_the_suite_name_defaults_to_the_files_stem_and_bounds_the_sweep_names(tmp_path):
    path = tmp_path / "paper.yaml"
    path.write_text("methods: {sgd: {}}\nworkloads: [{id: w, base: {dataset: digits}}]\n")
    assert load_suite(path).workloads["w"].name == "paper__w"
    long = "x" * 60
    with pytest.raises(SpaceError, match=r"^workloads\[0\]\.id: value 'x{60}__x{48}' is invalid"):
        parse_suite(f"suite: {long}\nmethods: {{sgd: {{}}}}\nworkloads: [{{id: {'x' * 48}}}]\n")


def test_the_example_is_valid_and_the_docs_show_it():
    suite = load_suite(EXAMPLE)
    assert suite.name == "two_workloads" and list(suite.workloads) == ["fashion_cnn", "digits_cnn"]
    page = (ROOT / "docs" / "suites.md").read_text()
    shown = parse_suite(re.findall(r"```yaml\n(.*?)```", page, re.S)[0])
    assert shown.name == suite.name and shown.methods == suite.methods
    for wid, study in suite.workloads.items():
        assert shown.workloads[wid].base == study.base
        assert shown.workloads[wid].methods == study.methods
        assert (shown.workloads[wid].budget, shown.workloads[wid].confirm_seeds) == (
            study.budget, study.confirm_seeds)
