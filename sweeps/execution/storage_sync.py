"""`StorageSync`: a Tune callback that uploads a sweep's working copy to object storage while
its experiment runs (`sweeps.store.remote`).

At every trial start and end (Optuna wrote its study then), at most every `PUSH_EVERY_S` while
trials report (the outbox journal grew), and when the experiment ends (after the MLflow
callback closed the outbox: it comes later in `RunConfig.callbacks`). A driver that dies loses
at most the last seconds of its journal; `sweep resume` on any machine starts from what was
uploaded, as it starts from Tune's last experiment snapshot.

Example::

    tune.RunConfig(storage_path=d.location, callbacks=[mlflow_callback, StorageSync(d)])
"""

from __future__ import annotations

import time
from typing import Any

from ray import tune

from sweeps.store.remote import PUSH_EVERY_S
from sweeps.store.sweep_dir import SweepDir

__all__ = ["StorageSync"]


class StorageSync(tune.Callback):
    """Upload `sweep`'s changed small files during a Tune experiment (picklable)."""

    def __init__(self, sweep: SweepDir, every_s: float = PUSH_EVERY_S) -> None:
        self.sweep, self.every_s = sweep, every_s
        self._last = 0.0

    def _push(self) -> None:
        self.sweep.push()
        self._last = time.monotonic()

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._push()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        if time.monotonic() - self._last >= self.every_s:
            self._push()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._push()

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._push()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._push()
