"""Reading a sweep back from MLflow: what the writer wrote comes back as typed `RunRecord`s;
the parent is found by the sweep id only."""

import pytest
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from samtrain.config.train_config import TrainConfig
from sweeps.errors import SweepNotTracked
from sweeps.store.mlflow_records import load_records
from sweeps.store.schema import train_config_of
from sweeps.store.writer import SweepWriter


def test_load_records_reads_what_the_writer_wrote(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    w = SweepWriter(uri, "s", "sid")
    w.open_parent()
    cfg = TrainConfig(dataset="digits", epochs=2, rho=0.1, perturb_batch_size=16)
    run = w.child("t1", "sam", "search", cfg.model_dump(mode="json"), cfg.group_key())
    for e in (1, 2):
        w.log_epoch(run, {"epoch": e, "val_acc": 0.5 + 0.1 * e, "epoch_seconds": 2.0,
                          "grad_evals": 40 * e, "forget_events": 3 * e})
    w.finish(run, "completed")
    pid, (rec,) = load_records(uri, "s", "sid")
    assert pid == w.parent_run_id and rec.full_length and rec.trial_id == "t1"
    assert rec.params["rho"] == 0.1 and rec.params["synthetic_shape"] == (3, 32, 32)
    assert rec.group_key == cfg.group_key() and rec.seed == 0
    assert [h["val_acc"] for h in rec.history] == pytest.approx([0.6, 0.7])
    assert rec.final["forget_events"] == 6 and rec.device_seconds == 4.0 and rec.grad_evals == 80
    with pytest.raises(SweepNotTracked, match="no parent run"):
        load_records(uri, "s", "other-id")
    with pytest.raises(SweepNotTracked, match="no MLflow experiment"):
        load_records(uri, "other-sweep", "sid")
    MlflowClient(uri).log_batch(run, params=[Param("msharp_path", "loop")],
                                metrics=[Metric("x", 1.0, 0, 3)])
    _, (rec,) = load_records(uri, "s", "sid", history=False)
    assert rec.params["msharp_path"] == "loop" and rec.final["x"] == 1.0 and rec.history == []
    assert train_config_of(rec.params) == cfg  # run parameters are no config
