"""The planner's ASHA model replays Ray Tune's own `ASHAScheduler` decision for decision, and its
expected epochs match a hand computation on the smallest case."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from sweeps.results.asha_cost import asha_epochs_trained, asha_expected_epochs, asha_rungs


@dataclass
class _Trial:  # what the scheduler reads of a trial: its id
    trial_id: str


def _ray_epochs(scores: list[float], epochs: int, max_t: int, grace: int, rf: float) -> list[int]:
    """Each trial's epochs under Ray's ASHA, trials run one after another, reporting every epoch."""
    sched = ASHAScheduler(time_attr="epoch", metric="val_acc", mode="max", max_t=max_t,
                          grace_period=grace, reduction_factor=rf)
    out = []
    for i, score in enumerate(scores):
        trial = _Trial(f"t{i}")
        sched.on_trial_add(None, trial)
        for epoch in range(1, epochs + 1):
            action = sched.on_trial_result(None, trial, {"epoch": epoch, "val_acc": score})
            if action == TrialScheduler.STOP or epoch == epochs:
                out.append(epoch)
                break
    return out


@pytest.mark.parametrize("trials, epochs, max_t, grace, rf", [
    (3, 40, 40, 10, 3), (6, 40, 40, 10, 3), (5, 27, 27, 1, 3), (4, 60, 80, 20, 3),
    (7, 16, 16, 2, 2)])
def test_the_model_replays_rays_asha_decisions(trials, epochs, max_t, grace, rf) -> None:
    rng = np.random.default_rng(trials * 100 + epochs)
    rungs = asha_rungs(max_t, grace, rf)
    for _ in range(25):
        scores = rng.standard_normal(trials)
        ours = asha_epochs_trained(scores[None, :], epochs, rungs, rf)[0].tolist()
        assert ours == _ray_epochs(scores.tolist(), epochs, max_t, grace, rf), scores


def test_two_trials_train_the_hand_computed_expectation() -> None:
    # trial 1 always trains 40; trial 2 is stopped at epoch 10 when below trial 1 (half the
    # draws), else it also beats trial 1 at the rung of 30 and trains 40: (40 + 25) / 2
    assert asha_expected_epochs(2, 40, 10, 3, sims=20_000) == pytest.approx(32.5, abs=0.3)
    assert asha_expected_epochs(1, 40, 10, 3) == 40.0
    assert asha_expected_epochs(5, 8, 10, 3) == 8.0  # grace beyond the run: nothing stopped
