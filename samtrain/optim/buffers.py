"""Running statistics of normalization layers (BatchNorm, SyncBatchNorm, InstanceNorm with
`track_running_stats`) during a SAM step: frozen in the perturbed pass, and, on the batched path,
updated exactly as k successive chunk forwards of the loop would update them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn

STATS = ("running_mean", "running_var", "num_batches_tracked")


def is_norm_layer(m: nn.Module) -> bool:
    """A batch/instance norm layer (torch's own or a subclass), told apart by its public
    attributes rather than torch's private `_NormBase` base class."""
    return all(hasattr(m, a) for a in ("track_running_stats", "momentum", "num_features"))


def tracking_norms(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of the norm layers whose forward updates running statistics."""
    return [(n, m) for n, m in module.named_modules()
            if is_norm_layer(m) and m.training and m.track_running_stats
            and m.running_mean is not None]


@contextlib.contextmanager
def frozen_running_stats(module: nn.Module) -> Iterator[None]:
    """Restore every running statistic of `module` on exit (the forward may still update them)."""
    saved = [(b, b.clone()) for _, m in tracking_norms(module)
             for b in (getattr(m, s) for s in STATS) if b is not None]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, v in saved:
                b.copy_(v)


def chunk_copies(module: nn.Module, k: int) -> dict[str, Tensor]:
    """k stacked copies of each tracked running statistic, keyed by buffer name (for vmap)."""
    out = {}
    for name, m in tracking_norms(module):
        for s in STATS:
            b = getattr(m, s)
            if b is not None:
                out[f"{name}.{s}" if name else s] = b.detach().unsqueeze(0).repeat(k, *[1] * b.dim())
    return out


def combine_chunk_stats(module: nn.Module, copies: dict[str, Tensor]) -> None:
    """Set the running statistics as k successive updates r <- (1-a) r + a * s_c would, given the
    k copies each updated once from the same start r0: a * s_c = R_c - (1-a) r0 (a = momentum)."""
    with torch.no_grad():
        for name, m in tracking_norms(module):
            prefix = f"{name}." if name else ""
            a = m.momentum
            for s in ("running_mean", "running_var"):
                r0, rc = getattr(m, s), copies[prefix + s]
                r = r0.clone()
                for c in range(rc.shape[0]):
                    r.mul_(1.0 - a).add_(rc[c] - (1.0 - a) * r0)
                r0.copy_(r)
            if m.num_batches_tracked is not None:
                m.num_batches_tracked.add_(copies[prefix + "num_batches_tracked"].shape[0])


def batched_unsupported(module: nn.Module) -> str | None:
    """Why the batched path cannot reproduce the loop for `module`, or None."""
    for name, m in tracking_norms(module):
        if m.momentum is None:
            return f"norm layer {name!r} has momentum=None (cumulative average)"
    return None
