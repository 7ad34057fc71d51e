"""`sweep train`: one run of a `TrainConfig`, one more MLflow run per distinct config under a name.

Runs under a name share the MLflow experiment NAME (tag `sweep.role=single`, sweep id
`train:NAME`). Each distinct config, its seed included, is a Tune experiment of its own,
`STORAGE/NAME/train-<group key>-s<seed>` with its outbox beside it, so running `sweep train`
again under the same name with other values adds a run. The same values again reuse their run:
a finished one is not trained again (`TrainOutcome.reused`), an unfinished one resumes from its
checkpoint. Records an earlier `sweep train` of the name could not deliver are sent first.

Example (starts Ray)::

    outcome = train_once("digits", "runs", "sqlite:///mlflow.db", TrainConfig(epochs=2),
                         Resources())
    outcome.reused, outcome.result.metrics["val_acc"]
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from samtrain.config.train_config import TrainConfig
from sweeps.execution.runner import run_configs, stored_trials
from sweeps.store.sweep_dir import SweepDir, sweep_dir
from sweeps.store.writer import MLflowTarget
from sweeps.study.spec import Resources

__all__ = ["TrainOutcome", "train_experiment", "train_once"]

PHASE = "train"
LEGACY = "train"  # the one experiment of a name before runs with other values were allowed


@dataclass(frozen=True)
class TrainOutcome:
    """Tune's `Result` of the run, its experiment folder, and whether it had finished before
    (then nothing was trained now)."""

    result: Any
    experiment: str
    reused: bool


def train_experiment(d: SweepDir, cfg: TrainConfig) -> str:
    """The Tune experiment (a folder of `d`) of `cfg`'s run under this name.

    >>> cfg = TrainConfig(seed=3)
    >>> train_experiment(sweep_dir("/tmp/doc-runs", "d1"), cfg) == f"train-{cfg.group_key()}-s3"
    True
    """
    legacy = d.at(LEGACY)
    if _exists(legacy) and stored_trials(legacy) == [(PHASE, cfg, PHASE)]:
        return LEGACY  # written by an earlier version: the same values reuse it
    data = f"-d{cfg.data_seed}" if cfg.data_seed else ""  # the key leaves data_seed out
    return f"train-{cfg.group_key()}-s{cfg.seed}{data}"


def _exists(path: str) -> bool:
    from ray import tune

    return tune.Tuner.can_restore(path)


def _finished(path: str) -> bool:
    """Whether the experiment at `path` (a path or URI) exists and its trial ended normally."""
    from ray.tune import ExperimentAnalysis

    return _exists(path) and all(t.status == "TERMINATED" for t in ExperimentAnalysis(path).trials)


def _deliver_earlier(name: str, d: SweepDir, target: MLflowTarget) -> None:
    """Send what earlier `sweep train` runs of this name left undelivered (skipping any outbox a
    running `sweep train` delivers itself)."""
    from sweeps.store.outbox import deliver_pending

    left = sum(deliver_pending(box, target.writer, timeout=30.0)
               for box in sorted(d.root.glob("train*-outbox")) if box.is_dir())
    if left:
        print(f"MLflow: {left} record(s) of earlier `sweep train --name {name}` runs are still "
              f"undelivered ({target.tracking_uri} does not answer); they stay in {d.location}",
              file=sys.stderr)


def train_once(name: str, storage: str, tracking_uri: str, cfg: TrainConfig, resources: Resources,
               address: str | None = None, in_process: bool | None = None) -> TrainOutcome:
    """Run `cfg` as one more run of name `name` (reused when these values ran before)."""
    d = sweep_dir(storage, name)
    target = MLflowTarget(tracking_uri, name, f"train:{name}", parent=False)
    if d.root.is_dir():
        _deliver_earlier(name, d, target)
    experiment = train_experiment(d, cfg)
    reused = _finished(d.at(experiment))
    grid = run_configs(name, experiment, storage, tracking_uri, [(PHASE, cfg, PHASE)], resources,
                       sweep_id=target.sweep_id, parent=False, log_checkpoints=True,
                       address=address, in_process=in_process)
    return TrainOutcome(grid[0], experiment, reused)
