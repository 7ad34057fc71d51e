"""Everything one training run holds, built from a `TrainConfig` on one worker: `build_run`.

Example:
    >>> from samtrain.config.train_config import TrainConfig
    >>> from samtrain.engine.worker_context import LocalContext
    >>> run = build_run(TrainConfig(dataset="digits", epochs=1, batch_size=64), LocalContext())
    >>> run.steps_per_epoch, run.passes_per_step, type(run.optimizer).__name__
    (20, 2.0, 'SAM')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from samtrain.config.train_config import TrainConfig
from samtrain.data import build_datasets
from samtrain.data.views import targets_of
from samtrain.diagnostics import ForgettingTracker
from samtrain.engine.init_weights import init_model
from samtrain.engine.loaders import first_examples, make_eval_loader, make_train_loader
from samtrain.engine.schedule import lr_factor_fn
from samtrain.engine.worker_context import WorkerContext
from samtrain.models import build_model, has_conv
from samtrain.models.losses import LossFn, build_loss
from samtrain.optim import FORWARD_ONLY, SAM

EVAL_BATCH = 256


@dataclass
class Run:
    """One worker's run: loaders, model, optimizers, schedule, diagnostics, progress counters."""

    cfg: TrainConfig
    ctx: WorkerContext
    device: torch.device
    train_loader: DataLoader
    val_loader: DataLoader
    test_loader: DataLoader
    model: nn.Module
    base: torch.optim.Optimizer
    sam: SAM | None
    scheduler: Any
    loss_fn: LossFn
    forgetting: ForgettingTracker
    sharpness_batch: tuple[torch.Tensor, torch.Tensor] | None
    steps_per_epoch: int
    passes_per_step: float  # gradient evaluations of a step that perturbs (SGD: 1)
    epoch: int = 0          # last finished epoch
    grad_evals: float = 0.0  # gradient evaluations over the global batch so far, as made
    steps: int = 0          # optimizer steps so far
    perturbed_steps: int = 0  # of which perturbed
    device_seconds: float = 0.0  # epoch seconds so far times the workers
    run_params_reported: bool = False

    @property
    def optimizer(self) -> Any:
        """What steps the weights: SAM around the base optimizer, or the base alone."""
        return self.sam or self.base

    @property
    def perturbed_share(self) -> float:
        """The share of the optimizer steps so far that perturbed (0 before the first)."""
        return self.perturbed_steps / self.steps if self.steps else 0.0

    def count_step(self) -> None:
        """Add the step just taken: the gradient evaluations SAM says it made (forward+backward =
        1, forward-only = 1/3; SGD: 1) and whether it perturbed."""
        cost = self.sam.last_step if self.sam is not None else None
        self.grad_evals += cost.grad_evals if cost is not None else 1.0
        self.perturbed_steps += int(cost is not None and cost.perturbed)
        self.steps += 1


def build_run(cfg: TrainConfig, ctx: WorkerContext) -> Run:
    """Data (this worker's shard), model (DDP-wrapped by `ctx`), loss, optimizers and schedule.

    The dataset, model and loss builders are called here, in the worker, whether built-in or a
    researcher's own; what they return is checked (`ConfigError` otherwise)."""
    device = ctx.device(cfg.use_gpu)
    data = build_datasets(cfg)
    eval_batch = max(cfg.per_worker_batch_size, EVAL_BATCH)
    train_loader = make_train_loader(data.train, cfg.per_worker_batch_size, cfg.seed,
                                     ctx.world_size, ctx.world_rank)
    model = build_model(cfg.model, data.num_classes, data.in_channels, data.image_size,
                        **cfg.model_kwargs)
    if cfg.init_from:  # given weights: backbone loaded, head sized to these classes
        init_model(model, cfg, data.num_classes)
    if cfg.channels_last and has_conv(model):  # before DDP wraps it; the optimizer sees these
        model.to(memory_format=torch.channels_last)
    model = ctx.prepare_model(model, device)
    base = make_base_optimizer(cfg, model)
    steps = len(train_loader)
    sam = None
    if cfg.perturbation != "none":
        sam = SAM(base, **cfg.sam_kwargs(), lr_max=cfg.lr, lr_min=0.0,
                  total_steps=cfg.epochs * steps, seed=cfg.seed)
    scheduler = torch.optim.lr_scheduler.LambdaLR(base, lr_factor_fn(
        cfg.schedule, cfg.epochs * steps, round(cfg.warmup_epochs * steps)))
    targets = targets_of(data.train)
    flipped = targets != torch.as_tensor(getattr(data.train, "clean_targets", targets))
    sharpness = None
    if cfg.sharpness_every and ctx.world_rank == 0:
        sharpness = first_examples(data.train_eval, cfg.sharpness_examples)
    return Run(
        cfg=cfg, ctx=ctx, device=device, train_loader=train_loader,
        val_loader=make_eval_loader(data.val, eval_batch, ctx.world_size, ctx.world_rank),
        test_loader=make_eval_loader(data.test, eval_batch, ctx.world_size, ctx.world_rank),
        model=model, base=base, sam=sam, scheduler=scheduler,
        loss_fn=build_loss(cfg),
        forgetting=ForgettingTracker(len(targets), device, flipped if cfg.label_noise > 0 else None),
        sharpness_batch=sharpness, steps_per_epoch=steps,
        passes_per_step=perturbing_step_cost(cfg.perturbation),
    )


def perturbing_step_cost(perturbation: str) -> float:
    """Gradient evaluations of one step that perturbs: SGD and Momentum-SAM 1, RandSAM 4/3 (its
    clean pass is forward-only), the other SAM family 2."""
    return {"none": 1.0, "momentum": 1.0, "random": 1.0 + FORWARD_ONLY}.get(perturbation, 2.0)


def make_base_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
