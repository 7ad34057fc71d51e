"""`MLflowTrialCallback`: Tune events -> MLflow runs through the outbox; each trial outcome ends
in its status tag and MLflow run state, under the sweep's parent, with the driver's provenance."""

from types import SimpleNamespace

import pytest
from mlflow.tracking import MlflowClient

from samtrain.config.train_config import TrainConfig
from sweeps.execution.mlflow_callback import MLflowTrialCallback
from sweeps.search.trial_config import trial_config
from sweeps.store.provenance import launch_environment
from sweeps.store.writer import MLflowTarget
from tests.support.tracking import children, sqlite_uri


def trial(tid: str, cfg: TrainConfig, last: dict | None = None, status: str = "TERMINATED"):
    return SimpleNamespace(trial_id=tid, config=trial_config("sam", "search", cfg),
                           last_result=last or {}, checkpoint=None, status=status)


@pytest.fixture
def uri(tmp_path):
    return sqlite_uri(tmp_path)


def test_statuses_from_trial_outcomes(uri, tmp_path):
    cfg = TrainConfig(epochs=4)
    cb = MLflowTrialCallback(MLflowTarget(uri, "s", "id1"), tmp_path / "outbox")
    cb.setup()
    outcomes = {
        "done": ({"epoch": 4, "status": "completed", "val_acc": 0.9}, "completed", "FINISHED"),
        "asha": ({"epoch": 2, "status": "running", "val_acc": 0.5}, "pruned", "KILLED"),
        "nan": ({"epoch": 1, "status": "diverged", "val_acc": 0.1}, "diverged", "FAILED"),
    }
    for tid, (last, _, _) in outcomes.items():
        t = trial(tid, cfg, last)
        cb.on_trial_start(0, [], t)
        cb.on_trial_result(0, [], t, {**last, "node_id": "n1", "run_params": {"msharp_path": "loop"}})
        cb.on_trial_complete(0, [], t)
    err = trial("err", cfg, status="ERROR")
    cb.on_trial_start(0, [], err)
    cb.on_trial_error(0, [], err)
    cb.on_experiment_end([err])
    assert cb.undelivered == 0
    runs = children(uri)
    for tid, (last, status, state) in outcomes.items():
        assert runs[tid].data.tags["status"] == status and runs[tid].info.status == state
        assert runs[tid].data.metrics["val_acc"] == last["val_acc"]
        assert runs[tid].data.params["epochs"] == "4" and runs[tid].data.params["msharp_path"] == "loop"
        assert runs[tid].data.tags["node_id"] == "n1" and runs[tid].data.tags["sweep.id"] == "id1"
    assert runs["err"].data.tags["status"] == "failed" and runs["err"].info.status == "FAILED"
    client = MlflowClient(uri)
    (parent,) = client.search_runs([client.get_experiment_by_name("s").experiment_id],
                                   "tags.`sweep.role` = 'parent'")
    assert parent.info.status == "FAILED"  # one trial errored
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in runs.values())
    commit = launch_environment()["git_commit"]
    assert len(commit) == 40
    for r in [parent, *runs.values()]:  # every run: the driver's commit, dirty flag, environment
        assert r.data.tags["mlflow.source.git.commit"] == commit
        assert r.data.tags["git_dirty"] == str(launch_environment()["git_dirty"]).lower()
        assert "environment.json" in {a.path for a in client.list_artifacts(r.info.run_id)}


def test_the_outbox_is_found_in_the_sweep_of_the_process_that_unpickles_it(uri, tmp_path):
    import pickle

    from sweeps.store.sweep_dir import sweep_dir

    d = sweep_dir(tmp_path / "runs", "s")
    cb = MLflowTrialCallback(MLflowTarget(uri, "s", "id1"), "outbox", sweep=d)
    assert pickle.loads(pickle.dumps(cb)).outbox_path == tmp_path / "runs" / "s" / "outbox"
    old = MLflowTrialCallback(MLflowTarget(uri, "s", "id1"), tmp_path / "box")
    state = {k: v for k, v in old.__getstate__().items() if k != "sweep"}  # pickled before `sweep`
    restored = MLflowTrialCallback.__new__(MLflowTrialCallback)
    restored.__dict__.update(state)
    assert restored.outbox_path == tmp_path / "box"


def test_select_and_confirm_runs_carry_their_phase_and_both_seeds(uri, tmp_path):
    """`confirm --top K > 1`: select runs are tagged "select", read back as `Phase.SELECT`."""
    from sweeps.store.mlflow_records import load_records
    from sweeps.store.phase import Phase

    cb = MLflowTrialCallback(MLflowTarget(uri, "s", "id1"), tmp_path / "outbox")
    cb.setup()
    last = {"epoch": 2, "status": "completed", "val_acc": 0.8}
    for tid, phase, seed in (("sel", "select", 1001), ("conf", "confirm", 1)):
        cfg = TrainConfig(epochs=2, seed=seed, data_seed=seed)
        t = SimpleNamespace(trial_id=tid, config=trial_config("sam", phase, cfg), last_result=last,
                            checkpoint=None, status="TERMINATED")
        cb.on_trial_start(0, [], t)
        cb.on_trial_result(0, [], t, last)
        cb.on_trial_complete(0, [], t)
    cb.on_experiment_end([])
    runs = children(uri)
    assert runs["sel"].data.tags["phase"] == "select" and runs["conf"].data.tags["phase"] == "confirm"
    assert runs["sel"].data.params["data_seed"] == "1001"
    _, records = load_records(uri, "s", "id1", history=False)
    assert sorted((r.phase, r.seed) for r in records) == [(Phase.CONFIRM, 1), (Phase.SELECT, 1001)]
    assert len({r.group_key for r in records}) == 1   # one config, two seeds
