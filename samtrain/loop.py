"""The training loop every worker runs, read top to bottom: data, model, optimizer, epochs.

`train_loop_per_worker` is the `ray.train.torch.TorchTrainer` entry point; `run_training` is the
same loop against any `Session` (a local run, or an in-process Tune trial).

Every epoch reports `epoch, train_loss, train_acc, perturb_loss, val_loss, val_acc, lr, rho,
epoch_seconds, images_per_second, grad_evals, status` and (rank 0) a checkpoint with model,
optimizer, scheduler, RNG states and epoch. `grad_evals` counts forward+backward passes over
the global batch, cumulatively: 2 per step for SAM-style perturbations, 1 for `none` and
`random` (whose first pass is forward-only). `status` is `running` until the last epoch, which
reports `completed`; a non-finite loss ends the run with `status: diverged`.

Example:
    >>> from samtrain.config import TrainConfig
    >>> from samtrain.session import LocalSession
    >>> final = run_training(TrainConfig(dataset="digits", epochs=1), LocalSession())
    >>> final["epoch"], final["status"]
    (1, 'completed')
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, Dataset, Subset, TensorDataset
from torch.utils.data.distributed import DistributedSampler

from samtrain.checkpoint import load_checkpoint, save_checkpoint
from samtrain.config import TrainConfig
from samtrain.data import build_datasets
from samtrain.models import build_model
from samtrain.optim import SAM
from samtrain.schedule import lr_factor_fn
from samtrain.session import RayTrainSession, Session, scratch_dir


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Ray Train entry point: `{"train_config": TrainConfig dict, "threads", "started_at",
    "stop_after_epoch", "checkpoint_interval_s"}` (see `run_training`)."""
    run_training(TrainConfig(**config["train_config"]), RayTrainSession(), config.get("threads"),
                 config.get("started_at"), config.get("stop_after_epoch"),
                 config.get("checkpoint_interval_s", 0.0))


def run_training(cfg: TrainConfig, session: Session, threads: int | None = None,
                 started_at: float | None = None, stop_after_epoch: int | None = None,
                 checkpoint_interval_s: float = 0.0) -> dict[str, Any]:
    """Train `cfg.epochs` epochs (continuing from the session's checkpoint); return the last metrics.

    `started_at` (a `time.time()` value): when the run was requested; the first epoch this
    process trains then also reports `startup_seconds`, the time until its first training step.
    `stop_after_epoch`: return cleanly after that epoch; a later run resumes from its checkpoint.
    `checkpoint_interval_s`: checkpoint an epoch only when this many seconds passed since the
    last checkpoint (0: every epoch); the last epoch is always checkpointed.
    """
    if threads:
        torch.set_num_threads(threads)  # Ray sets OMP_NUM_THREADS=1 in workers: choose deliberately
    seed_everything(cfg.seed)
    device = session.device(cfg.use_gpu)

    # data: each worker sees its own shard of every global batch
    data = build_datasets(cfg)
    train_loader = make_train_loader(data.train, cfg, session)
    val_loader = make_eval_loader(data.val, cfg, session)

    # model and optimizer
    model = build_model(cfg.model, data.num_classes, data.in_channels, data.image_size)
    model = session.prepare_model(model, device)
    base = make_base_optimizer(cfg, model)
    sam = SAM(base, **cfg.sam_kwargs(), lr_max=cfg.lr, lr_min=0.0) if cfg.perturbation != "none" else None
    optimizer = sam or base
    steps_per_epoch = len(train_loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(base, lr_factor_fn(
        cfg.schedule, cfg.epochs * steps_per_epoch, round(cfg.warmup_epochs * steps_per_epoch)))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    passes_per_step = 2 if sam is not None and cfg.perturbation != "random" else 1

    # resume
    start_epoch, grad_evals, ckpt_metrics = 0, 0, None
    with session.resume_dir() as ckpt:
        if ckpt is not None:
            state = load_checkpoint(ckpt, model, optimizer, scheduler)
            start_epoch, grad_evals = state["epoch"], int(state["extra"]["grad_evals"])
            ckpt_metrics = state["extra"].get("metrics")

    metrics: dict[str, Any] = {"epoch": start_epoch, "status": "completed"}
    last_epoch = min(cfg.epochs, stop_after_epoch or cfg.epochs)
    if ckpt_metrics and start_epoch >= last_epoch:
        session.report(ckpt_metrics, None)  # nothing left to train: repeat the last result
        return ckpt_metrics
    last_checkpoint = time.time()
    for epoch in range(start_epoch + 1, last_epoch + 1):
        t0 = time.perf_counter()
        startup = None if started_at is None else time.time() - started_at
        started_at = None
        if isinstance(train_loader.sampler, BatchSampler):
            train_loader.sampler.sampler.set_epoch(epoch)
        else:
            train_loader.sampler.set_epoch(epoch)
        lr = base.param_groups[0]["lr"]
        train = train_one_epoch(model, optimizer, sam, scheduler, train_loader, loss_fn, cfg, device)
        train_seconds = time.perf_counter() - t0
        rho_t = sam.rho_t if sam is not None else 0.0
        val = evaluate(model, val_loader, loss_fn, cfg, device)
        grad_evals += steps_per_epoch * passes_per_step
        epoch_seconds = time.perf_counter() - t0
        metrics = {
            "epoch": epoch,
            "train_loss": train["loss"], "train_acc": train["acc"],
            "perturb_loss": train["perturb_loss"],
            "val_loss": val["loss"], "val_acc": val["acc"],
            "lr": lr, "rho": rho_t,
            "epoch_seconds": epoch_seconds,
            "images_per_second": train["count"] / max(train_seconds, 1e-9),
            "grad_evals": grad_evals,
            "status": "completed" if epoch == cfg.epochs else "running",
        }
        if startup is not None:
            metrics["startup_seconds"] = startup
        if not all(math.isfinite(metrics[k]) for k in ("train_loss", "val_loss")):
            metrics["status"] = "diverged"
            session.report(metrics, None)
            return metrics
        due = epoch in (last_epoch, cfg.epochs) or time.time() - last_checkpoint >= checkpoint_interval_s
        if not due:
            session.report(metrics, None)
            continue
        with scratch_dir() as d:
            if session.world_rank == 0:
                save_checkpoint(d, model, optimizer, scheduler, epoch,
                                {"grad_evals": grad_evals, "metrics": metrics})
            session.report(metrics, d if session.world_rank == 0 else None)
        last_checkpoint = time.time()
    return metrics


def train_one_epoch(model: nn.Module, optimizer: Any, sam: SAM | None, scheduler: Any,
                    loader: DataLoader, loss_fn: nn.Module, cfg: TrainConfig,
                    device: torch.device) -> dict[str, float]:
    """One pass over the worker's shard; returns globally averaged loss, accuracy and count."""
    model.train()
    sums = torch.zeros(4, dtype=torch.float64, device=device)  # loss, perturb_loss, correct, count
    accum = cfg.grad_accum_steps
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        for i, (xm, ym) in enumerate(zip(x.chunk(accum), y.chunk(accum), strict=True)):
            with autocast(cfg, device):
                if sam is not None:
                    out = sam.backward(model, xm, ym, loss_fn, accum_steps=accum)
                    loss, perturb_loss, logits = out.loss, out.perturb_loss, out.logits
                else:
                    sync = i == accum - 1 or not hasattr(model, "no_sync")
                    with contextlib.nullcontext() if sync else model.no_sync():
                        logits = model(xm)
                        loss = loss_fn(logits, ym)
                        (loss / accum).backward()
                    loss, perturb_loss = loss.detach(), loss.detach()
            n = ym.numel()
            sums += torch.stack([loss.double() * n, perturb_loss.double() * n,
                                 (logits.argmax(1) == ym).sum().double(),
                                 torch.tensor(n, dtype=torch.float64, device=device)])
        if cfg.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
    loss_sum, perturb_sum, correct, count = all_reduce_sum(sums).tolist()
    count = max(count, 1.0)
    return {"loss": loss_sum / count, "perturb_loss": perturb_sum / count,
            "acc": correct / count, "count": count}


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, loss_fn: nn.Module, cfg: TrainConfig,
             device: torch.device) -> dict[str, float]:
    """Loss and accuracy over the whole validation set (each worker scores its own share)."""
    model.eval()
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss, correct, count
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast(cfg, device):
            logits = model(x)
            loss = loss_fn(logits.float(), y)
        n = y.numel()
        sums += torch.stack([loss.double() * n, (logits.argmax(1) == y).sum().double(),
                             torch.tensor(n, dtype=torch.float64, device=device)])
    loss_sum, correct, count = all_reduce_sum(sums).tolist()
    count = max(count, 1.0)
    return {"loss": loss_sum / count, "acc": correct / count}


