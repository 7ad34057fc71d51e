"""One training epoch over a worker's shard, and scoring a split: the loop's inner parts.

`train_one_epoch` also feeds the always-on diagnostics from the forward passes each step already
makes: per-example correctness at presentation (forgetting, label-noise fit) and, for the SAM
family, the clean vs perturbed predictions (`samtrain.diagnostics`).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader

from samtrain.config.train_config import TrainConfig
from samtrain.diagnostics import PerturbedAccumulator, all_reduce_fn
from samtrain.engine.loaders import set_epoch
from samtrain.models import has_conv
from samtrain.models.losses import LossFn

if TYPE_CHECKING:
    from samtrain.engine.run_setup import Run


def train_one_epoch(run: Run, epoch: int) -> dict[str, float]:
    """One pass over the worker's shard; returns global loss, accuracy, count and diagnostics."""
    device, model = run.device, run.model
    model.train()
    set_epoch(run.train_loader, epoch)
    sums = torch.zeros(4, dtype=torch.float64, device=device)  # loss, perturb_loss, correct, count
    clean_and_perturbed = run.sam is not None and run.cfg.perturbation != "momentum"
    perturbed = PerturbedAccumulator(device) if clean_and_perturbed else None
    layout = run.cfg.channels_last
    for x, y, idx in run.train_loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if layout and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        loss, perturb_loss, logits, perturb_logits = train_step(run, x, y)
        correct = logits.argmax(1) == y
        run.forgetting.record(idx.to(device, non_blocking=True), correct)
        if perturbed is not None and perturb_logits is not None:  # None: the step did not perturb
            perturbed.record(logits, perturb_logits, y)
        n = y.numel()
        sums += torch.stack([loss.double() * n, perturb_loss.double() * n, correct.sum().double(),
                             torch.tensor(n, dtype=torch.float64, device=device)])
    loss_sum, perturb_sum, correct_sum, count = all_reduce_sum(sums).tolist()
    count = max(count, 1.0)
    out = {"loss": loss_sum / count, "perturb_loss": perturb_sum / count,
           "acc": correct_sum / count, "count": count}
    out.update(run.forgetting.end_epoch(all_reduce_fn(run.forgetting.REDUCE_OP)))
    if perturbed is not None:
        out.update(perturbed.end_epoch(all_reduce_fn(perturbed.REDUCE_OP)))
    return out


def train_step(run: Run, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """One optimizer step on a (possibly accumulated) batch.

    Returns (mean clean loss, mean perturbed loss, clean logits, perturbed logits or None).
    """
    cfg, model, accum = run.cfg, run.model, run.cfg.grad_accum_steps
    parts: list[tuple[torch.Tensor, ...]] = []
    for i, (xm, ym) in enumerate(zip(x.chunk(accum), y.chunk(accum), strict=True)):
        with autocast(cfg, run.device):
            if run.sam is not None:
                out = run.sam.backward(model, xm, ym, run.loss_fn, accum_steps=accum)
                parts.append((out.loss, out.perturb_loss, out.logits, out.perturb_logits))
                continue
            sync = i == accum - 1 or not hasattr(model, "no_sync")
            with contextlib.nullcontext() if sync else model.no_sync():
                logits = model(xm)
                loss = run.loss_fn(logits, ym)
                (loss / accum).backward()
            parts.append((loss.detach(), loss.detach(), logits.detach(), None))
    if cfg.grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    run.optimizer.step()
    run.count_step()  # the gradient evaluations this step made
    run.optimizer.zero_grad(set_to_none=True)
    run.scheduler.step()
    loss = torch.stack([p[0] for p in parts]).mean()
    perturb_loss = torch.stack([p[1] for p in parts]).mean()
    logits = torch.cat([p[2] for p in parts])
    perturb_logits = torch.cat([p[3] for p in parts]) if parts[0][3] is not None else None
    return loss, perturb_loss, logits, perturb_logits


@contextlib.contextmanager
def eval_layout(model: nn.Module, restore: bool = True) -> Any:
    """Score a convolutional model in channels-last memory layout, then restore its layout.

    On CPU the pooling and convolution kernels of the default layout were about 2.4x slower for
    the demo's CNN (benchmarks/RESULTS.md). Training stays in the default layout unless
    `TrainConfig.channels_last` (then `restore=False`: the model is channels-last throughout), so
    its numerics are untouched (`Module.to` keeps the same Parameter objects, which the optimizer
    holds). Models without a 2-d convolution are left as they are.
    """
    if not has_conv(model):
        yield False
        return
    model.to(memory_format=torch.channels_last)
    try:
        yield True
    finally:
        if restore:
            model.to(memory_format=torch.contiguous_format)


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, loss_fn: LossFn, cfg: TrainConfig,
             device: torch.device, keep_correct: bool = False) -> dict[str, Any]:
    """Loss, accuracy and example count over a whole split (each worker scores its own share).

    `keep_correct`: also `correct`, which examples of the split (in its order, every worker's
    share gathered) were classified correctly, as `correct_bitmask` text."""
    model.eval()
    with eval_layout(model, restore=not cfg.channels_last) as channels_last:
        sums, hits = _score(model, loader, loss_fn, cfg, device, channels_last, keep_correct)
    loss_sum, correct, count = all_reduce_sum(sums).tolist()
    out: dict[str, Any] = {"loss": loss_sum / max(count, 1.0), "acc": correct / max(count, 1.0),
                           "count": count}
    if keep_correct:
        out["correct"] = correct_bitmask(_gather_shares(torch.cat(hits) if hits else
                                                        torch.zeros(0, dtype=torch.bool)))
    return out


def _score(model: nn.Module, loader: DataLoader, loss_fn: LossFn, cfg: TrainConfig,
           device: torch.device, channels_last: bool, keep_correct: bool
           ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Summed loss, correct count and example count of `loader` on this worker, and (when
    `keep_correct`) which of its examples were classified correctly, batch by batch."""
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss, correct, count
    hits: list[torch.Tensor] = []
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(cfg, device):
            logits = model(x)
            loss = loss_fn(logits.float(), y)
        n = y.numel()
        hit = logits.argmax(1) == y
        if keep_correct:
            hits.append(hit.cpu())
        sums += torch.stack([loss.double() * n, hit.sum().double(),
                             torch.tensor(n, dtype=torch.float64, device=device)])
    return sums, hits


def _gather_shares(local: torch.Tensor) -> np.ndarray:
    """Every worker's share (rank r scored examples r, r + W, ...) back in the split's order."""
    if not _distributed():
        return local.numpy()
    shares: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(shares, local.numpy())
    out = np.zeros(sum(len(s) for s in shares), dtype=bool)
    for rank, share in enumerate(shares):
        out[rank::len(shares)] = share
    return out


def correct_bitmask(correct: np.ndarray) -> str:
    """`n<count>:<hex>`: one bit per example, 1 = classified correctly, first example in the
    highest bit of the first byte (`numpy.packbits`); what `val_correct` records.

    >>> correct_bitmask(np.array([True, False, True, True, False, False, False, False, True]))
    'n9:b080'
    """
    return f"n{correct.size}:{np.packbits(correct.astype(np.uint8)).tobytes().hex()}"


def autocast(cfg: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp == "bf16")


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum `t` over the workers in place (a no-op on one worker); returns `t`."""
    if _distributed():
        dist.all_reduce(t)
    return t
