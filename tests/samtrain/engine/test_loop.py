"""The worker loop run in-process (LocalContext): learning, metrics, resume, divergence."""

import math

import pytest
import torch

from samtrain.config.train_config import TrainConfig
from samtrain.engine.loop import run_training
from samtrain.engine.worker_context import LocalContext

REPORTED = {"epoch", "train_loss", "train_acc", "perturb_loss", "val_loss", "val_acc",
            "val_examples", "device_seconds", "lr", "rho",
            "epoch_seconds", "images_per_second", "grad_evals", "status", "forget_events",
            "ever_forgotten", "unforgettable", "clean_fit", "perturbed_flip", "perturbed_kl"}
SHARPNESS = {"sharpness_adaptive", "hessian_top_eig", "hessian_trace"}


def digits(**kw) -> TrainConfig:
    base = dict(dataset="digits", model="small_cnn", epochs=2, batch_size=64, lr=0.1, rho=0.05,
                weight_decay=5e-4, seed=0)
    return TrainConfig(**{**base, **kw})


class CrashAfter(LocalContext):
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
    s = LocalContext()
    final = run_training(digits(), s, started_at=0.0)
    assert [h["epoch"] for h in s.history] == [1, 2]
    assert REPORTED <= set(s.history[0]) and "startup_seconds" in s.history[0]
    assert "startup_seconds" not in s.history[1]
    assert final["status"] == "completed" and final["val_acc"] >= 0.85
    assert [h["status"] for h in s.history] == ["running", "completed"]
    steps = 1293 // 64  # digits: 1293 training examples (1437 less 10 % validation), drop_last
    assert [h["grad_evals"] for h in s.history] == [2 * steps, 4 * steps]  # SAM: two passes a step
    assert s.history[0]["rho"] == pytest.approx(0.05)
    assert {h["val_examples"] for h in s.history} == {144}  # 10 % of digits' 1,437-image pool
    assert [h["device_seconds"] for h in s.history] == pytest.approx(
        [s.history[0]["epoch_seconds"], s.history[0]["epoch_seconds"] + s.history[1]["epoch_seconds"]])


def test_plain_sgd_counts_one_pass_and_lr_prop_rho_follows_lr():
    s = LocalContext()
    run_training(digits(perturbation="none", epochs=1), s)
    assert s.history[0]["grad_evals"] == 1293 // 64 and s.history[0]["rho"] == 0.0
    s = LocalContext()
    run_training(digits(rho_policy="lr_prop", rho=0.1, rho_min=0.0, schedule="linear"), s)
    # linear decay to 0 over 2 epochs: the last step of epoch 1 runs at lr = lr_max * (1 - (n-1)/2n)
    n = 1293 // 64
    assert s.history[0]["rho"] == pytest.approx(0.1 * (1 - (n - 1) / (2 * n)), rel=1e-6)


