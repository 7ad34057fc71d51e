"""`SweepSearch`: Ray Tune's `OptunaSearch` with what a sweep needs on top.

- A trial the scheduler stopped before its last epoch is told to Optuna as PRUNED (TPE then ranks
  it by its intermediate values at the epoch it reached, below trials that finished), and a
  diverged trial as FAIL; stock `OptunaSearch` tells both as COMPLETE with their last value.
- It survives a driver crash between Optuna's write and Tune's snapshot: Optuna's sqlite storage
  records a completion at once, Tune's snapshot is periodic, so the resumed Tuner may run such
  a trial again; stock `OptunaSearch` then fails with `UpdateFinishedTrialError`. Here Optuna
  keeps the result it already has and the repeated reports are ignored.

Example::

    searcher = SweepSearch(space=define_by_run(study), metric="val_acc", mode="max")
"""

from __future__ import annotations

from typing import Any

from optuna.exceptions import UpdateFinishedTrialError
from ray.tune.search.optuna import OptunaSearch

from samtrain.run_status import RunStatus


class SweepSearch(OptunaSearch):
    """`OptunaSearch` that tells stopped trials as PRUNED, diverged ones as FAIL, and ignores
    results of trials Optuna already finished."""

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        try:
            super().on_trial_result(trial_id, result)
        except UpdateFinishedTrialError:
            pass

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                          error: bool = False) -> None:
        status = (result or {}).get("status")
        if status == RunStatus.RUNNING:     # stopped by the scheduler: PRUNED (no final value)
            result = None
        elif status == RunStatus.DIVERGED:  # a non-finite loss: FAIL
            result, error = None, True
        super().on_trial_complete(trial_id, result=result, error=error)
