"""`OptunaSearch` that survives a driver crash between Optuna's write and Tune's snapshot.

Optuna's sqlite storage records a trial's completion at once; Tune's experiment snapshot is
periodic. After a crash in between, the resumed Tuner runs that trial again (from its last
checkpoint), and stock `OptunaSearch` then fails with `UpdateFinishedTrialError`. Here Optuna
keeps the result it already has and the repeated reports are ignored (`OptunaSearch`
already tolerates a repeated completion).

Example::

    searcher = ResumableOptunaSearch(space=define_by_run(study), metric="val_acc", mode="max")
"""

from __future__ import annotations

from typing import Any

from optuna.exceptions import UpdateFinishedTrialError
from ray.tune.search.optuna import OptunaSearch


class ResumableOptunaSearch(OptunaSearch):
    """`OptunaSearch` whose trials, once finished in Optuna, ignore further results."""

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        try:
            super().on_trial_result(trial_id, result)
        except UpdateFinishedTrialError:
            pass
