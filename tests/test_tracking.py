"""MLflow tracking: the schema, the idempotent writer, the Tune callback, the outbox (real sqlite)."""

import json
from types import SimpleNamespace

import pytest
from mlflow.tracking import MlflowClient

from samtrain.config import TrainConfig
from sweeps.mlflow_callback import MLflowTarget, MLflowTrialCallback
from sweeps.store.outbox import JOURNAL, Outbox, deliver_pending
from sweeps.store.reader import load_records
from sweeps.store.schema import result_metrics
from sweeps.store.writer import SweepWriter


def trial(tid: str, cfg: TrainConfig, last: dict | None = None, status: str = "TERMINATED"):
    config = {"trial": {"method": "sam", "phase": "search", "train_config": cfg.model_dump(mode="json")}}
    return SimpleNamespace(trial_id=tid, config=config, last_result=last or {}, checkpoint=None,
                           status=status)


@pytest.fixture
def uri(tmp_path):
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def children(uri, name="s"):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(name)
    return {r.data.tags["trial_id"]: r for r in client.search_runs(
        [exp.experiment_id], "tags.`sweep.role` = 'child'")}


def test_every_numeric_result_value_is_a_metric_but_not_tunes_bookkeeping():
    result = {"epoch": 3, "val_acc": 0.5, "forget_events": 12, "new_metric": 1.5, "status": "running",
              "time_this_iter_s": 2.0, "training_iteration": 3, "pid": 7, "node_ip": "x",
              "done": False, "flag": True, "run_params": {"msharp_path": "loop"}}
    assert result_metrics(result) == {"epoch": 3.0, "val_acc": 0.5, "forget_events": 12.0,
                                      "new_metric": 1.5}


def test_statuses_from_trial_outcomes(uri, tmp_path):
    cfg = TrainConfig(epochs=4)
    cb = MLflowTrialCallback(MLflowTarget(uri, "s", "id1"), tmp_path / "outbox")
    cb.setup()
    outcomes = {
        "done": ({"epoch": 4, "status": "completed", "val_acc": 0.9}, "completed"),
        "asha": ({"epoch": 2, "status": "running", "val_acc": 0.5}, "pruned"),
        "nan": ({"epoch": 1, "status": "diverged", "val_acc": 0.1}, "diverged"),
    }
    for tid, (last, _) in outcomes.items():
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
    for tid, (last, status) in outcomes.items():
        assert runs[tid].data.tags["status"] == status and runs[tid].info.status == "FINISHED"
        assert runs[tid].data.metrics["val_acc"] == last["val_acc"]
        assert runs[tid].data.params["epochs"] == "4" and runs[tid].data.params["msharp_path"] == "loop"
        assert runs[tid].data.tags["node_id"] == "n1" and runs[tid].data.tags["sweep.id"] == "id1"
    assert runs["err"].data.tags["status"] == "failed" and runs["err"].info.status == "FAILED"
    client = MlflowClient(uri)
    (parent,) = client.search_runs([client.get_experiment_by_name("s").experiment_id],
                                   "tags.`sweep.role` = 'parent'")
    assert parent.info.status == "FAILED"  # one trial errored
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in runs.values())


def test_crash_leftovers_are_failed_then_reused_without_duplicates(uri):
    cfg = TrainConfig(epochs=2)
    w = SweepWriter(uri, "s", "id1")
    parent = w.open_parent()
    first = w.child("t1", "sam", cfg, "search")   # the driver dies here: the run stays RUNNING
    w2 = SweepWriter(uri, "s", "id1")
    assert w2.open_parent() == parent             # the same parent on resume
    client = MlflowClient(uri)
    assert client.get_run(first).info.status == "FAILED"
    assert client.get_run(first).data.tags["status"] == "failed"
    again = w2.child("t1", "sam", cfg, "search")  # the restored trial reuses its run
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
    old.finish(old.child("t1", "sam", cfg, "search"), "completed")
    new = SweepWriter(uri, "s", "new-id")
    assert new.open_parent() != old.parent_run_id
    new.finish(new.child("t2", "sam", cfg, "search"), "completed")
    assert [r.trial_id for r in load_records(uri, "s", "new-id")[1]] == ["t2"]
    assert [r.trial_id for r in load_records(uri, "s", "old-id")[1]] == ["t1"]


class FlakyWriter:
    """A SweepWriter whose server is down while `down` is set."""

    def __init__(self, uri, state):
        self.real, self.state = SweepWriter(uri, "s", "id1"), state

    def __getattr__(self, name):
        attr = getattr(self.real, name)
        if callable(attr) and self.state["down"]:
            def fail(*a, **k):
                raise ConnectionError("Connection refused")
            return fail
        return attr


