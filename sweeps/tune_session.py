"""`TuneSession`: the training loop's `Session` inside an in-process Tune trial."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from ray import tune

from samtrain.session import Session, checkpoint_as_dir


class TuneSession(Session):
    """Reports to Tune (`tune.report`) and resumes from the trial's Tune checkpoint."""

    def resume_dir(self) -> contextlib.AbstractContextManager[Path | None]:
        return checkpoint_as_dir(tune.get_checkpoint())

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        ckpt = tune.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
        tune.report(metrics, checkpoint=ckpt)
