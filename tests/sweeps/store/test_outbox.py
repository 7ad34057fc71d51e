"""The outbox: MLflow writes kept on disk through an outage, delivered in order and once, by one
process at a time; refusals set aside; a journal cut by a crash repaired."""

import json

import pytest
from mlflow.tracking import MlflowClient

from samtrain.config.train_config import TrainConfig
from sweeps.store.outbox import JOURNAL, Outbox, deliver_pending
from sweeps.store.writer import SweepWriter
from tests.support.tracking import children, sqlite_uri

CFG = TrainConfig()
CHILD = {"method": "sam", "phase": "search", "train_config": CFG.model_dump(mode="json"),
         "group_key": CFG.group_key()}


@pytest.fixture
def uri(tmp_path):
    return sqlite_uri(tmp_path)


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
    box.put("child", key="t1", **CHILD)
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


class SlowWriter:
    """A SweepWriter whose `open_parent` waits until `release` is set (a server slow to answer)."""

    def __init__(self, uri, started, release):
        self.real, self.started, self.release = SweepWriter(uri, "s", "id1"), started, release

    def __getattr__(self, name):
        attr = getattr(self.real, name)
        if name != "open_parent":
            return attr

        def slow(*a, **k):
            self.started.set()
            self.release.wait(timeout=60)
            return attr(*a, **k)
        return slow


def test_close_keeps_the_lock_while_a_request_is_in_flight(uri, tmp_path, monkeypatch):
    """A request still running when close() gives up keeps the outbox locked until it returns,
    so no other process delivers the same journal meanwhile (and writes a run twice)."""
    import threading

    from sweeps.store import outbox as outbox_module
    from sweeps.store.outbox import OutboxBusy

    monkeypatch.setattr(outbox_module, "JOIN_S", 0.2)
    started, release = threading.Event(), threading.Event()
    box = Outbox(tmp_path / "box", lambda: SlowWriter(uri, started, release)).start()
    box.put("open_parent")
    box.put("child", key="t1", **CHILD)
    assert started.wait(timeout=30)
    assert box.close(timeout=0.3) == 2                  # nothing delivered yet
    with pytest.raises(OutboxBusy):                     # ... and still locked
        Outbox(tmp_path / "box", lambda: SweepWriter(uri, "s", "id1")).start(wait=False)
    release.set()                                       # the request returns: the thread stops
    box._thread.join(timeout=30)
    assert not box._thread.is_alive()
    assert int((tmp_path / "box" / "delivered").read_text()) == 1   # that request only
    assert deliver_pending(tmp_path / "box", lambda: SweepWriter(uri, "s", "id1"),
                           timeout=30) == 0             # unlocked: the rest delivered once
    assert set(children(uri)) == {"t1"}


def test_a_journal_line_cut_by_a_crash_is_dropped_and_the_next_write_is_kept(uri, tmp_path):
    box_dir = tmp_path / "box"
    box_dir.mkdir()
    (box_dir / JOURNAL).write_text(json.dumps({"op": "open_parent"}) + "\n" + '{"op": "chi')
    box = Outbox(box_dir, lambda: SweepWriter(uri, "s", "id1")).start()
    box.put("child", key="t1", **CHILD)
    assert box.close(timeout=30) == 0
    lines = (box_dir / JOURNAL).read_text().splitlines()
    assert [json.loads(x)["op"] for x in lines] == ["open_parent", "child"]
    assert set(children(uri)) == {"t1"}


def test_a_busy_sqlite_store_is_an_outage_not_a_refusal():
    from mlflow.exceptions import MlflowException

    from sweeps.store.outbox import unreachable

    assert unreachable(MlflowException("(sqlite3.OperationalError) database is locked"))
    assert not unreachable(MlflowException("Changing param values is not allowed"))


