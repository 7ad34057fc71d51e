"""`SweepWriter` on a real sqlite store: crash leftovers failed and reused, parents by sweep id,
every call safe to repeat."""

import pytest
from mlflow.tracking import MlflowClient

from samtrain.config import TrainConfig
from sweeps.store.reader import load_records
from sweeps.store.writer import SweepWriter


@pytest.fixture
def uri(tmp_path):
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def child(w: SweepWriter, trial_id: str, cfg: TrainConfig) -> str:
    return w.child(trial_id, "sam", "search", cfg.model_dump(mode="json"), cfg.group_key())


def test_crash_leftovers_are_failed_then_reused_without_duplicates(uri):
    cfg = TrainConfig(epochs=2)
    w = SweepWriter(uri, "s", "id1")
    parent = w.open_parent()
    first = child(w, "t1", cfg)   # the driver dies here: the run stays RUNNING
    w2 = SweepWriter(uri, "s", "id1")
    assert w2.open_parent() == parent             # the same parent on resume
    client = MlflowClient(uri)
    assert client.get_run(first).info.status == "FAILED"
    assert client.get_run(first).data.tags["status"] == "failed"
    again = child(w2, "t1", cfg)  # the restored trial reuses its run
    assert again == first and client.get_run(first).info.status == "RUNNING"
    for _ in range(2):  # a redelivered epoch (same step and timestamp) is stored once
        w2.log_epoch(again, {"epoch": 1, "val_acc": 0.5, "status": "running", "lr": True},
                     timestamp_ms=1_700_000_000_000)
    w2.finish(again, "completed")
    run = client.get_run(first)
    assert run.info.status == "FINISHED" and run.data.metrics == {"epoch": 1.0, "val_acc": 0.5}
    assert len(client.get_metric_history(first, "val_acc")) == 1


def test_a_new_sweep_of_the_same_name_gets_its_own_parent(uri):
    """Deleting runs/ but keeping mlflow.db: the new sweep (new id) never mixes with the old."""
    cfg = TrainConfig(epochs=1)
    old = SweepWriter(uri, "s", "old-id")
    old.open_parent()
    old.finish(child(old, "t1", cfg), "completed")
    new = SweepWriter(uri, "s", "new-id")
    assert new.open_parent() != old.parent_run_id
    new.finish(child(new, "t2", cfg), "completed")
    assert [r.trial_id for r in load_records(uri, "s", "new-id")[1]] == ["t2"]
    assert [r.trial_id for r in load_records(uri, "s", "old-id")[1]] == ["t1"]


def test_a_late_child_never_fails_the_runs_of_a_live_driver(uri):
    """Only a driver's first write (`open_parent`) fails its predecessor's leftovers."""
    cfg = TrainConfig(epochs=2)
    w = SweepWriter(uri, "s", "id1")
    w.open_parent()
    live = child(w, "t1", cfg)
    other = SweepWriter(uri, "s", "id1")
    other.open_parent(fail_leftovers=False)   # e.g. delivering a later `child` after a restart
    child(other, "t2", cfg)
    assert MlflowClient(uri).get_run(live).info.status == "RUNNING"
