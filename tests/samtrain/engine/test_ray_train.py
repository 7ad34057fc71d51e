"""Training under Ray Train's TorchTrainer: 1 worker, 2 gloo workers, and resume by run name."""

import os

import pytest

from samtrain.config.train_config import TrainConfig
from samtrain.engine.ray_train import make_torch_trainer
from sweeps.results.noise import correct_mask

pytestmark = pytest.mark.ray


def fit(cfg: TrainConfig, name: str, storage, stop_after_epoch=None):
    trainer = make_torch_trainer(cfg, name, str(storage), cpus_per_worker=1.0,
                                 stop_after_epoch=stop_after_epoch)
    return trainer.fit()


def _digits(**kw) -> TrainConfig:
    return TrainConfig(dataset="digits", epochs=2, batch_size=64, lr=0.1, **kw)


def check_digits_result(result) -> None:
    assert result.error is None
    assert result.metrics["epoch"] == 2 and result.metrics["val_acc"] >= 0.85
    assert result.checkpoint is not None
    # every worker's share of the validation split gathered back into one bitmask, in order
    mask = correct_mask(result.metrics["run_params"]["val_correct"])
    assert mask.size == result.metrics["val_examples"]
    assert mask.sum() == pytest.approx(result.metrics["val_acc"] * mask.size)


def test_digits_two_epochs_on_two_workers(ray_local, tmp_path):
    check_digits_result(fit(_digits(num_workers=2, perturb_batch_size=16), "digits-2", tmp_path))


def test_a_restart_with_the_same_name_resumes_where_the_first_process_stopped(ray_local, tmp_path):
    """Stopped after epoch 1, then fitted again under the same name: it resumes from the
    checkpoint and ends where one uninterrupted run ends (samtrain's local loop, 1 thread as a
    Ray worker trains, is that run: the same code without Ray)."""
    import torch

    from samtrain.engine.loop import run_training
    from samtrain.engine.worker_context import LocalContext

    cfg = _digits()
    threads = torch.get_num_threads()
    try:
        full = run_training(cfg, LocalContext(), threads=1)
    finally:
        torch.set_num_threads(threads)
    first = fit(cfg, "split", tmp_path, stop_after_epoch=1)
    assert first.metrics["epoch"] == 1
    second = fit(cfg, "split", tmp_path)
    check_digits_result(second)
    for key in ("train_loss", "val_loss", "val_acc", "grad_evals"):
        assert second.metrics[key] == pytest.approx(full[key], rel=1e-5, abs=1e-6), key


def test_the_controller_polls_its_workers_every_half_second_unless_the_user_said(monkeypatch,
                                                                                 tmp_path):
    """Ray's default (2 s) ends each run up to 2 s after its last report; the user's value wins.
    Ray Train passes the variable on from the process that builds the trainer."""
    from ray.train.v2._internal.constants import ENV_VARS_TO_PROPAGATE

    from samtrain.engine.ray_train import HEALTH_CHECK_ENV

    assert HEALTH_CHECK_ENV in ENV_VARS_TO_PROPAGATE
    monkeypatch.delenv(HEALTH_CHECK_ENV, raising=False)
    make_torch_trainer(_digits(), "poll", str(tmp_path))
    assert os.environ[HEALTH_CHECK_ENV] == "0.5"
    monkeypatch.setenv(HEALTH_CHECK_ENV, "3")
    make_torch_trainer(_digits(), "poll", str(tmp_path))
    assert os.environ[HEALTH_CHECK_ENV] == "3"
