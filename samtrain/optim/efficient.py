"""The formulas of LookSAM and Momentum-SAM on lists of tensors (one per parameter).

LookSAM (Liu et al., CVPR 2022, arXiv 2203.02714): on a SAM step, with the clean gradient g and the
SAM gradient h, keep g_v = h - (<g, h> / ||g||^2) g, h's component orthogonal to g; on the steps
in between, update with g + alpha * (||g|| / ||g_v||) * g_v (one gradient pass).

Momentum-SAM (Becker et al. 2024, arXiv 2401.12033; code github.com/MarlonBecker/MSAM): the
gradient is taken at w - rho * v / ||v||, v the base optimizer's momentum (SGD's momentum buffer,
Adam/AdamW's first moment `exp_avg`; no perturbation before the first step, as the authors' zero
initial buffer gives). With SGD the authors' weight decay acts at the perturbed point: it adds
wd * w_hat to the gradient, which `sgd_decay_shift` supplies on top of SGD's own wd * w.

Example:
    >>> g, h = [torch.tensor([1.0, 0.0])], [torch.tensor([2.0, 3.0])]
    >>> orthogonal_part(h, g)
    [tensor([0., 3.])]
    >>> looksam_gradient(g, unit(orthogonal_part(h, g)), alpha=0.5)
    [tensor([1.0000, 0.5000])]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from samtrain.optim.functional import EPS, dot, global_norm, scale

__all__ = ["orthogonal_part", "unit", "looksam_gradient", "momentum_key", "momentum_direction",
           "sgd_decay_shift"]


def orthogonal_part(h: Sequence[Tensor], g: Sequence[Tensor]) -> list[Tensor]:
    """g_v = h - (<g, h> / (||g||^2 + 1e-12)) g."""
    c = dot(g, h) / (global_norm(g) ** 2 + EPS)
    return [hi - c * gi for hi, gi in zip(h, g, strict=True)]


def unit(ts: Sequence[Tensor]) -> list[Tensor]:
    """ts / (||ts|| + 1e-12), one global norm."""
    return scale(ts, 1.0 / (global_norm(ts) + EPS))


def looksam_gradient(g: Sequence[Tensor], gv_unit: Sequence[Tensor], alpha: float) -> list[Tensor]:
    """g + alpha * ||g|| * g_v / ||g_v|| (`gv_unit` = g_v / ||g_v||)."""
    n = global_norm(g)
    return [gi + (alpha * n) * vi for gi, vi in zip(g, gv_unit, strict=True)]


def momentum_key(base: torch.optim.Optimizer) -> str:
    """The state key of the momentum Momentum-SAM perturbs along, for the supported bases."""
    if isinstance(base, (torch.optim.Adam, torch.optim.AdamW)):
        return "exp_avg"
    if isinstance(base, torch.optim.SGD):
        if not all(g["momentum"] > 0 and not g["nesterov"] for g in base.param_groups):
            raise ValueError("perturbation='momentum' needs SGD with momentum > 0 and "
                             "nesterov=False (the authors' base)")
        return "momentum_buffer"
    raise ValueError(f"perturbation='momentum' supports SGD and Adam/AdamW bases, not "
                     f"{type(base).__name__}")


def momentum_direction(base: torch.optim.Optimizer, params: Sequence[Tensor]
                       ) -> list[Tensor] | None:
    """d = -v / (||v|| + 1e-12) over all parameters; None before the base's first step."""
    key = momentum_key(base)
    bufs = [base.state.get(p, {}).get(key) for p in params]
    if all(b is None for b in bufs):
        return None
    v = [torch.zeros_like(p) if b is None else b for p, b in zip(params, bufs, strict=True)]
    return scale(v, -1.0 / (global_norm(v) + EPS))


def sgd_decay_shift(base: torch.optim.Optimizer, params: Sequence[Tensor], d: Sequence[Tensor],
                    rho: float) -> list[Tensor] | None:
    """wd * (w_hat - w) = wd * rho * d per parameter for an SGD base (None otherwise, or when no
    group decays): added to the gradient, SGD's wd * w becomes the authors' wd * w_hat."""
    if not isinstance(base, torch.optim.SGD):
        return None
    wd = {id(p): float(g["weight_decay"]) for g in base.param_groups for p in g["params"]}
    if not any(wd[id(p)] for p in params):
        return None
    return [di * (wd[id(p)] * rho) for p, di in zip(params, d, strict=True)]
