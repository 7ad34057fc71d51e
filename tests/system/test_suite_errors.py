"""`sweep suite` bad input: exit code 2, one line naming the key and the value, before anything
starts (no Ray, no MLflow) or is written (no runs/, no mlflow.db)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sweeps.cli import main

pytestmark = pytest.mark.before_local_ray

SHARED = ("base: {model: small_cnn, epochs: 1, batch_size: 64}\n"
          "methods:\n  sgd: {fixed: {perturbation: none}}\n"
          "  sam: {space: {rho: {loguniform: [0.01, 0.2]}}}\n")
GOOD = "suite: two\n" + SHARED + "workloads:\n  - {id: a, base: {dataset: digits}}\n" \
       "  - {id: b, base: {dataset: digits, lr: 0.05}}\n"


def suite(workloads: str, top: str = "suite: two\n") -> str:
    return top + SHARED + "workloads:" + workloads


CASES = [
    pytest.param(GOOD.replace("suite: two\n", "suite: two\nbudgett: 2\n"),
                 ("budgett", "unknown key", "budget"), id="unknown-top-key"),
    pytest.param(suite("\n  - {id: a, base: {dataset: digits}}\n  - {id: a, base: {}}\n"),
                 ("workloads[1].id", "'a'", "duplicate"), id="duplicate-id"),
    pytest.param(suite("\n  - {id: fashion/cnn, base: {dataset: digits}}\n"),
                 ("workloads[0].id", "'fashion/cnn'", "no path separators"), id="path-separator"),
    pytest.param(suite("\n  - {id: ../up, base: {dataset: digits}}\n"),
                 ("workloads[0].id", "'../up'"), id="dot-dot"),
    pytest.param(suite(" []\n"), ("workloads: value []", "non-empty"), id="empty-list"),
    pytest.param(suite("\n"), ("workloads: value None", "non-empty"), id="no-workloads"),
    pytest.param(suite("\n  - {id: a, base: {dataset: digits}}\n  - {id: b, base: {epochz: 2}}\n"),
                 ("workloads[1] (id 'b')", "base.epochz", "2"), id="unknown-trainconfig-key"),
    pytest.param(suite("\n  - {id: a, base: {dataset: digits, epochs: 0}}\n"),
                 ("workloads[0] (id 'a')", "'epochs'", "value 0"), id="invalid-trainconfig-value"),
    pytest.param(suite("\n  - {id: a, base: {dataset: nosuch_data}}\n"),
                 ("workloads[0] (id 'a')", "dataset", "nosuch_data"), id="unknown-dataset"),
    pytest.param(suite("\n  - {id: a, model: resnet18}\n"),
                 ("workloads[0].model", "unknown key", "resnet18"), id="unknown-workload-key"),
    pytest.param(suite("\n  - {id: a}\n", top="suite: a/b\n"), ("suite: value 'a/b'",),
                 id="suite-name"),
    pytest.param(GOOD.replace("suite: two\n", "suite: two\nname: x\n"),
                 ("name", "unknown key"), id="name-is-the-suites"),
]


class Reached(BaseException):
    """Valid input got past validation."""


def _guard(monkeypatch) -> None:
    import ray

    import sweeps.execution.runner
    import sweeps.store.suite_store

    def reached(*args, **kwargs):
        raise Reached(args)

    monkeypatch.setattr(ray, "init", reached)
    monkeypatch.setattr(sweeps.execution.runner, "connect_ray", reached)
    monkeypatch.setattr(sweeps.store.suite_store.SuiteRuns, "__init__", reached)


def _tree(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*")}


@pytest.mark.parametrize("text, words", CASES)
def test_a_bad_suite_file_exits_2_with_one_line_and_nothing_written(text, words, tmp_path,
                                                                    monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _guard(monkeypatch)
    (tmp_path / "suite.yaml").write_text(text)
    before = _tree(tmp_path)
    code = main(["suite", "suite.yaml", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert len(err.splitlines()) == 1 and err.startswith("sweep suite: error: ") and not out, err
    for word in words:
        assert word in err, (word, err)
    assert _tree(tmp_path) == before


def test_the_valid_suite_gets_past_validation(tmp_path, monkeypatch):
    """The cases fail because of what they change: the file they change reaches MLflow."""
    monkeypatch.chdir(tmp_path)
    _guard(monkeypatch)
    (tmp_path / "suite.yaml").write_text(GOOD)
    with pytest.raises(Reached):
        main(["suite", "suite.yaml", "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"])


def _write_sweep(root: Path, study) -> None:
    from sweeps.store.sweep_dir import SweepMeta, sweep_dir

    sweep_dir(root / "runs", study.name).write(study, SweepMeta.new(study, f"sqlite:///{root}/m.db"))


@pytest.mark.parametrize("clash, words", [
    ("workload", ("workloads: id 'a'", "sweep 'two__a'", "another study")),
    ("suite", ("suite: value 'two'", "the name of a sweep"))])
def test_a_sweep_in_the_way_exits_2_before_anything_is_written(clash, words, tmp_path,
                                                               monkeypatch, capsys):
    from sweeps.study.suite_file import parse_suite

    monkeypatch.chdir(tmp_path)
    _guard(monkeypatch)
    (tmp_path / "suite.yaml").write_text(GOOD)
    other = parse_suite(GOOD.replace("lr: 0.05", "lr: 0.01")).workloads["b"]
    named = "two__a" if clash == "workload" else "two"
    _write_sweep(tmp_path, dataclasses.replace(other, name=named))
    before = _tree(tmp_path)
    assert main(["suite", "suite.yaml", "--storage", "runs"]) == 2
    out, err = capsys.readouterr()
    assert len(err.splitlines()) == 1 and not out, err
    for word in words:
        assert word in err, (word, err)
    assert _tree(tmp_path) == before


def test_finished_workloads_of_the_same_study_are_skipped(tmp_path):
    from sweeps.api.suite import check_suite
    from sweeps.store.suite_store import SuiteState
    from sweeps.study.suite_file import parse_suite

    suite = parse_suite(GOOD)
    for study in suite.workloads.values():
        _write_sweep(tmp_path, study)
    state = SuiteState.load_or_new(tmp_path / "runs" / "two", "two", "sqlite:///x.db")
    state.finished = {"a": suite.workloads["a"].source_sha256, "b": "an older study"}
    state.save(tmp_path / "runs" / "two", GOOD)
    assert check_suite(suite, str(tmp_path / "runs"), None) == {"a"}
    again = SuiteState.load_or_new(tmp_path / "runs" / "two", "two", "sqlite:///y.db")
    assert (again.suite_id, again.tracking_uri) == (state.suite_id, state.tracking_uri)
