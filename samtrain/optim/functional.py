"""The per-chunk SAM-family formulas on lists of tensors (one per parameter), shared by the loop
and the batched path.

`chunked=False`: tensors have the parameters' shapes. `chunked=True`: every tensor has a leading
chunk dimension k and norms/dot products are taken per chunk (the weights `w` keep the parameters'
shapes and broadcast).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

EPS = 1e-12


def _per_chunk(s: Tensor, t: Tensor) -> Tensor:
    """Reshape a (k,) vector so that it broadcasts against a (k, ...) tensor."""
    return s.view(-1, *([1] * (t.dim() - 1)))


def _rows(t: Tensor) -> Tensor:
    """A (k, ...) tensor as k rows; (k,) too (the chunks of a 0-d parameter)."""
    return t.reshape(t.shape[0], -1)


def global_norm(ts: Sequence[Tensor], chunked: bool = False) -> Tensor:
    """One L2 norm over all tensors: a scalar, or a (k,) vector when `chunked`."""
    if chunked:
        return torch.stack([_rows(t).norm(dim=1) for t in ts]).norm(dim=0)
    return torch.stack(torch._foreach_norm(list(ts))).norm()


def dot(a: Sequence[Tensor], b: Sequence[Tensor], chunked: bool = False) -> Tensor:
    """Sum over all tensors of <a_i, b_i>: a scalar, or (k,) when `chunked`."""
    if chunked:
        return torch.stack([_rows(x * y).sum(1) for x, y in zip(a, b, strict=True)]).sum(0)
    return torch.stack([(x * y).sum() for x, y in zip(a, b, strict=True)]).sum()


def scale(ts: Sequence[Tensor], s: Tensor, chunked: bool = False) -> list[Tensor]:
    """ts * s with a scalar s, or a per-chunk (k,) s when `chunked`."""
    if chunked:
        return [t * _per_chunk(s, t) for t in ts]
    return torch._foreach_mul(list(ts), s)


def ascent_direction(g: Sequence[Tensor], w: Sequence[Tensor], adaptive: str | None,
                     chunked: bool = False) -> tuple[list[Tensor], list[Tensor]]:
    """Steps 2-4: ASAM "before" g <- |w| g; d = g / (||g|| + 1e-12); ASAM "after" d <- |w| d.

    Returns (d, g as step 2 left it): the second is what GSAM decomposes (its `o`).

    Example:
        >>> d, g = ascent_direction([torch.tensor([3.0, 4.0])], [torch.tensor([2.0, 0.5])], "before")
        >>> g[0], d[0]
        (tensor([6., 2.]), tensor([0.9487, 0.3162]))
    """
    if adaptive in ("before", "both"):
        g = [wi.abs() * gi for wi, gi in zip(w, g, strict=True)]
    g = list(g)
    d = scale(g, 1.0 / (global_norm(g, chunked) + EPS), chunked)
    if adaptive in ("after", "both"):
        d = [wi.abs() * di for wi, di in zip(w, d, strict=True)]
    return d, g


def gsam_correct(h: Sequence[Tensor], o: Sequence[Tensor], alpha: float,
                 chunked: bool = False) -> list[Tensor]:
    """Step 7: h - alpha * (o - (o . h_unit) h_unit), h_unit = h / (||h|| + 1e-12)."""
    h_unit = scale(h, 1.0 / (global_norm(h, chunked) + EPS), chunked)
    proj = scale(h_unit, dot(o, h_unit, chunked), chunked)
    return [hi - alpha * (oi - pi) for hi, oi, pi in zip(h, o, proj, strict=True)]


def gaussian(params: Sequence[Tensor], k: int | None = None) -> list[Tensor]:
    """Standard-normal tensors like `params` (RandSAM's g); with k, stacked per chunk, drawn chunk
    by chunk in the same order as k successive calls without k."""
    if k is None:
        return [torch.randn_like(p) for p in params]
    draws = [gaussian(params) for _ in range(k)]
    return [torch.stack(ts) for ts in zip(*draws, strict=True)]
