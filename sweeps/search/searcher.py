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
  (`tests/sweeps/search/test_searcher.py` simulates both).
- It survives a driver crash between Optuna's write and Tune's snapshot: Optuna's sqlite storage
  records a completion at once, Tune's snapshot is periodic, so the resumed Tuner may run such
  a trial again; stock `OptunaSearch` then fails with `UpdateFinishedTrialError`. Here Optuna
  keeps the result it already has and the repeated reports are ignored.

Example::

    searcher = SweepSearch(space=define_by_run(study), metric="val_acc", mode="max")
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from ray.tune.search.optuna import OptunaSearch

from samtrain.engine.status import RunStatus
from sweeps.search.trial_config import KEY, read_trial


class SweepSearch(OptunaSearch):
    """`OptunaSearch` that tells stopped and diverged trials as PRUNED (diverged ones infeasible,
    with the user attr `status: diverged`) and ignores results of trials Optuna already finished.

    Takes `OptunaSearch`'s arguments; the space must be `sweeps.search.sampling.define_by_run`'s,
    whose trial configs carry their Optuna trial number (`optuna_trial`)."""

    def __init__(self, *args: Any, storage: optuna.storages.BaseStorage | None = None,
                 study_name: str = "optuna", **kwargs: Any) -> None:
        self.optuna_storage = storage or optuna.storages.InMemoryStorage()
        self.optuna_study_name = study_name
        self.trial_numbers: dict[str, int] = {}  # Tune trial id -> Optuna trial number
        super().__init__(*args, storage=self.optuna_storage, study_name=study_name, **kwargs)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        config = super().suggest(trial_id)
        if isinstance(config, dict) and KEY in config:
            number = read_trial(config).optuna_trial
            if number is not None:
                self.trial_numbers[trial_id] = number
        return config

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
            self._mark_diverged(trial_id)
        super().on_trial_complete(trial_id, result=result, error=error)

    def _mark_diverged(self, trial_id: str) -> None:
        """User attr `status: diverged` and the violated constraint `diverged = 1`."""
        number = self.trial_numbers.get(trial_id)
        if number is None:
            return
        storage, name = self.optuna_storage, self.optuna_study_name
        study_id = storage.get_study_id_from_name(name)
        trial = optuna.trial.Trial(optuna.load_study(study_name=name, storage=storage),
                                   storage.get_trial_id_from_study_id_trial_number(study_id, number))
        try:
            trial.set_user_attr("status", RunStatus.DIVERGED.value)
            trial.set_constraint("diverged", 1.0)  # infeasible: TPE ranks it below all
        except UpdateFinishedTrialError:  # told before a driver crash: Optuna keeps that
            pass
