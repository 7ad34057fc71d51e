"""A sweep folder on object storage (`sweeps.store.remote`, `SweepDir` with a mirror) against a
real S3 server: `moto_server` on 127.0.0.1 (tests/support/services.py), credentials and endpoint
from the environment, as a user's cluster gives them."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from sweeps.errors import SweepError
from sweeps.store import sweep_dir as sweep_dir_module
from sweeps.store.optuna_storage import SweepOptunaStorage
from sweeps.store.remote import RemoteMirror, check_remote, is_remote, join
from sweeps.store.sweep_dir import check_storage, open_sweep, sweep_dir
from tests.support.services import S3Server

SMALL = {"sweep.json": "{}", "space.yaml": "name: x\n", "optuna.db": "db",
         "outbox/journal.jsonl": '{"op": "close"}\n', "outbox/delivered": "1",
         "train-ab-s0-outbox/journal.jsonl": "{}\n"}
NOT_MIRRORED = {"outbox/lock": "", "search/experiment_state-x.json": "{}",
                "search/sam-1/checkpoint_000000/model.pt": "w", "outbox/journal.jsonl.tmp": "x"}


@pytest.fixture
def env(s3_env):
    return s3_env


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def keys(s3: S3Server, prefix: str) -> set[str]:
    """The objects under `prefix` (not the empty `dir/` markers pyarrow leaves)."""
    return {k.removeprefix(prefix) for k in s3.keys() if k.startswith(prefix) and k[-1] != "/"}


def test_uris_are_told_from_paths_and_joined_before_their_query():
    assert [is_remote(s) for s in ("s3://b", "gs://b/p", "hdfs://h/p", "file:///tmp/x", "runs",
                                   "/abs/runs", "./s3:/x")] == [True, True, True, False, False,
                                                                False, False]
    assert join("s3://b/p/", "n") == "s3://b/p/n"
    assert join("s3://b?region=eu-west-1&scheme=http", "n", "search") == \
        "s3://b/n/search?region=eu-west-1&scheme=http"


@pytest.mark.parametrize("uri, held", [
    ("s3://AKIAEXAMPLE:PLANTEDsecret@team/runs", "user:password@"),
    ("s3://team/runs?secret_key=PLANTEDsecret&access_key=AKIAEXAMPLE", "access_key, secret_key"),
    ("s3://team/runs?Session_Token=PLANTEDsecret", "session_token"),
])
def test_a_uri_holding_credentials_is_refused_without_showing_them(uri, held):
    with pytest.raises(SweepError) as e:
        check_remote(uri)
    line = str(e.value)
    assert line.startswith("--storage: value ") and f"holds credentials ({held})" in line
    assert "PLANTEDsecret" not in line and "AWS_ACCESS_KEY_ID" in line


def test_an_unknown_scheme_or_unreachable_server_is_one_line_naming_the_value(monkeypatch):
    with pytest.raises(SweepError, match=r"^--storage: value 'nosuch://b/runs' is invalid: "
                                         r"Unrecognized filesystem type"):
        check_storage("nosuch://b/runs")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "PLANTEDsecret")
    with pytest.raises(SweepError) as e:  # nothing listens on port 1
        check_remote("s3://team/runs?endpoint_override=127.0.0.1:1&scheme=http")
    assert "Could not connect" in str(e.value) and "\n" not in str(e.value)
    assert "PLANTEDsecret" not in str(e.value)


def test_a_reachable_prefix_is_accepted_and_an_object_is_not_a_folder(env):
    env.client().put_object(Bucket="team", Key="a-file", Body=b"x")
    assert check_remote("s3://team/new/prefix") == "s3://team/new/prefix"
    with pytest.raises(SweepError, match="'s3://team/a-file' is invalid: it is a file"):
        check_remote("s3://team/a-file")


def test_push_uploads_the_small_files_once_and_pull_brings_them_to_a_fresh_copy(env, tmp_path):
    uri, prefix = "s3://team/runs/m1", "runs/m1/"
    a = RemoteMirror(uri, tmp_path / "a")
    write(a.root, {**SMALL, **NOT_MIRRORED, "report/report.md": "# r"})
    assert a.push() == len(SMALL) + 1
    assert keys(env, prefix) == {*SMALL, "report/report.md"}  # no lock, no Tune files, no .tmp
    assert env.client().get_object(Bucket="team", Key=prefix + "sweep.json")["Body"].read() == b"{}"
    assert a.push() == 0  # nothing changed

    b = RemoteMirror(uri, tmp_path / "b")
    assert b.pull() == len(SMALL)  # the report is not needed to work on the sweep
    assert {str(p.relative_to(b.root)) for p in b.root.rglob("*") if p.is_file()} == set(SMALL)
    assert all((b.root / rel).read_text() == text for rel, text in SMALL.items())

    (b.root / "outbox" / "journal.jsonl").write_text('{"op": "close"}\n{"op": "open"}\n')
    (b.root / "train-ab-s0-outbox" / "journal.jsonl").unlink()
    write(b.root, {"report/analysis.md": "# a"})
    assert b.push("report") == 1  # only the report's files
    assert b.push() == 2          # the journal changed, the other outbox's file is gone
    assert keys(env, prefix) == {*SMALL, "report/report.md", "report/analysis.md"} - {
        "train-ab-s0-outbox/journal.jsonl"}
    body = env.client().get_object(Bucket="team", Key=prefix + "outbox/journal.jsonl")["Body"]
    assert body.read().count(b"\n") == 2


def test_folders_are_listed_by_prefix(env, tmp_path):
    m = RemoteMirror("s3://team/runs/m2", tmp_path)
    for key in ("search/a.json", "search-2/a.json", "search-x/a.json", "confirm-0/a.json",
                "searchlight.txt"):
        env.client().put_object(Bucket="team", Key=f"runs/m2/{key}", Body=b"{}")
    assert m.list_dirs("search") == ["search", "search-2", "search-x"]
    assert m.list_dirs("confirm-") == ["confirm-0"]
    assert RemoteMirror("s3://team/runs/none", tmp_path).list_dirs("search") == []
    d = sweep_dir("s3://team/runs", "m2")
    assert d.search_experiments() == ["search", "search-2"]  # search-x is not one
    assert d.experiments("confirm-") == ["confirm-0"]


def test_a_failed_upload_keeps_the_working_copy_and_goes_with_the_next(env, tmp_path, capsys):
    m = RemoteMirror("s3://team/runs/m3", tmp_path)
    write(m.root, {"sweep.json": "{}"})
    live = m.fs
    m.fs, _ = type(live).from_uri("s3://team?endpoint_override=127.0.0.1:1&scheme=http")
    assert m.push() == 0 and m.failed
    err = capsys.readouterr().err
    assert "could not upload to s3://team/runs/m3" in err and str(m.root) in err
    sweep_dir_module._discard(m)
    assert (m.root / "sweep.json").is_file()  # kept: it holds what storage does not
    m.fs = live
    assert m.push() == 1 and not m.failed
    sweep_dir_module._discard(m)
    assert not m.root.exists()


def test_a_sweep_on_s3_is_one_working_copy_per_process_and_pickles_as_a_reference(env):
    d = sweep_dir("s3://team/runs", "m4")
    assert d.mirror is not None and d is sweep_dir("s3://team/runs", "m4")
    assert d.location == "s3://team/runs/m4" and d.at("search") == "s3://team/runs/m4/search"
    assert d.train_storage == "s3://team/runs/m4/train"
    assert pickle.loads(pickle.dumps(d)) is d
    storage = SweepOptunaStorage(d)
    assert storage.url == f"sqlite:///{d.root / 'optuna.db'}"
    # unpickled in a process with another working copy (a fresh machine): that copy's file
    sweep_dir_module._opened.pop(d.mirror.uri)
    again = pickle.loads(pickle.dumps(storage))
    fresh = sweep_dir("s3://team/runs", "m4")
    assert fresh.root != d.root and again.url == f"sqlite:///{fresh.root / 'optuna.db'}"
    with pytest.raises(SweepError, match="sweep 'm4' not found: no s3://team/runs/m4/sweep.json"):
        open_sweep("m4", "s3://team/runs")


def test_on_s3_tune_keeps_checkpoints_for_a_minute_of_snapshot_lag(env, tmp_path):
    from sweeps.execution.runner import run_config
    from sweeps.execution.storage_sync import StorageSync

    d = sweep_dir("s3://team/runs", "m5")
    for interval, kept in ((30.0, 2), (10.0, 6), (0.0, 60)):
        rc = run_config("search", d, callback=object(), max_failures=2,
                        checkpoint_interval_s=interval)
        assert rc.checkpoint_config.num_to_keep == kept
        # a checkpoint outlives its successor by 60 s at least (interval floored at 1 s)
        assert (kept - 1) * max(interval, 1.0) < 60.0 <= kept * max(interval, 1.0)
    assert rc.storage_path == "s3://team/runs/m5"
    assert isinstance(rc.callbacks[-1], StorageSync) and rc.callbacks[-1].sweep is d
