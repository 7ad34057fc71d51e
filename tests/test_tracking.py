"""MLflow parent/child tracking driven by Tune callback events (fake trials, real sqlite MLflow)."""

import re
from types import SimpleNamespace

import pytest
from mlflow.tracking import MlflowClient

from samtrain.config import TrainConfig
from sweeps.tracking import MLflowTrialCallback, SweepTracker


def trial(tid: str, cfg: TrainConfig, last: dict | None = None, status: str = "TERMINATED"):
    config = {"trial": {"method": "sam", "phase": "search", "train_config": cfg.model_dump(mode="json")}}
    return SimpleNamespace(trial_id=tid, config=config, last_result=last or {}, checkpoint=None,
                           status=status)


@pytest.fixture
def uri(tmp_path):
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_statuses_from_trial_outcomes(uri):
    cfg = TrainConfig(epochs=4)
    cb = MLflowTrialCallback(uri, "s")
    cb.setup()
    outcomes = {
        "done": ({"epoch": 4, "status": "completed", "val_acc": 0.9}, "completed"),
        "asha": ({"epoch": 2, "status": "running", "val_acc": 0.5}, "pruned"),
        "nan": ({"epoch": 1, "status": "diverged", "val_acc": 0.1}, "diverged"),
    }
    for tid, (last, _) in outcomes.items():
        t = trial(tid, cfg, last)
        cb.on_trial_start(0, [], t)
        cb.on_trial_result(0, [], t, last)
        cb.on_trial_complete(0, [], t)
    err = trial("err", cfg, status="ERROR")
    cb.on_trial_start(0, [], err)
    cb.on_trial_error(0, [], err)
    cb.on_experiment_end([err])
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("s")
    runs = {r.data.tags["trial_id"]: r for r in client.search_runs(
        [exp.experiment_id], "tags.`sweep.role` = 'child'")}
    for tid, (last, status) in outcomes.items():
        assert runs[tid].data.tags["status"] == status and runs[tid].info.status == "FINISHED"
        assert runs[tid].data.metrics["val_acc"] == last["val_acc"]
        assert runs[tid].data.params["epochs"] == "4"
    assert runs["err"].data.tags["status"] == "failed" and runs["err"].info.status == "FAILED"
    (parent,) = client.search_runs([exp.experiment_id], "tags.`sweep.role` = 'parent'")
    assert parent.info.status == "FAILED"  # one trial errored
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in runs.values())


def test_crash_leftovers_are_failed_then_reused_without_duplicates(uri):
    cfg = TrainConfig(epochs=2)
    tracker = SweepTracker(uri, "s")
    parent = tracker.open()
    first = tracker.child("t1", "sam", cfg, "search")   # the driver dies here: run stays RUNNING
    tracker2 = SweepTracker(uri, "s")
    assert tracker2.open() == parent                    # same parent on resume
    client = MlflowClient(uri)
    assert client.get_run(first).info.status == "FAILED"
    assert client.get_run(first).data.tags["status"] == "failed"
    again = tracker2.child("t1", "sam", cfg, "search")  # the restored trial reuses its run
    assert again == first and client.get_run(first).info.status == "RUNNING"
    tracker2.log_epoch(again, {"epoch": 1, "val_acc": 0.5, "status": "running", "lr": True})
    tracker2.finish(again, "completed")
    run = client.get_run(first)
    assert run.info.status == "FINISHED" and run.data.metrics == {"epoch": 1.0, "val_acc": 0.5}


def test_store_opens_in_background_and_its_error_surfaces_at_first_use(tmp_path):
    ok = MLflowTrialCallback(f"sqlite:///{tmp_path / 'mlflow.db'}", "s")
    ok.setup()  # returns at once; the parent run is created in a thread
    ok.on_trial_start(0, [], trial("t1", TrainConfig(epochs=1)))
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("s").experiment_id],
                                "tags.trial_id = 't1'")
    assert run.data.tags["mlflow.parentRunId"] == ok.tracker.parent_run_id

    (tmp_path / "file").write_text("")
    bad_uri = f"sqlite:///{tmp_path / 'file' / 'mlflow.db'}"  # a store that cannot be created
    with pytest.raises(Exception) as direct:
        SweepTracker(bad_uri, "s")
    bad = MLflowTrialCallback(bad_uri, "s")
    bad.setup()  # does not fail here ...
    with pytest.raises(type(direct.value), match=re.escape(str(direct.value))):
        bad.on_trial_start(0, [], trial("t2", TrainConfig(epochs=1)))  # ... but at its first use
