"""One driver per sweep: a fresh lease refuses a second driver naming the first, a stale one is
taken over only with force, the holder keeps it fresh and gives it back."""

import json
import os
import threading
import time

import pytest

import sweeps.store.lease as lease_mod
from sweeps.errors import SweepError
from sweeps.store.lease import LEASE_FILE, STALE_S, check_free, hold_lease, read_lease
from sweeps.store.sweep_dir import SweepDir


def _plant(d: SweepDir, renewed: float, command: str = "sweep resume tiny") -> None:
    d.root.mkdir(parents=True, exist_ok=True)
    (d.root / LEASE_FILE).write_text(json.dumps({
        "holder": "box:42:1.0", "host": "box", "pid": 42, "command": command, "started": renewed,
        "renewed": renewed}))


def test_a_fresh_lease_refuses_a_second_driver_naming_the_first(tmp_path):
    d = SweepDir(tmp_path / "tiny")
    with hold_lease(d, "sweep run tiny", "tiny") as held:
        assert read_lease(d) == held and held.pid == os.getpid()
        with pytest.raises(SweepError, match=rf"^sweep 'tiny' is running: `sweep run tiny` \(pid "
                                             rf"{os.getpid()} on {held.host}, since "):
            with hold_lease(d, "sweep resume tiny", "tiny", force=True):  # force: not a fresh one
                pass
    assert read_lease(d) is None and not d.root.exists()  # given back; the folder was only its


def test_a_stale_lease_needs_force_and_is_then_taken_over(tmp_path):
    d = SweepDir(tmp_path / "tiny")
    _plant(d, time.time() - STALE_S - 5)
    with pytest.raises(SweepError, match=r"not renewed for \d+ s: `sweep resume tiny` \(pid 42 on "
                                         r"box.*take the sweep over with --force$"):
        check_free(d, "tiny")
    with hold_lease(d, "sweep extend tiny", "tiny", force=True):
        assert read_lease(d).command == "sweep extend tiny"
    assert read_lease(d) is None and d.root.is_dir()


def test_the_holder_renews_its_lease_and_stops_when_another_driver_takes_it(tmp_path, monkeypatch):
    # A takeover lands between two beats here (just after a renewal, 0.5 s before the next):
    # a real one only follows a lease left unrenewed for STALE_S, never a beating holder.
    monkeypatch.setattr(lease_mod, "HEARTBEAT_S", 0.5)
    d = SweepDir(tmp_path / "tiny")
    with hold_lease(d, "sweep run tiny", "tiny") as held:
        deadline = time.monotonic() + 30
        while read_lease(d).renewed == held.renewed and time.monotonic() < deadline:
            time.sleep(0.005)
        assert read_lease(d).renewed > held.renewed and read_lease(d).holder == held.holder
        _plant(d, time.time(), "sweep resume tiny --force")  # another driver took it over
        deadline = time.monotonic() + 30
        while _heartbeat_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert read_lease(d).holder == "box:42:1.0"  # neither overwritten nor removed


def _heartbeat_alive() -> bool:
    """Whether a lease heartbeat thread still runs."""
    return any(t.name == "sweep-lease" and t.is_alive() for t in threading.enumerate())


def test_an_unreadable_lease_counts_as_stale(tmp_path):
    d = SweepDir(tmp_path / "tiny")
    d.root.mkdir()
    (d.root / LEASE_FILE).write_text("{")
    assert read_lease(d).age() > STALE_S
    with pytest.raises(SweepError, match="--force"):
        check_free(d, "tiny")
    check_free(d, "tiny", force=True)


def test_a_fresh_lease_of_a_process_gone_from_this_machine_is_free_at_once(tmp_path):
    """A driver killed here (SIGKILL: no `finally` ran) does not block `sweep resume` for a
    minute; one on another machine does (its process cannot be looked up)."""
    import socket
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    d = SweepDir(tmp_path / "tiny")
    d.root.mkdir()
    now = time.time()
    lease = {"holder": "x", "host": socket.gethostname(), "pid": dead.pid, "command": "sweep run tiny",
             "started": now, "renewed": now}
    (d.root / LEASE_FILE).write_text(json.dumps(lease))
    assert read_lease(d).gone() and not read_lease(d).held()
    check_free(d, "tiny")
    (d.root / LEASE_FILE).write_text(json.dumps({**lease, "pid": os.getpid()}))
    with pytest.raises(SweepError, match="is running"):
        check_free(d, "tiny")


def test_on_object_storage_the_lease_is_seen_by_a_driver_with_another_working_copy(s3_env):
    """Two drivers on two machines share nothing but the storage: the lease lives there (not in
    a working copy), and a sweep's name is suggested from what the storage holds."""
    from sweeps.store import sweep_dir as sweep_dir_module
    from sweeps.store.sweep_dir import SweepMeta, open_sweep, sweep_dir, sweep_names
    from sweeps.study.study_file import load_study
    from tests.support import ROOT

    study = load_study(ROOT / "search_spaces" / "tiny.yaml")
    first = sweep_dir("s3://team/leases", "tiny")
    first.write(study, SweepMeta.new(study, "sqlite:///unused.db"))
    with hold_lease(first, "sweep run tiny", "tiny"):
        sweep_dir_module._opened.pop(first.mirror.uri)  # noqa: SLF001 (a fresh machine's process)
        second = sweep_dir("s3://team/leases", "tiny")
        assert second.root != first.root and not (second.root / LEASE_FILE).exists()
        with pytest.raises(SweepError, match=r"^sweep 'tiny' is running: `sweep run tiny`"):
            check_free(second, "tiny")
    assert read_lease(second) is None  # given back on the storage
    assert sweep_names("s3://team/leases") == ["tiny"]
    with pytest.raises(SweepError, match=r"not found: no s3://team/leases/tinny/sweep.json \(did "
                                         r"you mean 'tiny'\?\)"):
        open_sweep("tinny", "s3://team/leases")


def test_a_killed_driver_not_yet_reaped_is_gone_too(tmp_path):
    import signal
    import socket
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    now = time.time()
    try:
        lease = lease_mod.Lease("x", socket.gethostname(), child.pid, "sweep run tiny", now, now)
        assert lease.held()
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while lease.held() and time.monotonic() < deadline:  # a zombie until waited for
            time.sleep(0.05)
        assert lease.gone() and child.poll() is not None  # poll reaps it only now
    finally:
        child.kill()
        child.wait()
