"""`PerMethodASHA`: ASHA early stopping with one bracket set per method.

One ASHA over every trial compares methods with different rho scales and learning speeds
against each other, so a method that learns slowly early loses its budget to others. Here each
method's trials are compared only with trials of the same method (an `ASHAScheduler` per method,
with that method's `max_t`), so every method keeps its own budget.

Ray Tune 2.60 does not save a scheduler's state with its experiment snapshots, so a resumed
`Tuner` starts with empty rungs. Here each trial Tune restores is replayed into its method's rungs
from the `result.json` Tune keeps in the trial's directory (synced with each snapshot): trials
started after `sweep resume` are judged against every result from before it, as they would have
been without the crash. Decisions of the replay are not acted on (those trials were judged then).
Known gap: Tune restores a trial's `result.json` only for trials with a Tune checkpoint; a
multi-worker trial (whose checkpoints stay with Ray Train) starts a new one at each resume, so
after a second resume its results from before the first are not replayed.

Example::

    scheduler = PerMethodASHA(grace_period=5, reduction_factor=3, max_t={"sgd": 40, "sam": 40})
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

from sweeps.search.trial_config import trial_method


def past_results(trial: Trial) -> list[dict[str, Any]]:
    """The results Tune recorded for `trial` before this driver started (none for a new trial),
    read from the trial's folder on Tune's storage file system (local or remote)."""
    if not getattr(getattr(trial, "run_metadata", None), "last_result", None):
        return []  # a new trial: nothing reported, and no folder yet
    storage = getattr(trial, "storage", None)
    try:
        if storage is None:  # a trial built by hand
            text = (Path(trial.path) / "result.json").read_text()
        else:
            with storage.storage_filesystem.open_input_stream(f"{trial.path}/result.json") as f:
                text = f.read().decode()
    except (FileNotFoundError, OSError):
        return []
    results = []
    for line in text.splitlines():
        try:
            results.append(json.loads(line))
        except json.JSONDecodeError:  # blank, or cut off by the crash
            continue
    return results


class PerMethodASHA(FIFOScheduler):
    """ASHA on `time_attr="epoch"`, one `ASHAScheduler` per method (created on first use)."""

    def __init__(self, grace_period: int, reduction_factor: float, max_t: dict[str, int],
                 metric: str | None = None, mode: str | None = None) -> None:
        super().__init__()
        self.grace_period, self.reduction_factor, self.max_t = grace_period, reduction_factor, max_t
        self._metric, self._mode = metric, mode
        self.schedulers: dict[str, ASHAScheduler] = {}

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        self._metric = self._metric or metric
        self._mode = self._mode or mode
        return True

    def _for(self, trial: Trial) -> ASHAScheduler:
        method = trial_method(trial.config)
        if method not in self.schedulers:
            self.schedulers[method] = ASHAScheduler(
                time_attr="epoch", metric=self._metric, mode=self._mode,
                max_t=self.max_t.get(method, max(self.max_t.values())),
                grace_period=self.grace_period, reduction_factor=self.reduction_factor)
        return self.schedulers[method]

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        scheduler = self._for(trial)
        scheduler.on_trial_add(tune_controller, trial)
        results = past_results(trial)  # a trial restored by `sweep resume`: refill the rungs
        for result in results:
            scheduler.on_trial_result(tune_controller, trial, result)
        if results and getattr(trial, "status", None) == Trial.TERMINATED:
            scheduler.on_trial_complete(tune_controller, trial, results[-1])  # as Tune did then

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict) -> str:
        return self._for(trial).on_trial_result(tune_controller, trial, result)

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict) -> None:
        self._for(trial).on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller: Any, trial: Trial) -> None:
        self._for(trial).on_trial_remove(tune_controller, trial)

    def on_trial_error(self, tune_controller: Any, trial: Trial) -> None:
        self._for(trial).on_trial_error(tune_controller, trial)

    def debug_string(self) -> str:
        return "Using ASHA per method: " + ", ".join(
            f"{m}: {s.debug_string()}" for m, s in self.schedulers.items())
