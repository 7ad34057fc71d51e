"""`Outbox`: MLflow writes that survive a tracking-server outage, delivered in order, once.

Every write the driver makes (open the parent, create a child with its provenance, log an
epoch, finish a run) is first appended to `journal.jsonl` in the sweep's `outbox/` directory,
then delivered by a background thread through `SweepWriter`. While the server is unreachable
training goes on and operations wait on disk; the thread retries with back-off and sends them
in order once the server answers again. `delivered` records how many operations reached
MLflow, so a restarted driver (`sweep resume`, or any later `sweep` command on the sweep) sends
only the rest.
Redelivery is harmless: runs are found by their tags before being created, and a metric logged
again with its original step and timestamp is stored once.

When writes arrive faster than MLflow takes them (many trials, short epochs), the epochs a run
has waiting go as one request: the thread sends the oldest operation and, if it logs an epoch,
the later epochs of the same run up to that run's next other operation (`MERGE_POINTS` metrics at
most). Each run's operations stay in order; `delivered` stays the count of operations before
the first one not yet sent (one sent ahead of its turn is sent again after a crash: harmless).

Example::

    box = Outbox(sweep.outbox, lambda: SweepWriter(uri, "tiny", sweep_id))
    box.start()
    box.put("child", key="t1", method="sam", phase="search", train_config={...}, group_key="...")
    box.put("log_epoch", key="t1", result={"epoch": 1, "val_acc": 0.5}, timestamp_ms=...)
    box.close(timeout=30)      # what is left stays on disk for the next command
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sweeps.store.tracking_uri import redact
from sweeps.store.writer import SweepWriter

log = logging.getLogger(__name__)

JOURNAL, DELIVERED, REJECTED, LOCK = "journal.jsonl", "delivered", "rejected.jsonl", "lock"
RETRY_S = (1.0, 2.0, 5.0, 10.0)
HTTP_TIMEOUT_S = 15  # one MLflow request to a server that accepts but does not answer
JOIN_S = 5.0  # close(): how long the delivery thread gets to return after the flush
MERGE_POINTS = 900  # metrics in one request of merged epochs (MLflow's log_batch takes 1,000)
MERGE_SCAN = 5000  # journal entries looked through for more epochs of the same run


def unreachable(e: BaseException) -> bool:
    """Whether `e` means "the tracking server did not answer" (retry later), not a bad request."""
    import requests
    from mlflow.exceptions import MlflowException, RestException

    if isinstance(e, requests.exceptions.RequestException | ConnectionError | TimeoutError):
        return True
    if isinstance(e, RestException):  # the server answered with an error: a refusal
        return False
    # MLflow wraps every transport error in a plain MlflowException; only its text tells. Errors
    # urllib3 retries read "Max retries exceeded ..." (refused, reset, timed out, 5xx); a server
    # dying mid-response reads "('Connection broken: IncompleteRead(...)', ...)"; a 5xx answer not
    # retried reads "failed with error code 503 != 200" (a bare "503" may be part of a run id)
    text = str(e)
    # a sqlite store busy with another writer ("database is locked") is an outage too
    return isinstance(e, MlflowException) and (any(
        s in text for s in ("Max retries exceeded", "Connection refused", "ConnectionError",
                            "Connection broken", "Connection aborted", "Failed to establish",
                            "timed out", "database is locked")) or re.search(
        r"error code 50[234]\b", text) is not None)


class OutboxBusy(RuntimeError):
    """Another process (a running sweep's driver) is delivering this outbox."""


class Outbox:
    """An on-disk, ordered queue of MLflow writes and the thread that delivers them."""

    def __init__(self, directory: Path, make_writer: Callable[[], SweepWriter]) -> None:
        self.dir = Path(directory)
        self.make_writer = make_writer
        self._writer: SweepWriter | None = None
        self._runs: dict[str, str] = {}  # key (trial id) -> MLflow run id
        self._cond = threading.Condition()
        self._ops: list[dict[str, Any]] = []
        self._next = 0  # index in the journal of the first operation not yet delivered
        self._done: set[int] = set()  # operations after it delivered ahead of their turn
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._exited = True      # the delivery thread has returned (or never started)
        self._unlock_on_exit = False
        self._lock: Any = None
        self.last_error: str | None = None

    # ---- the journal ----
    def _load(self) -> None:
        """Read the journal; a last line cut by a crash mid-write is cut off the file too, so the
        next append starts a line of its own."""
        journal = self.dir / JOURNAL
        data = journal.read_bytes() if journal.is_file() else b""
        if data and not data.endswith(b"\n"):
            data = data[:data.rfind(b"\n") + 1]
            with journal.open("r+b") as f:
                f.truncate(len(data))
        self._ops = [json.loads(line) for line in data.decode().splitlines()]
        delivered = self.dir / DELIVERED
        self._next = int(delivered.read_text() or 0) if delivered.is_file() else 0
        self._done = set()

    def put(self, op: str, **args: Any) -> None:
        """Append an operation (JSON-serializable arguments) and wake the delivering thread."""
        entry = {"op": op, **args}
        line = json.dumps(entry, default=str)
        with self._cond:
            with (self.dir / JOURNAL).open("a") as f:
                f.write(line + "\n")
            self._ops.append(json.loads(line))
            self._cond.notify()

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._ops) - self._next

    def _mark_delivered(self) -> None:
        tmp = self.dir / (DELIVERED + ".tmp")
        tmp.write_text(str(self._next))
        os.replace(tmp, self.dir / DELIVERED)

    # ---- delivery ----
    def _acquire(self, wait: bool) -> None:
        """One process delivers an outbox at a time (an exclusive `flock` on `outbox/lock`)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = (self.dir / LOCK).open("w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            self._lock.close()
            self._lock = None
            raise OutboxBusy(f"{self.dir} is being delivered by another process") from None

    def start(self, wait: bool = True) -> Outbox:
        """Load what an earlier driver left undelivered and start the delivering thread.

        `wait=False`: raise `OutboxBusy` at once when another process delivers this outbox.
        """
        self._acquire(wait)
        # This thread retries on its own schedule (RETRY_S); MLflow's HTTP client would retry a dead
        # server 7 times with back-off (about 4 min a call) and wait 120 s on a silent one, holding
        # every later write and the end of a sweep. Read at call time, so setting them here is
        # enough; a user's own values win.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(HTTP_TIMEOUT_S))
        with self._cond:
            self._load()
            self._stopping = False
            self._exited, self._unlock_on_exit = False, False
        self._thread = threading.Thread(target=self._deliver_loop, name="mlflow-outbox",
                                        daemon=True)
        self._thread.start()
        return self

    def flush(self, timeout: float) -> int:
        """Wait up to `timeout` seconds for everything to be delivered; return what is left."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._cond.notify_all()
            while self._next < len(self._ops) and time.monotonic() < deadline:
                self._cond.wait(timeout=min(0.5, max(deadline - time.monotonic(), 0.01)))
            return len(self._ops) - self._next

    def close(self, timeout: float) -> int:
        """Flush for up to `timeout` seconds, stop the thread; return the operations left."""
        left = self.flush(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=JOIN_S)
        with self._cond:
            if not self._exited:  # a request still in flight: the thread unlocks when it returns,
                self._unlock_on_exit = True   # so no other process delivers the journal meanwhile
                return left
        self._unlock()
        return left

    def _unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None

    def _batch(self, first: int) -> list[int]:
        """`first` and, when it logs an epoch, the later epochs of the same run still waiting, up
        to that run's next other operation or a driver's start or end (one request for all)."""
        entry = self._ops[first]
        if entry["op"] != "log_epoch":
            return [first]
        batch, points = [first], len(entry["result"])
        for k in range(first + 1, min(len(self._ops), first + MERGE_SCAN)):
            e = self._ops[k]
            if "key" not in e or (e["key"] == entry["key"] and e["op"] != "log_epoch"):
                break
            if e["key"] != entry["key"] or k in self._done:
                continue
            points += len(e["result"])
            if points > MERGE_POINTS:
                break
            batch.append(k)
        return batch

    def _deliver_loop(self) -> None:
        try:
            self._deliver_until_stopped()
        finally:
            with self._cond:
                self._exited = True
                if self._unlock_on_exit:
                    self._unlock()

    def _deliver_until_stopped(self) -> None:
        failures = 0
        alone = -1  # a merged request starting here was refused: send its first operation alone
        while True:
            with self._cond:
                while self._next >= len(self._ops) and not self._stopping:
                    self._cond.wait()
                if self._next >= len(self._ops) or self._stopping:  # close() flushed already
                    return
                batch = [self._next] if alone == self._next else self._batch(self._next)
                entries = [self._ops[k] for k in batch]
            try:
                self.deliver(entries)
            except Exception as e:  # noqa: BLE001 - classified below
                if not unreachable(e):
                    if len(batch) > 1:  # which one MLflow refuses: each in turn, alone
                        alone = batch[0]
                        continue
                    self._reject(entries[0], e)
                else:
                    # the writer is kept: its client needs no reconnecting, and a new writer would
                    # forget the parent run, so its next `child` would re-open the parent and mark
                    # the trials still running as failed
                    text = redact(' '.join(str(e).split()))
                    self.last_error = f"{type(e).__name__}: {text[:200]}"
                    wait = RETRY_S[min(failures, len(RETRY_S) - 1)]
                    failures += 1
                    with self._cond:
                        if self._stopping:
                            return
                        self._cond.wait(timeout=wait)
                    continue
            failures = 0
            with self._cond:
                self._done.update(batch)
                while self._next in self._done:
                    self._done.discard(self._next)
                    self._next += 1
                self._mark_delivered()
                self._cond.notify_all()

    def _reject(self, entry: dict[str, Any], e: Exception) -> None:
        """A request MLflow refused (not an outage): keep it aside, never block the queue."""
        log.warning("MLflow refused %s: %s", entry.get("op"), redact(str(e)))
        with (self.dir / REJECTED).open("a") as f:
            f.write(json.dumps({**entry, "error": redact(str(e))}, default=str) + "\n")

    # ---- operations ----
    @property
    def writer(self) -> SweepWriter:
        if self._writer is None:
            self._writer = self.make_writer()
        return self._writer

    def _run_id(self, key: str) -> str:
        if key not in self._runs:
            found = self.writer.find(trial_id=key)
            if not found:
                raise LookupError(f"no MLflow run for trial {key!r}")
            self._runs[key] = found[0].info.run_id
        return self._runs[key]

    def deliver(self, entries: list[dict[str, Any]]) -> None:
        """Perform one operation, or several epochs of one run as one request (`_batch`)."""
        if len(entries) == 1:
            self.apply(entries[0])
        else:
            self.writer.log_epochs(self._run_id(entries[0]["key"]),
                                   [(e["result"], e["timestamp_ms"]) for e in entries])

    def apply(self, e: dict[str, Any]) -> None:
        """Perform one operation on MLflow (idempotent; see the module docstring)."""
        w, op = self.writer, e["op"]
        if op == "open_parent":  # a driver's first write: its predecessor's leftovers are failed
            w.open_parent(e.get("source_file"), fail_leftovers=True,
                          environment=e.get("environment"))
        elif op == "child":
            if w.use_parent and w.parent_run_id is None:
                w.open_parent(fail_leftovers=False, environment=e.get("environment"))
            self._runs[e["key"]] = w.child(e["key"], e["method"], e["phase"], e["train_config"],
                                           e["group_key"], e.get("node_id"), e.get("environment"))
        elif op == "log_epoch":
            w.log_epoch(self._run_id(e["key"]), e["result"], timestamp_ms=e["timestamp_ms"])
        elif op == "finish":
            w.finish(self._run_id(e["key"]), e["status"], e.get("checkpoint_dir"))
        elif op == "set_tags":
            w.set_tags(self._run_id(e["key"]), e["tags"])
        elif op == "close":
            if w.parent_run_id is None and w.use_parent:
                w.open_parent(fail_leftovers=False)
            w.close(e["state"])
        else:
            raise ValueError(f"unknown outbox operation {op!r}")


def deliver_pending(directory: Path, make_writer: Callable[[], SweepWriter],
                    timeout: float = 60.0) -> int:
    """Send what an earlier driver left in `directory`; return what is still left.

    Delivers nothing when a running sweep's driver holds the outbox (it delivers them itself).
    """
    if not (Path(directory) / JOURNAL).is_file():
        return 0
    box = Outbox(directory, make_writer)
    try:
        box.start(wait=False)
    except OutboxBusy:
        return 0
    return box.close(timeout)