def make_train_loader(ds: Dataset, cfg: TrainConfig, session: Session) -> DataLoader:
    """Shuffled per-worker shards of `per_worker_batch_size`, identical order for a given seed and epoch.

    In-memory `TensorDataset`s are indexed a whole batch at a time (no per-sample collation).
    """
    sampler = DistributedSampler(ds, num_replicas=session.world_size, rank=session.world_rank,
                                 shuffle=True, seed=cfg.seed, drop_last=True)
    batch = cfg.per_worker_batch_size
    if len(sampler) < batch:
        raise ValueError(f"batch_size={cfg.batch_size} is larger than the training set "
                         f"({len(ds)} examples over {session.world_size} workers)")
    if isinstance(ds, TensorDataset):
        return DataLoader(ds, sampler=BatchSampler(sampler, batch, drop_last=True), batch_size=None)
    return DataLoader(ds, batch_size=batch, sampler=sampler, drop_last=True,
                      num_workers=_loader_workers(ds), persistent_workers=_loader_workers(ds) > 0)


def make_eval_loader(ds: Dataset, cfg: TrainConfig, session: Session) -> DataLoader:
    """This worker's disjoint share of the validation set (every example scored exactly once)."""
    if session.world_size > 1:
        ds = Subset(ds, range(session.world_rank, len(ds), session.world_size))
    batch = max(cfg.per_worker_batch_size, 256)
    if isinstance(ds, TensorDataset):
        return DataLoader(ds, sampler=BatchSampler(range(len(ds)), batch, drop_last=False),
                          batch_size=None)
    return DataLoader(ds, batch_size=batch, shuffle=False, num_workers=_loader_workers(ds))


def _loader_workers(ds: Dataset) -> int:
    """Image-decoding datasets (CIFAR, ImageNet) get background loader processes."""
    return 0 if isinstance(ds, TensorDataset | Subset) else 2


def make_base_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def autocast(cfg: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp == "bf16")


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t)
    return t


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
