"""The worker loop run in-process (LocalSession): learning, metrics, resume, divergence."""

import math

import pytest
import torch

from samtrain.config import TrainConfig
from samtrain.loop import run_training
from samtrain.session import LocalSession

REPORTED = {"epoch", "train_loss", "train_acc", "perturb_loss", "val_loss", "val_acc", "lr", "rho",
            "epoch_seconds", "images_per_second", "grad_evals", "status"}


def digits(**kw) -> TrainConfig:
    base = dict(dataset="digits", model="small_cnn", epochs=2, batch_size=64, lr=0.1, rho=0.05,
                weight_decay=5e-4, seed=0)
    return TrainConfig(**{**base, **kw})


class CrashAfter(LocalSession):
    """Simulates a worker killed right after reporting epoch `n`."""

    def __init__(self, n: int, root):
        super().__init__(checkpoint_root=root)
        self.n = n

    def report(self, metrics, checkpoint_dir):
        super().report(metrics, checkpoint_dir)
        if metrics["epoch"] == self.n:
            raise KeyboardInterrupt("simulated crash")


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def test_sam_on_digits_learns_and_reports_every_metric():
    s = LocalSession()
    final = run_training(digits(), s, started_at=0.0)
    assert [h["epoch"] for h in s.history] == [1, 2]
    assert REPORTED <= set(s.history[0]) and "startup_seconds" in s.history[0]
    assert "startup_seconds" not in s.history[1]
    assert final["status"] == "completed" and final["val_acc"] >= 0.85
    assert [h["status"] for h in s.history] == ["running", "completed"]
    steps = 1437 // 64  # digits: 1437 training examples, drop_last
    assert [h["grad_evals"] for h in s.history] == [2 * steps, 4 * steps]  # SAM: two passes a step
    assert s.history[0]["rho"] == pytest.approx(0.05)


def test_plain_sgd_counts_one_pass_and_lr_prop_rho_follows_lr():
    s = LocalSession()
    run_training(digits(perturbation="none", epochs=1), s)
    assert s.history[0]["grad_evals"] == 1437 // 64 and s.history[0]["rho"] == 0.0
    s = LocalSession()
    run_training(digits(rho_policy="lr_prop", rho=0.1, rho_min=0.0, schedule="linear"), s)
    # linear decay to 0 over 2 epochs: the last step of epoch 1 runs at lr = lr_max * (1 - (n-1)/2n)
    n = 1437 // 64
    assert s.history[0]["rho"] == pytest.approx(0.1 * (1 - (n - 1) / (2 * n)), rel=1e-6)


def test_resume_after_a_crash_matches_an_uninterrupted_run(tmp_path):
    full = LocalSession()
    run_training(digits(), full)
    crashed = CrashAfter(1, tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run_training(digits(), crashed)
    resumed = LocalSession(resume_from=crashed.latest_checkpoint)
    final = run_training(digits(), resumed)
    assert [h["epoch"] for h in resumed.history] == [2]
    for key in ("train_loss", "val_loss", "val_acc", "grad_evals", "lr"):
        assert final[key] == pytest.approx(full.history[-1][key], rel=1e-5, abs=1e-6), key


def test_non_finite_loss_ends_the_run_as_diverged():
    s = LocalSession()
    final = run_training(digits(perturbation="none", lr=1e6, epochs=3), s)
    assert final["status"] == "diverged" and not math.isfinite(final["train_loss"])
    assert [h["status"] for h in s.history] == ["diverged"]  # stopped after the first epoch


def test_grad_accumulation_and_bf16_run():
    s = LocalSession()
    final = run_training(digits(epochs=1, grad_accum_steps=2, perturb_batch_size=16, amp="bf16"), s)
    assert final["status"] == "completed" and final["val_acc"] > 0.5


def test_checkpoint_interval_skips_epochs_but_never_the_last(tmp_path):
    s = LocalSession(checkpoint_root=tmp_path)
    run_training(digits(epochs=3), s, checkpoint_interval_s=3600)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_000003"]
    s = LocalSession(checkpoint_root=tmp_path / "every")
    run_training(digits(epochs=2), s)
    assert len(list((tmp_path / "every").iterdir())) == 2


def test_resuming_a_finished_run_repeats_its_last_result(tmp_path):
    first = LocalSession(checkpoint_root=tmp_path)
    final = run_training(digits(epochs=1), first)
    again = LocalSession(resume_from=first.latest_checkpoint)
    assert run_training(digits(epochs=1), again) == final
    assert again.history == [final]
