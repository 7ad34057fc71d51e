"""The gradient passes a `SAM` step is made of, on one chunk or micro-batch, and adding the result
to `p.grad` (averaged over DDP workers with one all-reduce).

`clean_pass` is the first pass at w (forward-only for RandSAM), `perturbed_pass` the pass at
w + rho_t d with d from the clean gradient (ASAM scaling, GSAM correction), `plain_pass` the one
pass of a step that does not perturb. Each returns how many gradient evaluations it made in the
project's unit: forward+backward = 1, forward-only = 1/3 (backward ~ 2x forward FLOPs).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
import torch.distributed as dist
from torch import Tensor, nn

from samtrain.optim.buffers import frozen_running_stats
from samtrain.optim.functional import ascent_direction, gaussian, global_norm, gsam_correct

LossFn = Callable[[Tensor, Tensor], Tensor]
FORWARD_ONLY = 1.0 / 3.0  # a forward-only pass in gradient evaluations


class Step(NamedTuple):
    """One `backward` call's inputs."""

    model: nn.Module  # as given (maybe DDP-wrapped)
    module: nn.Module  # the bare model
    params: list[Tensor]
    x: Tensor
    y: Tensor
    loss_fn: LossFn
    rho: float
    k: int  # chunks
    scale: float  # 1 / accum_steps
    ddp: bool


def grads(loss: Tensor, params: Sequence[Tensor]) -> list[Tensor]:
    """d loss / d params, zeros for unused parameters."""
    gs = torch.autograd.grad(loss, list(params), allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, gs, strict=True)]


def clean_pass(sam: Any, step: Step, x: Tensor, y: Tensor
               ) -> tuple[Tensor, Tensor, list[Tensor], float]:
    """(loss, logits, g, cost) at w: g the perturbation's gradient ("ascent": the loss's, "obf":
    the OBF surrogate's, "random": Gaussian after a forward-only pass)."""
    model, params = step.model, step.params
    if sam.perturbation == "random":
        with torch.no_grad():
            logits = model(x)
            loss = step.loss_fn(logits, y)
        return loss, logits, gaussian(params), FORWARD_ONLY
    logits = model(x)
    loss = step.loss_fn(logits, y)
    g = grads(loss if sam.perturbation == "ascent" else sam.obf(logits, y), params)
    return loss, logits, g, 1.0


def perturbed_pass(sam: Any, step: Step, x: Tensor, y: Tensor, g: list[Tensor]
                   ) -> tuple[Tensor, Tensor, list[Tensor]]:
    """(perturbed loss, perturbed logits, h): h = grad loss(w + rho d), GSAM-corrected; norm-layer
    running statistics left untouched."""
    w = [p.detach() for p in step.params]
    d, g = ascent_direction(g, w, sam.adaptive)
    o = (d if sam.backup_normalized else g) if sam.gsam_alpha > 0 else None
    del g
    ploss, plogits, h = shifted_pass(step, x, y, d, step.rho, frozen=True)
    if o is not None:
        h = gsam_correct(h, o, sam.gsam_alpha)
    return ploss, plogits, h


def shifted_pass(step: Step, x: Tensor, y: Tensor, d: list[Tensor], rho: float, frozen: bool
                 ) -> tuple[Tensor, Tensor, list[Tensor]]:
    """(loss, logits, gradient) at w + rho d, w restored after; `frozen`: norm-layer running
    statistics restored too."""
    w = [p.detach() for p in step.params]
    backup = [p.clone() for p in w]
    try:
        torch._foreach_add_(w, d, alpha=rho)
        torch.clear_autocast_cache()  # autocast caches low-precision copies of the weights
        with frozen_running_stats(step.module) if frozen else contextlib.nullcontext():
            logits = step.model(x)
            loss = step.loss_fn(logits, y)
            h = grads(loss, step.params)
    finally:
        torch._foreach_copy_(w, backup)
        torch.clear_autocast_cache()
    return loss, logits, h


def plain_pass(step: Step) -> tuple[Tensor, Tensor, list[Tensor]]:
    """(loss, logits, g) at w: the one forward+backward of a step that does not perturb."""
    logits = step.model(step.x)
    loss = step.loss_fn(logits, step.y)
    return loss, logits, grads(loss, step.params)


def mean_sq_norm(g: list[Tensor], step: Step) -> float:
    """||g||^2 (AE-SAM's statistic), averaged over the DDP workers."""
    sq = global_norm(g).detach() ** 2
    if step.ddp:
        group = step.model.process_group
        dist.all_reduce(sq, group=group)
        sq = sq / dist.get_world_size(group)
    return float(sq)


def add_grads(params: list[Tensor], h: list[Tensor], scale: float,
              ddp_model: nn.Module | None) -> None:
    """p.grad += scale * h; under DDP h is first averaged over the workers."""
    if ddp_model is not None:
        group = ddp_model.process_group
        scale /= dist.get_world_size(group)
        h = all_reduce_flat(list(h), group)
    uses = Counter(t.data_ptr() for t in h)
    with torch.no_grad():
        for p, hi in zip(params, h, strict=True):
            if p.grad is not None:
                p.grad.add_(hi, alpha=scale)
                continue
            # take ownership of hi unless it may be shared or is not dense (autograd.grad can
            # return expanded tensors or one tensor for several inputs)
            if not hi.is_contiguous() or uses[hi.data_ptr()] > 1:
                hi = hi.clone(memory_format=torch.contiguous_format)
            p.grad = hi.mul_(scale) if scale != 1.0 else hi


def all_reduce_flat(h: list[Tensor], group: Any) -> list[Tensor]:
    """Sum `h` over the workers with one all-reduce of one flat buffer per dtype (a single one in
    practice); returns views into the reduced buffers."""
    h = list(h)
    for dtype in dict.fromkeys(t.dtype for t in h):
        idx = [i for i, t in enumerate(h) if t.dtype == dtype]
        flat = torch.cat([h[i].reshape(-1) for i in idx])
        dist.all_reduce(flat, group=group)
        for i, v in zip(idx, flat.split([h[i].numel() for i in idx]), strict=True):
            h[i] = v.view(h[i].shape)
    return h
