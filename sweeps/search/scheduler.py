"""`PerMethodScheduler`: early stopping with one scheduler per method (ASHA, Hyperband, median).

One scheduler over every trial compares methods with different rho scales and learning speeds
against each other, so a method that learns slowly early loses its budget to others. Here each
method's trials are compared only with trials of the same method (Ray's `ASHAScheduler`,
`AsyncHyperBandScheduler` or `MedianStoppingRule` per method, on `epoch`, with that method's
`max_t`), so every method keeps its own budget. The median rule never pauses a trial for lack of
samples (it would lose the work since the trial's last checkpoint): it continues it.

Ray Tune 2.60 does not save a scheduler's state with its experiment snapshots, so a resumed
`Tuner` starts with empty rungs. Here each trial Tune restores is replayed into its method's
scheduler from the `result.json` Tune keeps in the trial's directory (synced with each
snapshot): trials started after `sweep resume` are judged against every result from before it,
as they would have been without the crash. Trials of a sweep's earlier search experiments
(`sweep extend` runs a new one) are replayed the same way (`prior`). Decisions of the replay are
not acted on (those trials were judged then). Known gap: Tune restores a trial's `result.json`
only for trials with a Tune checkpoint; a multi-worker trial (whose checkpoints stay with Ray
Train) starts a new one at each resume, so after a second resume its results from before the
first are not replayed. Hyperband assigns a trial's bracket at random, also in a replay.

Example::

    scheduler = PerMethodScheduler(ASHA(grace_period=10, reduction_factor=4),
                                   max_t={"sgd": 40, "sam": 40, "sgd_x2": 80})
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import (
    ASHAScheduler,
    AsyncHyperBandScheduler,
    FIFOScheduler,
    MedianStoppingRule,
    TrialScheduler,
)

from sweeps.search.trial_config import trial_method
from sweeps.study.spec import StudySpec
from sweeps.study.strategy import ASHA, Hyperband, Median, Scheduler, grace_period


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


def methods_max_t(study: StudySpec) -> dict[str, int]:
    """Each method's `max_t`: the most epochs one of its trials trains (an equal-compute arm
    searches its epochs up to its cap, `sweeps.study.compute`)."""
    return {m: study.max_epochs(m) for m in study.methods}


def make_scheduler(spec: Scheduler, max_t: int, metric: str | None,
                   mode: str | None) -> TrialScheduler:
    """Ray's scheduler for one method of `max_t` epochs."""
    grace = grace_period(spec, max_t)
    if isinstance(spec, ASHA):
        return ASHAScheduler(time_attr="epoch", metric=metric, mode=mode, max_t=max_t,
                             grace_period=grace, reduction_factor=spec.reduction_factor)
    if isinstance(spec, Hyperband):
        return AsyncHyperBandScheduler(time_attr="epoch", metric=metric, mode=mode, max_t=max_t,
                                       grace_period=grace, reduction_factor=spec.reduction_factor,
                                       brackets=spec.brackets)
    assert isinstance(spec, Median)
    return MedianStoppingRule(time_attr="epoch", metric=metric, mode=mode, grace_period=grace,
                              min_samples_required=spec.min_samples_required,
                              min_time_slice=float("inf"))  # never pause: continue instead


class PerMethodScheduler(FIFOScheduler):
    """One scheduler of `spec`'s type per method (created on first use), on `epoch`; `prior`:
    trials of earlier search experiments of the sweep, replayed into their method's scheduler."""

    def __init__(self, spec: Scheduler, max_t: dict[str, int], metric: str | None = None,
                 mode: str | None = None, prior: list[Trial] | None = None) -> None:
        super().__init__()
        self.spec, self.max_t, self.prior = spec, max_t, list(prior or [])
        self._metric, self._mode = metric, mode
        self.schedulers: dict[str, TrialScheduler] = {}

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        self._metric = self._metric or metric
        self._mode = self._mode or mode
        return True

    def _for(self, trial: Trial) -> TrialScheduler:
        method = trial_method(trial.config)
        if method not in self.schedulers:
            self.schedulers[method] = make_scheduler(
                self.spec, self.max_t.get(method, max(self.max_t.values())), self._metric,
                self._mode)
            for old in self.prior:  # an extended sweep: judged against its earlier trials
                if trial_method(old.config) == method:
                    self._replay(self.schedulers[method], old, past_results(old))
        return self.schedulers[method]

    @staticmethod
    def _replay(scheduler: TrialScheduler, trial: Trial, results: list[dict[str, Any]]) -> None:
        """Feed `trial`'s recorded results into `scheduler` (its decisions are not acted on)."""
        scheduler.on_trial_add(None, trial)
        for result in results:
            scheduler.on_trial_result(None, trial, result)
        if results and getattr(trial, "status", None) == Trial.TERMINATED:
            scheduler.on_trial_complete(None, trial, results[-1])  # as Tune did then

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        scheduler = self._for(trial)
        results = past_results(trial)
        if results:  # a trial restored by `sweep resume`: refill the rungs
            self._replay(scheduler, trial, results)
        else:
            scheduler.on_trial_add(tune_controller, trial)

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict) -> str:
        return self._for(trial).on_trial_result(tune_controller, trial, result)

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict) -> None:
        self._for(trial).on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller: Any, trial: Trial) -> None:
        self._for(trial).on_trial_remove(tune_controller, trial)

    def on_trial_error(self, tune_controller: Any, trial: Trial) -> None:
        self._for(trial).on_trial_error(tune_controller, trial)

    def debug_string(self) -> str:
        return f"Using {self.spec.type} per method: " + ", ".join(
            f"{m}: {s.debug_string()}" for m, s in self.schedulers.items())
