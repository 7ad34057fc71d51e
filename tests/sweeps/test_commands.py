"""The commands take plain arguments and are found through one table; the tracking URI a command
uses: --tracking-uri, else the sweep's own (it wins over the environment), else
$MLFLOW_TRACKING_URI, else ./mlflow.db; sweeps found through $SWEEP_STORAGE as well as --storage."""

import inspect

import pytest

from sweeps import commands
from sweeps.api.checks import resolve_storage, resolve_tracking_uri
from sweeps.cli import build_parser, main
from sweeps.errors import SweepError
from sweeps.store.sweep_dir import SweepMeta
from tests.support import ROOT


def meta(uri: str) -> SweepMeta:
    return SweepMeta("s", "abc", 2, uri, "")


def test_precedence_flag_then_sweep_then_environment_then_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mine, env = f"sqlite:///{tmp_path}/mine.db", f"sqlite:///{tmp_path}/env.db"
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri(None) == f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env)
    assert resolve_tracking_uri(None) == env                      # a new sweep, `sweep train`
    assert resolve_tracking_uri(mine) == mine                     # the flag wins
    assert resolve_tracking_uri(None, meta(mine)) == mine         # an existing sweep keeps its own
    assert resolve_tracking_uri("sqlite:///mine.db", meta(mine)) == mine  # same file, relative
    with pytest.raises(SweepError, match="differs from the tracking URI of sweep 's'"):
        resolve_tracking_uri(env, meta(mine))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///rel.db")  # recorded absolute
    assert resolve_tracking_uri(None) == f"sqlite:///{tmp_path}/rel.db"


def test_an_unusable_environment_value_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "file:///x/mlruns")
    with pytest.raises(SweepError, match=r"^MLFLOW_TRACKING_URI \(environment\): value "
                                         r"'file:///x/mlruns': MLflow's file store"):
        resolve_tracking_uri(None)


MINIMAL = {"run": ["s.yaml"], "train": ["c.yaml"], "extend": ["x", "--trials", "1"], "list": []}


def test_every_parsed_command_maps_onto_its_functions_parameters_by_name():
    """The table, not getattr: each subcommand's options are exactly its function's
    parameters (what `main` passes as keywords)."""
    parser = build_parser()
    for name, fn in commands.COMMANDS.items():
        args = vars(parser.parse_args([name, *MINIMAL.get(name, ["x"])]))
        assert args.pop("command") == name
        assert set(args) == set(inspect.signature(fn).parameters), name


def test_storage_comes_from_the_flag_then_SWEEP_STORAGE_then_runs(monkeypatch):
    monkeypatch.delenv("SWEEP_STORAGE", raising=False)
    assert resolve_storage(None) == "runs"
    monkeypatch.setenv("SWEEP_STORAGE", "/data/sweeps")
    assert resolve_storage(None) == "/data/sweeps"
    assert resolve_storage("here") == "here"


def test_an_unusable_SWEEP_STORAGE_is_named_as_the_environment(tmp_path, monkeypatch, capsys):
    (tmp_path / "f.txt").write_text("x")
    monkeypatch.setenv("SWEEP_STORAGE", str(tmp_path / "f.txt"))
    assert main(["list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sweep list: error: SWEEP_STORAGE (environment): value ") and \
        "not a directory" in err, err


def test_example_prints_the_bundled_study_file_and_it_equals_the_repositorys(capsys):
    for path in sorted((ROOT / "search_spaces").glob("*.yaml")):
        name = path.stem
        assert commands.COMMANDS["example"](name=name) == 0
        assert capsys.readouterr().out == (ROOT / "search_spaces" / f"{name}.yaml").read_text()
    bundled = sorted(p.name for p in (ROOT / "sweeps" / "examples").glob("*.yaml"))
    assert bundled == sorted(p.name for p in (ROOT / "search_spaces").glob("*.yaml"))


def test_run_help_names_the_example_command_that_works_from_any_directory(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert "sweep example tiny > study.yaml" in out and "search_spaces/" not in out
