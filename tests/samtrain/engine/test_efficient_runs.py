"""Runs of the efficient SAM variants through the worker loop: the gradient evaluations and the
share of perturbed steps they log, resume, and bad combinations refused in one line."""

from __future__ import annotations

import pytest
import torch

from samtrain.config.train_config import TrainConfig
from samtrain.engine.loop import run_training
from samtrain.engine.worker_context import LocalContext
from samtrain.errors import ConfigError

STEPS = 1293 // 64  # digits: 1293 training examples at batch 64, drop_last


def digits(**kw) -> TrainConfig:
    base = dict(dataset="digits", model="small_cnn", epochs=1, batch_size=64, lr=0.1, rho=0.05,
                seed=0)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


@pytest.mark.parametrize("kw, evals, share", [
    ({"perturbation": "none"}, STEPS, 0.0),
    ({"perturb_policy": "looksam", "perturb_every": 5}, STEPS + 4, 4 / STEPS),  # steps 0,5,10,15
    ({"perturbation": "random"}, STEPS * 4 / 3, 1.0),
    ({"perturbation": "momentum", "rho": 0.5}, STEPS, (STEPS - 1) / STEPS),   # none at step 0
])
def test_logged_grad_evals_and_perturbed_share(kw: dict, evals: float, share: float) -> None:
    s = LocalContext()
    final = run_training(digits(**kw), s)
    assert final["status"] == "completed" and final["val_acc"] > 0.5
    assert final["grad_evals"] == pytest.approx(evals)
    assert final["perturbed_share"] == pytest.approx(share)


def test_aesam_counts_its_sam_steps_and_resumes_exactly(tmp_path) -> None:
    class CrashAfterFirst(LocalContext):
        def report(self, metrics, checkpoint_dir):
            super().report(metrics, checkpoint_dir)
            if metrics["epoch"] == 1:
                raise KeyboardInterrupt("simulated crash")

    cfg = digits(epochs=2, perturb_policy="aesam")
    whole = LocalContext()
    run_training(cfg, whole)
    h = whole.history
    for m in h:  # one pass a step, two on the perturbed ones
        assert m["grad_evals"] == pytest.approx(STEPS * m["epoch"] * (1 + m["perturbed_share"]))
    assert 0 < h[-1]["perturbed_share"] < 1
    with pytest.raises(KeyboardInterrupt):
        run_training(cfg, CrashAfterFirst(checkpoint_root=tmp_path))
    resumed = LocalContext(checkpoint_root=tmp_path)
    final = run_training(cfg, resumed)
    for key in ("grad_evals", "perturbed_share", "val_loss", "train_loss"):
        assert final[key] == pytest.approx(h[-1][key], rel=1e-6), key


@pytest.mark.parametrize("values, start", [
    ({"perturbation": "momentum", "momentum": 0.0},
     "perturbation 'momentum' needs momentum > 0 with optimizer 'sgd'"),
    ({"perturbation": "obf", "perturb_policy": "looksam"},
     "perturb_policy='looksam' needs perturbation 'ascent'"),
    ({"perturb_policy": "aesam", "perturb_batch_size": 16},
     "perturb_policy='aesam' does not work with perturb_batch_size=16"),
    ({"perturbation": "momentum", "perturb_policy": "prob"},
     "perturb_policy='prob' does not apply to perturbation 'momentum'"),
    ({"perturbation": "none", "perturb_policy": "every"}, "perturb_policy='every' needs a perturbation"),
    ({"perturb_prob": 1.5}, "key 'perturb_prob': value 1.5 is invalid: must be <= 1"),
])
def test_bad_combinations_are_one_line_errors(values: dict, start: str) -> None:
    with pytest.raises(ConfigError) as e:
        TrainConfig.build({"dataset": "digits", **values})
    assert start in str(e.value) and "\n" not in str(e.value)


def test_new_fields_at_their_defaults_keep_the_group_key() -> None:
    """Configs keep the group keys they had before the policy fields existed (computed with the
    code before them), and a policy changes the key."""
    assert TrainConfig(dataset="digits").group_key() == "289f748127d6"
    assert TrainConfig(dataset="digits", perturbation="random", rho=0.2).group_key() == "866de8bab5cf"
    assert TrainConfig(dataset="digits", perturb_policy="every").group_key() != "289f748127d6"
