"""The training loop every worker runs, read top to bottom: build, resume, then epochs.

`run_training` runs it against any `WorkerContext`: a local run, an in-process Tune trial, or a
`TorchTrainer` worker (`samtrain.engine.ray_train.train_loop_per_worker`).

Every epoch reports the metrics below (plus `startup_seconds` on the first epoch a process trains)
and, when due, a checkpoint (model, optimizer, scheduler, RNG, forgetting state). `status` is
`running` until the last epoch (`completed`); a non-finite loss ends the run as `diverged`.

- training: `train_loss`, `train_acc`, `perturb_loss` (loss at w + eps), `lr`, `rho`,
  `grad_evals` (gradient evaluations over the global batch so far, as made: forward+backward
  = 1, forward-only = 1/3; a SAM step 2, RandSAM 4/3, SGD, Momentum-SAM and a skipped ascent 1),
  `perturbed_share` (the share of the steps so far that perturbed), `epoch_seconds`,
  `device_seconds` (the run's epoch seconds so far times its workers), `images_per_second`;
- validation split (every epoch; what search and selection use): `val_loss`, `val_acc`,
  `val_examples` (how many it scored: the n of an accuracy's binomial standard error);
- test split (last epoch, and every `test_every` epochs): `test_loss`, `test_acc`; with
  `eval_sets`, `shift_acc/<set>`, `shift_loss/<set>` (`samtrain.engine.shift_eval`);
- forgetting (`samtrain.diagnostics`): `forget_events`, `ever_forgotten`, `unforgettable`,
  `clean_fit`, `noisy_fit` (with label noise), `perturbed_flip`, `perturbed_kl` (SAM family);
- sharpness (every `sharpness_every` epochs and at the last epoch, if on): `sharpness_adaptive`,
  `hessian_top_eig`, `hessian_trace`;
- `run_params`: a dict of values to record once as run parameters: on the first epoch a
  process trains, what it trains with (`torch_version`, `cuda_version`, `cuda_available`,
  `device`, `device_name`: `samtrain.engine.worker_context.runtime_facts`), and the m-sharpness path
  SAM chose (`msharp_path`, `msharp_loop_ms`, `msharp_batched_ms`); at the last epoch
  `val_correct`, which validation examples the final model classifies correctly
  (`samtrain.engine.epoch.correct_bitmask`; left out past MLflow's 6,000-character param limit, i.e.
  past about 24,000 validation examples): the paired validation noise of `sweeps.results.noise`.

Example:
    >>> from samtrain.config.train_config import TrainConfig
    >>> from samtrain.engine.worker_context import LocalContext
    >>> final = run_training(TrainConfig(dataset="digits", epochs=1), LocalContext())
    >>> final["epoch"], final["status"]
    (1, 'completed')
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

import numpy as np
import torch

from samtrain.config.train_config import TrainConfig
from samtrain.engine.checkpoint import load_checkpoint, save_checkpoint, unwrap
from samtrain.engine.epoch import evaluate, train_one_epoch
from samtrain.engine.run_setup import Run, build_run
from samtrain.engine.shift_eval import score_eval_sets
from samtrain.engine.status import RunStatus
from samtrain.engine.worker_context import WorkerContext, runtime_facts, scratch_dir
from samtrain.models import has_conv

VAL_CORRECT_MAX_CHARS = 6000  # MLflow's limit on a param value


def run_training(cfg: TrainConfig, ctx: WorkerContext, threads: int | None = None,
                 started_at: float | None = None, stop_after_epoch: int | None = None,
                 checkpoint_interval_s: float = 0.0) -> dict[str, Any]:
    """Train `cfg.epochs` epochs (continuing from the context's checkpoint); return the last metrics.

    `started_at` (a `time.time()` value): when the run was requested; the first epoch this
    process trains then also reports `startup_seconds`, the time until its first training step.
    `stop_after_epoch`: return cleanly after that epoch; a later run resumes from its checkpoint.
    `checkpoint_interval_s`: checkpoint an epoch only when this many seconds passed since the
    last checkpoint (0: every epoch); the last epoch is always checkpointed.
    """
    if threads:
        torch.set_num_threads(threads)  # Ray sets OMP_NUM_THREADS=1 in workers: choose deliberately
    seed_everything(cfg.seed)
    run = build_run(cfg, ctx)
    metrics = resume(run)
    last_epoch = cfg.epochs if stop_after_epoch is None else min(cfg.epochs, stop_after_epoch)
    if metrics is not None and run.epoch >= last_epoch:
        ctx.report(metrics, None)  # nothing left to train: repeat the last result
        return metrics
    checkpointed_at = time.time()
    first = run.epoch + 1
    for epoch in range(first, last_epoch + 1):
        startup = None if started_at is None else time.time() - started_at
        started_at = None
        metrics = run_epoch(run, epoch)
        if startup is not None:
            metrics["startup_seconds"] = startup
        if epoch == first:  # a resumed run reports them again; the first values recorded stay
            metrics["run_params"] = {**runtime_facts(run.device), **metrics.get("run_params", {})}
        if metrics["status"] == RunStatus.DIVERGED:
            ctx.report(metrics, None)
            return metrics
        due = epoch in (last_epoch, cfg.epochs) or time.time() - checkpointed_at >= checkpoint_interval_s
        report_epoch(run, metrics, checkpoint=due)
        if due:
            checkpointed_at = time.time()
    return metrics


def run_epoch(run: Run, epoch: int) -> dict[str, Any]:
    """Train one epoch, then score the validation split (and the test split when due)."""
    cfg = run.cfg
    t0 = time.perf_counter()
    lr = run.base.param_groups[0]["lr"]
    train = train_one_epoch(run, epoch)
    train_seconds = time.perf_counter() - t0
    val = evaluate(run.model, run.val_loader, run.loss_fn, cfg, run.device,
                   keep_correct=epoch == cfg.epochs)
    run.epoch = epoch
    metrics: dict[str, Any] = {
        "epoch": epoch, "train_loss": train.pop("loss"), "train_acc": train.pop("acc"),
        "perturb_loss": train.pop("perturb_loss"), "val_loss": val["loss"], "val_acc": val["acc"],
        "val_examples": val["count"], "lr": lr, "rho": run.sam.rho_t if run.sam is not None else 0.0,
        "images_per_second": train.pop("count") / max(train_seconds, 1e-9),
        "grad_evals": run.grad_evals, "perturbed_share": run.perturbed_share, **train,
        "status": (RunStatus.COMPLETED if epoch == cfg.epochs else RunStatus.RUNNING).value,
    }
    if not (math.isfinite(metrics["train_loss"]) and math.isfinite(metrics["val_loss"])):
        metrics["status"] = RunStatus.DIVERGED.value
        return _timed(run, metrics, t0)
    if epoch == cfg.epochs or (cfg.test_every and epoch % cfg.test_every == 0):
        test = evaluate(run.model, run.test_loader, run.loss_fn, cfg, run.device)
        metrics.update(test_loss=test["loss"], test_acc=test["acc"], **score_eval_sets(run))
    if run.sharpness_batch is not None and (epoch == cfg.epochs or epoch % cfg.sharpness_every == 0):
        metrics.update(measure_sharpness_of(run))
    if run.sam is not None and run.sam.msharp_choice is not None and not run.run_params_reported:
        metrics["run_params"] = dict(run.sam.msharp_choice)  # recorded once, as run parameters
        run.run_params_reported = True
    if "correct" in val and len(val["correct"]) <= VAL_CORRECT_MAX_CHARS:
        metrics.setdefault("run_params", {})["val_correct"] = val["correct"]
    return _timed(run, metrics, t0)


def _timed(run: Run, metrics: dict[str, Any], t0: float) -> dict[str, Any]:
    """Add the epoch's wall time and the run's device-seconds so far (time x workers)."""
    metrics["epoch_seconds"] = time.perf_counter() - t0
    run.device_seconds += metrics["epoch_seconds"] * run.ctx.world_size
    metrics["device_seconds"] = run.device_seconds
    return metrics


def measure_sharpness_of(run: Run) -> dict[str, float]:
    """The opt-in sharpness measures on the run's fixed batch (rank 0, eval mode, fp32), in the
    default memory layout (their double backward ran 1.1-1.4x slower in channels-last)."""
    from samtrain.diagnostics import measure_sharpness

    cfg, model = run.cfg, unwrap(run.model)
    x, y = (t.to(run.device) for t in run.sharpness_batch)  # type: ignore[union-attr]
    m = min(cfg.sharpness_m, len(y))
    keep = len(y) - len(y) % m  # a training split smaller than sharpness_examples: whole batches
    if cfg.channels_last:
        model.to(memory_format=torch.contiguous_format)
    try:
        return measure_sharpness(model, run.loss_fn, x[:keep], y[:keep], m=m,
                                 rho=cfg.sharpness_rho, steps=cfg.sharpness_steps)
    finally:
        if cfg.channels_last and has_conv(model):
            model.to(memory_format=torch.channels_last)


def resume(run: Run) -> dict[str, Any] | None:
    """Restore the context's checkpoint into `run`; return its last reported metrics (or None)."""
    with run.ctx.resume_dir() as ckpt:
        if ckpt is None:
            return None
        state = load_checkpoint(ckpt, run.model, run.optimizer, run.scheduler)
    extra = state["extra"]
    run.epoch, run.grad_evals = state["epoch"], float(extra["grad_evals"])
    run.steps = int(extra.get("steps", run.epoch * run.steps_per_epoch))
    run.perturbed_steps = int(extra.get("perturbed_steps", 0))
    run.device_seconds = float(extra.get("device_seconds", 0.0))
    if "forgetting" in extra:
        run.forgetting.load_state_dict(extra["forgetting"])
    return extra.get("metrics")


def report_epoch(run: Run, metrics: dict[str, Any], checkpoint: bool) -> None:
    """Report `metrics` from every rank; rank 0 attaches a checkpoint when `checkpoint`."""
    if not checkpoint:
        run.ctx.report(metrics, None)
        return
    with scratch_dir() as d:
        if run.ctx.world_rank == 0:
            extra = {"grad_evals": run.grad_evals, "steps": run.steps,
                     "perturbed_steps": run.perturbed_steps, "device_seconds": run.device_seconds,
                     "metrics": metrics,
                     "forgetting": run.forgetting.state_dict()}
            save_checkpoint(d, run.model, run.optimizer, run.scheduler, run.epoch, extra)
        run.ctx.report(metrics, d if run.ctx.world_rank == 0 else None)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
