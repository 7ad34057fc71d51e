"""`SweepWriter` on a real sqlite store: crash leftovers failed and reused, parents by sweep id,
every call safe to repeat; MLflow states per status; provenance recorded once."""

import json

import pytest
from mlflow.tracking import MlflowClient

from samtrain.config.train_config import TrainConfig
from sweeps.store.mlflow_records import load_records
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


def test_each_final_status_ends_the_run_in_its_mlflow_state(uri):
    """MLflow's own state says how a run ended; the `status` tag keeps the precise word."""
    cfg = TrainConfig(epochs=2)
    w = SweepWriter(uri, "s", "id1")
    w.open_parent()
    client = MlflowClient(uri)
    expected = {"completed": "FINISHED", "pruned": "KILLED", "diverged": "FAILED", "failed": "FAILED"}
    for status, state in expected.items():
        run_id = child(w, status, cfg)
        w.finish(run_id, status)
        run = client.get_run(run_id)
        assert (run.info.status, run.data.tags["status"]) == (state, status)
    assert [r.status for r in load_records(uri, "s", "id1")[1]] == list(expected)  # read by tag


ENV = {"git_commit": "a" * 40, "git_dirty": True, "python": "3.11.7", "platform": "Linux",
       "packages": ["mlflow==3.17.2", "torch==2.14.1"]}


def test_provenance_is_recorded_once_and_a_found_run_keeps_its_own(uri):
    cfg = TrainConfig(epochs=2)
    w = SweepWriter(uri, "s", "id1")
    parent = w.open_parent(environment=ENV)
    run_id = w.child("t1", "sam", "search", cfg.model_dump(mode="json"), cfg.group_key(),
                     environment=ENV)
    client = MlflowClient(uri)
    for rid in (parent, run_id):
        tags = client.get_run(rid).data.tags
        assert tags["mlflow.source.git.commit"] == "a" * 40 and tags["git_dirty"] == "true"
        assert [a.path for a in client.list_artifacts(rid) if a.path.endswith(".json")] == (
            ["environment.json"] if rid == parent else ["config.json", "environment.json"])
    assert _environment(client, run_id) == ENV
    # found again by a driver on other code (resume, outbox redelivery): nothing is replaced
    other = {**ENV, "git_commit": "b" * 40, "git_dirty": False, "python": "3.12.0"}
    again = SweepWriter(uri, "s", "id1")
    assert again.open_parent(environment=other) == parent
    assert again.child("t1", "sam", "search", cfg.model_dump(mode="json"), cfg.group_key(),
                       environment=other) == run_id
    for rid in (parent, run_id):
        assert client.get_run(rid).data.tags["mlflow.source.git.commit"] == "a" * 40
        assert _environment(client, rid) == ENV


def test_a_run_created_before_a_crash_gets_its_missing_provenance(uri):
    """The driver died between creating the run and logging its provenance: the redelivered
    `child` adds the tags and the artifact, once."""
    cfg = TrainConfig(epochs=2)
    w = SweepWriter(uri, "s", "id1")
    w.open_parent()
    run_id = child(w, "t1", cfg)                     # no environment: as if cut off
    client = MlflowClient(uri)
    assert "mlflow.source.git.commit" not in client.get_run(run_id).data.tags
    assert [a.path for a in client.list_artifacts(run_id)] == ["config.json"]
    for _ in range(2):
        w.child("t1", "sam", "search", cfg.model_dump(mode="json"), cfg.group_key(), environment=ENV)
    assert client.get_run(run_id).data.tags["git_dirty"] == "true"
    assert [a.path for a in client.list_artifacts(run_id)] == ["config.json", "environment.json"]
    assert _environment(client, run_id) == ENV


def test_a_run_parameter_is_recorded_once(uri):
    """The worker's facts come again after a restore (maybe from another node): the first stay."""
    cfg = TrainConfig(epochs=2)
    w = SweepWriter(uri, "s", "id1")
    w.open_parent()
    run_id = child(w, "t1", cfg)
    w.log_epoch(run_id, {"epoch": 1, "run_params": {"device_name": "gpu-a", "torch_version": "2"}})
    w.log_epoch(run_id, {"epoch": 2, "run_params": {"device_name": "gpu-b", "cuda_version": "13.0"}})
    params = MlflowClient(uri).get_run(run_id).data.params
    assert (params["device_name"], params["torch_version"], params["cuda_version"]) == (
        "gpu-a", "2", "13.0")


def _environment(client, run_id):
    path = client.download_artifacts(run_id, "environment.json")
    with open(path) as f:
        return json.load(f)


@pytest.mark.parametrize("method, values, absent, present", [
    ("sgd", {"perturbation": "none"}, {"rho", "adaptive", "obf_C", "gsam_alpha", "rho_policy"},
     {"perturbation", "lr", "momentum"}),
    ("sam", {"rho": 0.1}, {"obf_C", "obf_gamma", "obf_sigmoid", "gsam_alpha", "rho_min"},
     {"rho", "perturbation", "adaptive"}),
    ("obf", {"perturbation": "obf", "obf_C": 10.0}, {"gsam_alpha", "backup_normalized"},
     {"rho", "obf_C", "obf_gamma", "obf_sigmoid"}),
    ("gsam", {"gsam_alpha": 0.3}, {"obf_C"}, {"gsam_alpha", "backup_normalized"}),
    ("adamw", {"perturbation": "none", "optimizer": "adamw"}, {"momentum", "rho"}, {"optimizer"}),
])
def test_a_run_holds_only_the_params_its_method_uses_and_reads_back_whole(uri, method, values,
                                                                          absent, present):
    cfg = TrainConfig(epochs=2, **values)
    w = SweepWriter(uri, "s", "id1")
    w.open_parent()
    run_id = w.child("t1", method, "search", cfg.model_dump(mode="json"), cfg.group_key())
    client = MlflowClient(uri)
    params = client.get_run(run_id).data.params
    assert params["method"] == method
    assert not absent & set(params) and present <= set(params)
    assert set(params) - {"method"} == set(cfg.applied_params())
    # the artifact holds the whole resolved config, unused fields included
    path = client.download_artifacts(run_id, "config.json")
    with open(path) as f:
        assert TrainConfig(**json.load(f)) == cfg
    w.finish(run_id, "completed")
    (record,) = load_records(uri, "s", "id1", history=False)[1]
    assert set(cfg.model_dump()) <= set(record.params)  # defaults filled for the unlogged fields
    from sweeps.store.schema import train_config_of

    assert train_config_of(record.params) == cfg


def test_a_field_that_did_not_act_but_was_set_is_read_back_from_config_json(uri):
    """rho=0.2 on a plain SGD run is not a param, yet the record is that run's config (its
    group key, which confirm and report match on)."""
    cfg = TrainConfig(epochs=2, perturbation="none", rho=0.2)
    w = SweepWriter(uri, "s", "id1")
    w.open_parent()
    run_id = w.child("t1", "sgd", "search", cfg.model_dump(mode="json"), cfg.group_key())
    assert "rho" not in MlflowClient(uri).get_run(run_id).data.params
    (record,) = load_records(uri, "s", "id1", history=False)[1]
    assert record.params["rho"] == 0.2
    from sweeps.store.schema import train_config_of

    assert train_config_of(record.params).group_key() == cfg.group_key() == record.group_key
