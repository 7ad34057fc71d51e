"""`TuneTrialContext`: the training loop's `WorkerContext` inside an in-process Tune trial.

A module of its own so that the driver, which imports `sweeps.execution.trainable`, never imports torch
(`samtrain.engine.worker_context` does): only a trial process imports this module.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from ray import tune

from samtrain.engine.worker_context import WorkerContext, checkpoint_as_dir, node_id


class TuneTrialContext(WorkerContext):
    """Reports to Tune (`tune.report`) and resumes from the trial's Tune checkpoint."""

    def resume_dir(self) -> contextlib.AbstractContextManager[Path | None]:
        return checkpoint_as_dir(tune.get_checkpoint())

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        ckpt = tune.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
        tune.report({**metrics, "node_id": node_id()}, checkpoint=ckpt)