def test_resume_after_a_crash_matches_an_uninterrupted_run(tmp_path):
    full = LocalContext()
    run_training(digits(), full)
    crashed = CrashAfter(1, tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run_training(digits(), crashed)
    resumed = LocalContext(resume_from=crashed.latest_checkpoint)
    final = run_training(digits(), resumed)
    assert [h["epoch"] for h in resumed.history] == [2]
    assert final["device_seconds"] == pytest.approx(
        crashed.history[0]["epoch_seconds"] + final["epoch_seconds"])  # restored, then added to
    for key in ("train_loss", "val_loss", "val_acc", "grad_evals", "lr", "test_acc",
                "forget_events", "ever_forgotten", "unforgettable", "clean_fit"):
        assert final[key] == pytest.approx(full.history[-1][key], rel=1e-5, abs=1e-6), key


def test_non_finite_loss_ends_the_run_as_diverged():
    s = LocalContext()
    final = run_training(digits(perturbation="none", lr=1e6, epochs=3), s)
    assert final["status"] == "diverged" and not math.isfinite(final["train_loss"])
    assert [h["status"] for h in s.history] == ["diverged"]  # stopped after the first epoch


def test_grad_accumulation_and_bf16_train_like_the_plain_run():
    """Accumulation is one optimizer step per global batch over the same m-chunks (only
    BatchNorm's statistics see 32 instead of 64 images); bf16 autocast trains like fp32."""
    runs = {}
    for name, kw in {"plain": {}, "accum": {"grad_accum_steps": 2}, "bf16": {"amp": "bf16"},
                     "both": {"grad_accum_steps": 2, "amp": "bf16"}}.items():
        runs[name] = LocalContext()
        run_training(digits(epochs=2, perturb_batch_size=16, **kw), runs[name])
    steps = 1293 // 64
    plain = runs["plain"].history
    for name, s in runs.items():
        h = s.history
        assert [x["grad_evals"] for x in h] == [2 * steps, 4 * steps], name  # same steps, passes
        assert [x["lr"] for x in h] == pytest.approx([x["lr"] for x in plain]), name
        assert h[-1]["status"] == "completed" and h[-1]["val_acc"] > 0.85, name
        assert h[0]["train_loss"] == pytest.approx(plain[0]["train_loss"], rel=0.1), name
    assert runs["accum"].history[0]["train_loss"] != plain[0]["train_loss"]  # it did accumulate


def test_checkpoint_interval_skips_epochs_but_never_the_last(tmp_path):
    s = LocalContext(checkpoint_root=tmp_path)
    run_training(digits(epochs=3), s, checkpoint_interval_s=3600)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_000003"]
    s = LocalContext(checkpoint_root=tmp_path / "every")
    run_training(digits(epochs=2), s)
    assert len(list((tmp_path / "every").iterdir())) == 2


def test_resuming_a_finished_run_repeats_its_last_result(tmp_path):
    first = LocalContext(checkpoint_root=tmp_path)
    final = run_training(digits(epochs=1), first)
    again = LocalContext(resume_from=first.latest_checkpoint)
    assert run_training(digits(epochs=1), again) == final
    assert again.history == [final]


def test_test_split_is_scored_at_the_end_and_every_test_every_epochs():
    s = LocalContext()
    run_training(digits(epochs=3, perturbation="none"), s)
    assert ["test_acc" in h for h in s.history] == [False, False, True]
    assert s.history[-1]["test_acc"] > 0.8 and s.history[-1]["test_loss"] > 0
    s = LocalContext()
    run_training(digits(epochs=3, perturbation="none", test_every=2), s)
    assert ["test_acc" in h for h in s.history] == [False, True, True]


def test_diagnostics_follow_the_config():
    s = LocalContext()
    run_training(digits(epochs=2, perturbation="none", label_noise=0.3), s)
    for h in s.history:  # plain SGD: no perturbed predictions; label noise: noisy_fit
        assert {"forget_events", "clean_fit", "noisy_fit"} <= set(h)
        assert not {"perturbed_flip", "perturbed_kl"} & set(h) and not SHARPNESS & set(h)
        assert 0.0 <= h["noisy_fit"] <= 1.0 and 0.0 <= h["ever_forgotten"] <= 1.0
    s = LocalContext()
    run_training(digits(epochs=3, sharpness_every=2, sharpness_examples=64, sharpness_m=32,
                        sharpness_steps=2), s)
    assert [SHARPNESS <= set(h) for h in s.history] == [False, True, True]
    assert all("noisy_fit" not in h for h in s.history)
    assert s.history[1]["hessian_top_eig"] > 0 and s.history[1]["sharpness_adaptive"] >= 0


def test_m_sharpness_path_choice_is_reported_once_as_run_params():
    s = LocalContext()
    run_training(digits(epochs=2, perturb_batch_size=16), s)
    params = [h["run_params"] for h in s.history if "msharp_path" in h.get("run_params", {})]
    assert len(params) == 1 and params[0]["msharp_path"] in ("loop", "batched")
    assert params[0]["msharp_loop_ms"] > 0 and params[0]["msharp_batched_ms"] > 0


OWN = dict(dataset="tests.support.problem:blobs", model="tests.support.problem:mlp", epochs=2,
           batch_size=32, val_size=60, momentum=0.9, weight_decay=0.0, seed=0, rho=0.05)


def test_a_researchers_dataset_model_and_loss_train_like_the_builtins():
    """A plain `Dataset` (items read one by one), its own model and loss: the splits, label noise,
    forgetting diagnostics and scores apply unchanged; the loss is the one trained and scored
    (scaling the loss by 2 and the learning rate by 1/2 leaves SAM's trajectory unchanged and
    doubles every reported loss)."""
    runs = {}
    for scale in (1.0, 2.0):
        s = LocalContext()
        cfg = TrainConfig(**OWN, loss="tests.support.problem:scaled_ce", loss_kwargs={"scale": scale},
                          lr=0.1 / scale, label_noise=0.2)
        runs[scale] = (run_training(cfg, s), s.history)
    final, history = runs[1.0]
    assert REPORTED | {"noisy_fit", "test_acc", "test_loss"} <= set(final)
    assert final["status"] == "completed" and final["val_acc"] > 0.6
    assert final["grad_evals"] == 2 * 2 * (240 // 32)  # 300 less 60 for validation, drop_last
    assert 0 < final["ever_forgotten"] <= 1 and 0 <= final["noisy_fit"] <= 1
    doubled, _ = runs[2.0]
    for key in ("train_acc", "val_acc", "test_acc", "ever_forgotten", "perturbed_flip"):
        assert doubled[key] == pytest.approx(final[key], abs=1e-6), key
    for key in ("train_loss", "perturb_loss", "val_loss", "test_loss"):
        assert doubled[key] == pytest.approx(2 * final[key], rel=1e-4), key


def test_the_first_epoch_a_process_trains_reports_what_it_trains_with(tmp_path):
    crashed = CrashAfter(1, tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run_training(digits(epochs=3, perturbation="none"), crashed)
    resumed = LocalContext(resume_from=crashed.latest_checkpoint)
    run_training(digits(epochs=3, perturbation="none"), resumed)
    expected = {"torch_version": torch.__version__, "cuda_version": torch.version.cuda or "none",
                "cuda_available": torch.cuda.is_available(), "device": "cpu"}
    for s in (crashed, resumed):  # a resumed run reports them again (the writer keeps the first)
        assert "run_params" in s.history[0]
        assert all("torch_version" not in h.get("run_params", {}) for h in s.history[1:])
        facts = s.history[0]["run_params"]
        assert {k: facts[k] for k in expected} == expected and facts["device_name"]


def test_the_last_epoch_records_which_validation_examples_it_got_right():
    """`val_correct`: one bit per validation example, as many set as `val_acc` counts; recorded
    once, at the last epoch, and read back by `sweeps.results.noise.correct_mask`."""
    from sweeps.results.noise import correct_mask

    s = LocalContext()
    final = run_training(digits(epochs=2, perturbation="none"), s)
    recorded = [h["run_params"]["val_correct"] for h in s.history
                if "val_correct" in h.get("run_params", {})]
    assert len(recorded) == 1 and recorded[0] == final["run_params"]["val_correct"]
    mask = correct_mask(recorded[0])
    assert mask.size == final["val_examples"]
    assert mask.sum() == pytest.approx(final["val_acc"] * final["val_examples"])
