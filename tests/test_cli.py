"""`sweep` bad input: exit code 2, one line naming the problem, nothing started or written."""

from pathlib import Path

import pytest

from sweeps.cli import main

TINY = Path(__file__).resolve().parent.parent / "search_spaces" / "tiny.yaml"

BAD_SPACES = {
    "unknown_key": ("base:\n  rhoo: 0.1\nmethods:\n  sam: {fixed: {perturbation: ascent}}\n", "rhoo"),
    "bad_distribution": ("methods:\n  sam:\n    space:\n      rho: {lognormal: [0.1, 1]}\n",
                         "lognormal"),
    "unknown_method_key": ("methods:\n  sam: {fixd: {rho: 0.1}}\n", "fixd"),
    "negative_rho": ("methods:\n  sam:\n    space:\n      rho: {uniform: [-0.1, 0.2]}\n", "rho"),
    "m_not_dividing": ("base: {batch_size: 128}\nmethods:\n  sam:\n    space:\n"
                       "      perturb_batch_size: {choice: [16, 24]}\n", "perturb_batch_size"),
    "no_methods": ("methods: {}\n", "methods"),
}


def _run(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main([*argv, "--storage", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize("case", sorted(BAD_SPACES))
def test_bad_space_files_exit_2_with_one_line_and_write_nothing(case, tmp_path, monkeypatch, capsys):
    text, needle = BAD_SPACES[case]
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    code, err = _run(["run", str(f)], tmp_path, monkeypatch, capsys)
    assert code == 2
    assert err.count("\n") == 0 and needle in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]  # no runs/, no mlflow.db


@pytest.mark.parametrize("argv, needle", [
    (["run", "missing.yaml"], "does not exist"),
    (["run", str(TINY), "--budget", "0"], "--budget"),
    (["resume", "nope"], "sweep 'nope' not found"),
    (["status", "nope"], "sweep 'nope' not found"),
    (["best", "nope"], "sweep 'nope' not found"),
    (["confirm", "nope", "--seeds", "0"], "--seeds"),
    (["train", str(TINY)], "unknown key"),
    (["train", "CFG", "--set", "dataset=cifar10", "--set", "data_dir=/nonexistent"],
     "cifar10: /nonexistent/cifar-10-batches-py lacks"),
])
def test_bad_arguments_exit_2(argv, needle, tmp_path, monkeypatch, capsys):
    (tmp_path / "c.yaml").write_text("epochs: 1\n")
    argv = [str(tmp_path / "c.yaml") if a == "CFG" else a for a in argv]
    code, err = _run(argv, tmp_path, monkeypatch, capsys)
    assert code == 2 and needle in err and err.count("\n") == 0, err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "mlflow.db").exists()


def test_train_bad_override_names_key_and_value(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dataset: digits\nepochs: 1\n")
    code, err = _run(["train", str(cfg), "--set", "rho=-1"], tmp_path, monkeypatch, capsys)
    assert code == 2 and "'rho'" in err and "-1" in err


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("run", "resume", "status", "best", "train", "confirm", "report"):
        assert cmd in out
