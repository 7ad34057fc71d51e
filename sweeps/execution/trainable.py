"""The Tune function trainable: one Tune trial = one training run.

Single-worker trials run the training loop in the trial's own process (no worker-group start-up,
about 20 s per trial saved on a small machine); multi-worker trials run a Ray Train
`TorchTrainer` (DDP) inside the trial with `TuneReportCallback` (its results also name every
rank's node, `worker_node_ids`), under a run name derived from the trial id, so a restored or
retried trial resumes from its checkpoint.

The driver imports this module (Tune pickles `run_trial` by reference) but never trains: torch is
imported inside `run_trial`, in the trial process only, which keeps about 1.5 s of imports off
the start of every sweep (benchmarks/RESULTS.md, P3).
"""

from __future__ import annotations

import time
from typing import Any

from sweeps.execution.resources import ResourcePlan
from sweeps.search.trial_config import read_trial


def run_trial(config: dict[str, Any], plan: ResourcePlan, in_process: bool, storage_path: str,
              checkpoint_interval_s: float = 0.0, max_failures: int = 0) -> None:
    """The Tune function trainable (bind the keyword arguments with `tune.with_parameters`);
    `config` is a trial config (`sweeps.search.trial_config`).

    `checkpoint_interval_s`: seconds between epoch checkpoints (0: every epoch; the last epoch is
    always checkpointed); a restored trial loses at most that much work. `max_failures`: retries
    of a multi-worker run inside the trial (Ray Train's `FailureConfig`).
    """
    started_at = time.time()
    from samtrain.engine.allocator import hold_freed_memory

    hold_freed_memory()  # this thread is not the process's main one: keep its heap (glibc)
    cfg = read_trial(config).config()
    if in_process:
        from samtrain.engine.loop import run_training
        from sweeps.execution.trial_context import TuneTrialContext

        run_training(cfg, TuneTrialContext(), threads=plan.threads, started_at=started_at,
                     checkpoint_interval_s=checkpoint_interval_s)
        return
    from ray import tune

    from samtrain.engine.ray_train import make_torch_trainer  # torch: in the trial process only

    ctx = tune.get_context()
    name = f"{ctx.get_experiment_name()}-train-{ctx.get_trial_id()}"
    trainer = make_torch_trainer(cfg, name, storage_path, cpus_per_worker=plan.worker_cpus,
                                 gpus_per_worker=plan.worker_gpus, threads=plan.threads,
                                 callbacks=[_report_callback()], started_at=started_at,
                                 checkpoint_interval_s=checkpoint_interval_s,
                                 max_failures=max_failures)
    trainer.fit()


def _report_callback() -> Any:
    """Ray Train's `TuneReportCallback` (rank 0's results go to Tune), which also adds every
    rank's `node_id` to them as `worker_node_ids` (comma-separated, in the order Train gives)."""
    from ray.tune.integration.ray_train import TuneReportCallback

    class RanksReportCallback(TuneReportCallback):
        def after_report(self, run_context: Any, metrics: list[dict[str, Any]], checkpoint: Any
                         ) -> None:
            nodes = ",".join(str(m.get("node_id", "")) for m in metrics)
            super().after_report(run_context, [{**metrics[0], "worker_node_ids": nodes}, *metrics[1:]],
                                 checkpoint)

    return RanksReportCallback()
