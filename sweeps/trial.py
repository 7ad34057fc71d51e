"""One Tune trial = one training run (this module is imported by trial processes: no MLflow).

A trial's config is `{"method", "phase", "train_config"}` (a full `TrainConfig` dict) or, for
searched trials, `{"method", "params"}` resolved against the study. Single-worker trials run
the training loop in the trial's own process (no worker-group start-up, about 20 s per trial
saved on this machine); multi-worker trials run a `TorchTrainer` inside the trial with
`TuneReportCallback`, under a run name derived from the trial id so a restored trial resumes.
"""

from __future__ import annotations

import time
from typing import Any

from samtrain.config import TrainConfig
from samtrain.launch import ResourcePlan, make_torch_trainer
from sweeps.space import StudySpec, build_train_config

# The driver imports this module (Tune pickles `run_trial` by reference, MLflow logging uses
# `resolve_trial`) but never trains: torch is imported by `run_trial` in the trial process only,
# which keeps about 1.5 s of imports off the start of every sweep (benchmarks/RESULTS.md, P3).


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


def run_trial(config: dict[str, Any], plan: ResourcePlan, in_process: bool, storage_path: str,
              study: StudySpec | None = None, checkpoint_interval_s: float = 0.0) -> None:
    """The Tune function trainable (bind the keyword arguments with `tune.with_parameters`).

    `checkpoint_interval_s`: seconds between epoch checkpoints (0: every epoch; the last epoch is
    always checkpointed); a restored trial loses at most that much work.
    """
    started_at = time.time()
    _, _, cfg = resolve_trial(config, study)
    if in_process:
        from samtrain.loop import run_training
        from sweeps.tune_session import TuneSession

        run_training(cfg, TuneSession(), threads=plan.threads, started_at=started_at,
                     checkpoint_interval_s=checkpoint_interval_s)
        return
    from ray import tune
    from ray.tune.integration.ray_train import TuneReportCallback

    ctx = tune.get_context()
    name = f"{ctx.get_experiment_name()}-train-{ctx.get_trial_id()}"
    trainer = make_torch_trainer(cfg, name, storage_path, plan, callbacks=[TuneReportCallback()],
                                 started_at=started_at, checkpoint_interval_s=checkpoint_interval_s)
    trainer.fit()
