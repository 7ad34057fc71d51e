"""`SweepSearch`: Ray Tune's `OptunaSearch` with what a sweep needs on top.

- A trial the scheduler stopped before its last epoch is told to Optuna as PRUNED (TPE then ranks
  it by its intermediate values at the epoch it reached, below trials that finished); stock
  `OptunaSearch` tells it as COMPLETE with its last value.
- A diverged trial (non-finite loss) is told as PRUNED too, with the Optuna user attr
  `status: diverged` and the violated constraint `diverged = 1` (`Trial.set_constraint`). TPE
  ignores FAIL trials: a region where runs diverge then holds no bad observation and, having the
  lowest density of "bad" trials, is the one TPE proposes most. PRUNED alone is not enough
  either: TPE ranks pruned trials by the epoch they reached, so a run that diverges late ranks
  above every run ASHA stopped earlier. Infeasible trials rank below all others
  (`tests/test_searcher.py` simulates both).
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
    """`OptunaSearch` that tells stopped and diverged trials as PRUNED (diverged ones infeasible,
    with the user attr `status: diverged`) and ignores results of trials Optuna already finished."""

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
        elif status == RunStatus.DIVERGED:  # a non-finite loss: PRUNED where it diverged
            result = None
            ot_trial = self._ot_trials[trial_id]
            try:
                ot_trial.set_user_attr("status", RunStatus.DIVERGED.value)
                ot_trial.set_constraint("diverged", 1.0)  # infeasible: TPE ranks it below all
            except UpdateFinishedTrialError:  # told before a driver crash: Optuna keeps that
                pass
        super().on_trial_complete(trial_id, result=result, error=error)
