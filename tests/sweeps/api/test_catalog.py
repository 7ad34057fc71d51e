"""`sweep list` (state, trials done/planned, best value, from each sweep's folder and Optuna
study), `sweep delete` (folder and MLflow runs; asks unless --yes; refused while running), and
"did you mean" for a misspelled sweep name."""

import optuna
import pytest
from mlflow.tracking import MlflowClient

from sweeps import delete_sweep, list_sweeps, study_from_file
from sweeps.cli import main
from sweeps.errors import SweepError
from sweeps.store.lease import hold_lease
from sweeps.store.sweep_dir import SweepMeta, sweep_dir
from tests.support import ROOT

TINY = ROOT / "search_spaces" / "tiny.yaml"  # sgd: 1 trial, sam: budget 2 -> 3 planned


def make_sweep(storage, name, values=(), waiting=0, uri="sqlite:///unused.db"):
    """A sweep folder as `sweep run` leaves it, its Optuna study holding completed trials with
    `values` and `waiting` enqueued ones."""
    study = study_from_file(TINY, name=name)
    d = sweep_dir(storage, name)
    d.write(study, meta := SweepMeta.new(study, uri))
    opt = optuna.create_study(study_name=name, storage=d.optuna_url, direction="maximize")
    for v in values:
        opt.add_trial(optuna.trial.create_trial(value=v, params={}, distributions={}))
    for _ in range(waiting):
        opt.enqueue_trial({})
    return d, meta


def test_list_gives_state_trials_and_best(tmp_path, monkeypatch, capsys):
    runs = tmp_path / "runs"
    make_sweep(runs, "done", [0.9, 0.95, 0.8])
    make_sweep(runs, "half", [0.7], waiting=2)
    d, _ = make_sweep(runs, "busy")
    (runs / "not-a-sweep").mkdir()
    with hold_lease(d, "sweep resume busy", "busy"):
        got = {s.name: (s.state, s.trials_done, s.trials_total, s.best) for s in list_sweeps(str(runs))}
        monkeypatch.setenv("SWEEP_STORAGE", str(runs))  # found without --storage
        assert main(["list"]) == 0
    assert got == {"done": ("finished", 3, 3, 0.95), "half": ("stopped", 1, 3, 0.7),
                   "busy": ("running", 0, 3, None)}
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "STATE", "TRIALS", "BEST"]
    assert [line.split() for line in lines[1:]] == [
        ["busy", "running", "0/3", "-"], ["done", "finished", "3/3", "val_acc=0.9500"],
        ["half", "stopped", "1/3", "val_acc=0.7000"]]


def test_a_misspelled_sweep_is_suggested_and_the_storage_named(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    make_sweep(tmp_path / "elsewhere", "fashion")
    assert main(["status", "fashoin", "--storage", "elsewhere"]) == 2
    err = capsys.readouterr().err
    assert "sweep 'fashoin' not found" in err and "did you mean 'fashion'?" in err, err
    assert main(["status", "fashion"]) == 2  # not under ./runs: the message says where to look
    err = capsys.readouterr().err
    assert "no sweeps there" in err and "--storage" in err and "SWEEP_STORAGE" in err, err


def _tracked(tmp_path, name, sweep_id, n):
    """`n` MLflow runs of experiment `name` tagged with `sweep_id`."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(name)
    exp_id = exp.experiment_id if exp else client.create_experiment(name)
    for _ in range(n):
        client.set_terminated(client.create_run(exp_id, tags={"sweep.id": sweep_id}).info.run_id)
    return uri, client, exp_id


def test_delete_removes_the_folder_and_only_its_own_mlflow_runs(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    d, meta = make_sweep(tmp_path / "runs", "tiny", uri=uri)
    _, client, exp_id = _tracked(tmp_path, "tiny", meta.sweep_id, 3)
    _tracked(tmp_path, "tiny", "an-earlier-sweep", 1)
    said = delete_sweep("tiny", str(tmp_path / "runs"))
    assert not d.root.exists()
    assert said[0] == f"removed: the sweep's folder {d.root}"
    assert said[1].startswith(f"MLflow: deleted 3 run(s) of experiment 'tiny' at {uri}")
    assert "1 other run(s)" in said[2]
    left = client.search_runs([exp_id])
    assert [r.data.tags["sweep.id"] for r in left] == ["an-earlier-sweep"]


def test_delete_asks_and_keeps_the_sweep_unless_told_yes(tmp_path, monkeypatch, capsys):
    d, meta = make_sweep(tmp_path / "runs", "tiny")
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    asked = []
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or "n")
    assert main(["delete", "tiny", "--storage", str(tmp_path / "runs"), "--keep-runs"]) == 0
    assert d.root.is_dir() and asked == [f"Delete sweep 'tiny': {d.root}? [y/N] "]
    assert capsys.readouterr().out == "sweep 'tiny': kept\n"
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert main(["delete", "tiny", "--storage", str(tmp_path / "runs"), "--keep-runs"]) == 0
    out = capsys.readouterr().out
    assert not d.root.exists() and "left: the sweep's MLflow runs" in out and meta.sweep_id in out


def test_a_running_sweep_is_not_deleted_nor_driven_twice(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    d, _ = make_sweep(tmp_path / "runs", "tiny")
    with hold_lease(d, "sweep extend tiny", "tiny") as held:
        with pytest.raises(SweepError, match="is running: `sweep extend tiny`"):
            delete_sweep("tiny", "runs", keep_runs=True, force=True)
        for argv in (["resume", "tiny"], ["extend", "tiny", "--trials", "1"],
                     ["confirm", "tiny", "--force"]):
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert err.startswith(f"sweep {argv[0]}: error: sweep 'tiny' is running: `sweep "
                                  f"extend tiny` (pid {held.pid} on {held.host}"), err
            assert len(err.splitlines()) == 1
    assert d.root.is_dir()
