"""One Tune trial = one training run, and the driver-side callback that tracks it in MLflow.

A trial's config is `{"method", "phase", "train_config"}` (a full `TrainConfig` dict) or, for
searched trials, `{"method", "params"}` resolved against the study. Single-worker trials run
the training loop in the trial's own process (no worker-group start-up, about 20 s per trial
saved on this machine); multi-worker trials run a `TorchTrainer` inside the trial with
`TuneReportCallback`, under a run name derived from the trial id so a restored trial resumes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ray import tune

from samtrain.config import TrainConfig
from samtrain.launch import ResourcePlan, make_torch_trainer
from samtrain.loop import run_training
from samtrain.session import Session
from sweeps.space import StudySpec, build_train_config
from sweeps.tracking import SweepTracker


def resolve_trial(config: dict[str, Any], study: StudySpec | None = None
                  ) -> tuple[str, str, TrainConfig]:
    """(method, phase, TrainConfig) of a trial config (fixed-config trials nest it under "trial")."""
    config = config.get("trial", config)
    method, phase = config["method"], config.get("phase", "search")
    if "train_config" in config:
        return method, phase, TrainConfig(**config["train_config"])
    if study is None:
        raise ValueError("a searched trial config needs its study")
    return method, phase, build_train_config(study, method, config.get("params", {}))


class TuneSession(Session):
    """The training loop inside an in-process Tune trial."""

    @contextlib.contextmanager
    def resume_dir(self) -> Iterator[Path | None]:
        ckpt = tune.get_checkpoint()
        if ckpt is None:
            yield None
            return
        with ckpt.as_directory() as d:
            yield Path(d)

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        ckpt = tune.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
        tune.report(metrics, checkpoint=ckpt)


def run_trial(config: dict[str, Any], plan: ResourcePlan, in_process: bool, storage_path: str,
              study: StudySpec | None = None) -> None:
    """The Tune function trainable (bind the keyword arguments with `tune.with_parameters`)."""
    started_at = time.time()
    _, _, cfg = resolve_trial(config, study)
    if in_process:
        run_training(cfg, TuneSession(), threads=plan.threads, started_at=started_at)
        return
    from ray.tune.integration.ray_train import TuneReportCallback

    ctx = tune.get_context()
    name = f"{ctx.get_experiment_name()}-train-{ctx.get_trial_id()}"
    trainer = make_torch_trainer(cfg, name, storage_path, plan, callbacks=[TuneReportCallback()],
                                 started_at=started_at)
    trainer.fit()


class MLflowTrialCallback(tune.Callback):
    """Driver-side MLflow logging: a child run per trial under the sweep's parent run.

    Picklable (Tune stores it with the experiment for `Tuner.restore`): the MLflow client is
    opened in `setup`.
    """

    def __init__(self, tracking_uri: str, sweep_name: str, parent: bool = True,
                 study: StudySpec | None = None, log_checkpoints: bool = False,
                 source_file: str | None = None):
        self.tracking_uri, self.sweep_name, self.parent = tracking_uri, sweep_name, parent
        self.study = study
        self.log_checkpoints, self.source_file = log_checkpoints, source_file
        self._tracker: SweepTracker | None = None
        self._runs: dict[str, tuple[str, TrainConfig]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_tracker": None, "_runs": {}}

    @property
    def tracker(self) -> SweepTracker:
        if self._tracker is None:
            self._tracker = SweepTracker(self.tracking_uri, self.sweep_name, parent=self.parent)
            self._tracker.open(self.source_file)
        return self._tracker

    def setup(self, **info: Any) -> None:
        _ = self.tracker

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        method, phase, cfg = resolve_trial(trial.config, self.study)
        self._runs[trial.trial_id] = (self.tracker.child(trial.trial_id, method, cfg, phase), cfg)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        if trial.trial_id not in self._runs:
            self.on_trial_start(iteration, trials, trial)
        self.tracker.log_epoch(self._runs[trial.trial_id][0], result)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if trial.trial_id not in self._runs:
            return
        run_id, cfg = self._runs.pop(trial.trial_id)
        last = trial.last_result or {}
        status = last.get("status", "failed")
        if status == "running" or (status == "completed" and int(last.get("epoch", 0)) < cfg.epochs):
            status = "pruned"  # stopped by the scheduler before its last epoch
        ckpt = None
        if self.log_checkpoints:
            ckpt = last.get("checkpoint_path") or (trial.checkpoint.path if trial.checkpoint else None)
        self.tracker.finish(run_id, status, ckpt)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if trial.trial_id in self._runs:
            self.tracker.finish(self._runs.pop(trial.trial_id)[0], "failed")

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        failed = any(t.status == "ERROR" for t in trials)
        self.tracker.close("FAILED" if failed else "FINISHED")