def test_a_run_created_after_an_outage_gets_its_provenance_exactly_once(uri, tmp_path):
    """The environment travels in the journal (JSON) with the `child` operation; delivering the
    journal again from the start (a crash before `delivered` was written) adds nothing."""
    env = {"git_commit": "c" * 40, "git_dirty": False, "python": "3.11.7", "platform": "Linux",
           "packages": ["mlflow==3.17.2"]}
    SweepWriter(uri, "s", "id1")  # the store exists: the outage below is the server's only
    state = {"down": True}
    box = Outbox(tmp_path / "box", lambda: FlakyWriter(uri, state)).start()
    box.put("open_parent", environment=env)
    box.put("child", key="t1", environment=env, **CHILD)
    assert box.close(timeout=1.5) == 2
    state["down"] = False
    assert deliver_pending(tmp_path / "box", lambda: FlakyWriter(uri, state), timeout=30) == 0
    (tmp_path / "box" / "delivered").write_text("0")
    assert deliver_pending(tmp_path / "box", lambda: FlakyWriter(uri, state), timeout=30) == 0
    client = MlflowClient(uri)
    (run,) = children(uri).values()
    (parent,) = client.search_runs([run.info.experiment_id], "tags.`sweep.role` = 'parent'")
    for r in (run, parent):
        assert r.data.tags["mlflow.source.git.commit"] == "c" * 40 and r.data.tags["git_dirty"] == "false"
        assert [a.path for a in client.list_artifacts(r.info.run_id)] == (
            ["config.json", "environment.json"] if r is run else ["environment.json"])
        with open(client.download_artifacts(r.info.run_id, "environment.json")) as f:
            assert json.load(f) == env


def _history(uri, key="val_acc"):
    client = MlflowClient(uri)
    return {tid: [(m.step, m.value) for m in sorted(client.get_metric_history(r.info.run_id, key),
                                                    key=lambda m: m.step)]
            for tid, r in children(uri).items()}


def test_a_backlog_of_epochs_goes_one_request_per_run_in_order(uri, tmp_path):
    state = {"down": True}
    box = Outbox(tmp_path / "box", lambda: FlakyWriter(uri, state)).start()
    box.put("open_parent")
    for t in ("t1", "t2"):
        box.put("child", key=t, **CHILD)
    for epoch in range(1, 7):
        for t in ("t1", "t2"):
            box.put("log_epoch", key=t, result={"epoch": epoch, "val_acc": epoch / 8},
                    timestamp_ms=1_700_000_000_000 + epoch)
        if epoch == 3:  # a run's other operation ends its merge: its epochs stay in order
            box.put("set_tags", key="t1", tags={"node_id": "n2"})
    assert box.close(timeout=1.5) == 16
    state["down"] = False
    requests = []
    box = Outbox(tmp_path / "box", lambda: FlakyWriter(uri, state))
    deliver = box.deliver
    box.deliver = lambda entries: (deliver(entries), requests.append(
        [(e["op"], e.get("key"), e.get("result", {}).get("epoch")) for e in entries]))
    box.start()
    assert box.close(timeout=60) == 0
    assert requests[3:] == [  # after the parent and the two children
        [("log_epoch", "t1", e) for e in (1, 2, 3)], [("log_epoch", "t2", e) for e in range(1, 7)],
        [("set_tags", "t1", None)], [("log_epoch", "t1", e) for e in (4, 5, 6)]]
    assert _history(uri) == {t: [(e, e / 8) for e in range(1, 7)] for t in ("t1", "t2")}
    assert children(uri)["t1"].data.tags["node_id"] == "n2"
    assert int((tmp_path / "box" / "delivered").read_text()) == 16


def test_a_refused_epoch_in_a_merged_request_is_set_aside_alone(uri, tmp_path):
    state = {"down": True}
    box = Outbox(tmp_path / "box", lambda: FlakyWriter(uri, state)).start()
    box.put("open_parent")
    box.put("child", key="t1", **CHILD)
    for epoch in range(1, 5):
        bad = {"bad?key": 1.0} if epoch == 3 else {}  # a metric name MLflow refuses
        box.put("log_epoch", key="t1", result={"epoch": epoch, "val_acc": epoch / 8, **bad},
                timestamp_ms=1_700_000_000_000 + epoch)
    assert box.close(timeout=1.5) == 6
    state["down"] = False
    assert deliver_pending(tmp_path / "box", lambda: FlakyWriter(uri, state), timeout=60) == 0
    assert _history(uri) == {"t1": [(1, 0.125), (2, 0.25), (4, 0.5)]}
    rejected = [json.loads(x) for x in (tmp_path / "box" / "rejected.jsonl").read_text().splitlines()]
    assert [r["result"]["epoch"] for r in rejected] == [3]