def test_outbox_keeps_writes_during_an_outage_and_delivers_them_once(uri, tmp_path):
    state = {"down": True}
    box = Outbox(tmp_path / "box", lambda: FlakyWriter(uri, state)).start()
    box.put("open_parent")
    box.put("child", key="t1", method="sam", phase="search", config=TrainConfig().model_dump(mode="json"))
    for epoch in (1, 2):
        box.put("log_epoch", key="t1", result={"epoch": epoch, "val_acc": 0.1 * epoch},
                timestamp_ms=1_700_000_000_000 + epoch)
    assert box.close(timeout=1.5) == 4            # nothing reached MLflow; all kept on disk
    assert len((tmp_path / "box" / JOURNAL).read_text().splitlines()) == 4
    # a later command (another process) delivers them once the server answers
    state["down"] = False
    assert deliver_pending(tmp_path / "box", lambda: FlakyWriter(uri, state), timeout=30) == 0
    assert deliver_pending(tmp_path / "box", lambda: FlakyWriter(uri, state), timeout=30) == 0
    (run,) = children(uri).values()
    history = MlflowClient(uri).get_metric_history(run.info.run_id, "val_acc")
    assert [(m.step, m.value) for m in history] == [(1, 0.1), (2, 0.2)]


def test_outbox_sets_aside_requests_mlflow_refuses(uri, tmp_path):
    box = Outbox(tmp_path / "box", lambda: SweepWriter(uri, "s", "id1")).start()
    box.put("log_epoch", key="unknown-trial", result={"epoch": 1}, timestamp_ms=1)
    box.put("open_parent")
    assert box.close(timeout=30) == 0             # the bad one does not block the queue
    rejected = [json.loads(x) for x in (tmp_path / "box" / "rejected.jsonl").read_text().splitlines()]
    assert [r["op"] for r in rejected] == ["log_epoch"] and "unknown-trial" in rejected[0]["error"]


def test_a_second_process_never_delivers_an_outbox_a_driver_holds(uri, tmp_path):
    box = Outbox(tmp_path / "box", lambda: SweepWriter(uri, "s", "id1")).start()
    box.put("open_parent")
    from sweeps.store.outbox import OutboxBusy

    with pytest.raises(OutboxBusy):
        Outbox(tmp_path / "box", lambda: SweepWriter(uri, "s", "id1")).start(wait=False)
    assert deliver_pending(tmp_path / "box", lambda: SweepWriter(uri, "s", "id1")) == 0
    assert box.close(timeout=30) == 0
    again = Outbox(tmp_path / "box", lambda: SweepWriter(uri, "s", "id1")).start(wait=False)
    assert again.close(timeout=5) == 0  # released at close


def test_a_journal_line_cut_by_a_crash_is_dropped_and_the_next_write_is_kept(uri, tmp_path):
    box_dir = tmp_path / "box"
    box_dir.mkdir()
    (box_dir / JOURNAL).write_text(json.dumps({"op": "open_parent"}) + "\n" + '{"op": "chi')
    box = Outbox(box_dir, lambda: SweepWriter(uri, "s", "id1")).start()
    box.put("child", key="t1", method="sam", phase="search", config=TrainConfig().model_dump(mode="json"))
    assert box.close(timeout=30) == 0
    lines = (box_dir / JOURNAL).read_text().splitlines()
    assert [json.loads(x)["op"] for x in lines] == ["open_parent", "child"]
    assert set(children(uri)) == {"t1"}


def test_a_late_child_never_fails_the_runs_of_a_live_driver(uri):
    """Only a driver's first write (`open_parent`) fails its predecessor's leftovers."""
    cfg = TrainConfig(epochs=2)
    w = SweepWriter(uri, "s", "id1")
    w.open_parent()
    live = w.child("t1", "sam", cfg, "search")
    other = SweepWriter(uri, "s", "id1")
    other.open_parent(fail_leftovers=False)   # e.g. delivering a later `child` after a restart
    other.child("t2", "sam", cfg, "search")
    assert MlflowClient(uri).get_run(live).info.status == "RUNNING"


def test_a_busy_sqlite_store_is_an_outage_not_a_refusal():
    from mlflow.exceptions import MlflowException

    from sweeps.store.outbox import unreachable

    assert unreachable(MlflowException("(sqlite3.OperationalError) database is locked"))
    assert not unreachable(MlflowException("Changing param values is not allowed"))
