"""`StorageSync` uploads a sweep on object storage while its experiment runs: at trial starts
and ends, at most every `every_s` on results, at the end (a real S3 server: `s3_env`)."""

from __future__ import annotations

from types import SimpleNamespace

from sweeps.execution.storage_sync import StorageSync
from sweeps.store.sweep_dir import sweep_dir


def body(s3, key: str) -> bytes:
    return s3.client().get_object(Bucket="team", Key=key)["Body"].read()


def test_uploads_at_trial_events_and_throttles_results(s3_env):
    d = sweep_dir("s3://team/sync", "s1")
    sync, trial = StorageSync(d, every_s=3600.0), SimpleNamespace(trial_id="t1")
    (d.root / "optuna.db").write_text("after suggest")
    d.outbox.mkdir(parents=True, exist_ok=True)
    journal = d.outbox / "journal.jsonl"
    journal.write_text("1\n")
    sync.on_trial_start(iteration=1, trials=[trial], trial=trial)
    assert body(s3_env, "sync/s1/optuna.db") == b"after suggest"
    assert body(s3_env, "sync/s1/outbox/journal.jsonl") == b"1\n"

    journal.write_text("1\n2\n")
    sync.on_trial_result(iteration=2, trials=[trial], trial=trial, result={})
    assert body(s3_env, "sync/s1/outbox/journal.jsonl") == b"1\n"  # within every_s: not yet
    sync.every_s = 0.0
    sync.on_trial_result(iteration=3, trials=[trial], trial=trial, result={})
    assert body(s3_env, "sync/s1/outbox/journal.jsonl") == b"1\n2\n"

    journal.write_text("1\n2\n3\n")
    (d.root / "optuna.db").write_text("after tell")
    sync.every_s = 3600.0
    sync.on_trial_complete(iteration=4, trials=[trial], trial=trial)
    assert body(s3_env, "sync/s1/optuna.db") == b"after tell"
    journal.write_text("1\n2\n3\nclose\n")
    sync.on_experiment_end(trials=[trial])
    assert body(s3_env, "sync/s1/outbox/journal.jsonl") == b"1\n2\n3\nclose\n"


def test_a_local_sweep_is_left_alone(tmp_path):
    d = sweep_dir(tmp_path, "s2")
    d.root.mkdir()
    (d.root / "sweep.json").write_text("{}")
    assert d.mirror is None and d.location == str(d.root)
    StorageSync(d).on_experiment_end(trials=[])  # a no-op: nothing to upload to
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["s2", "sweep.json"]
