"""Hessian spectrum estimates of the loss on a fixed batch, from Hessian-vector products by
double backward (the gradient is built once with `create_graph=True`, each product is one more
backward through it), as PyHessian does (Yao et al. 2020, arXiv 1912.07145; reference code:
github.com/amirgholami/PyHessian):

- `hessian_top_eigenvalue`: power iteration v <- Hv / ||Hv|| from a Gaussian v, stopping when the
  Rayleigh quotient v.Hv changes by less than `tol` relatively; it converges to the eigenvalue of
  largest magnitude (the top one when that is positive, as at a trained minimum).
- `hessian_trace`: Hutchinson's estimator, the mean of v.Hv over Rademacher vectors v (unbiased;
  its variance per sample is 2 sum_{i != j} H_ij^2, zero for a diagonal Hessian).

All in eval mode, with the model left as it was (see `samtrain.diagnostics.functional`). The random
vectors come from `generator` or, by default, a private generator seeded 0: the global RNG stream
is never consumed, so enabling the diagnostics does not change training.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from samtrain.diagnostics.functional import LossFn, Params, dot, functional_model, grads

HVP = Callable[[Params], list[Tensor]]


def hessian_top_eigenvalue(model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor, iters: int = 20,
                           tol: float = 1e-3, generator: torch.Generator | None = None) -> float:
    """Largest-magnitude Hessian eigenvalue of `loss_fn(model(x), y)` by power iteration.

    Example:
        >>> net = nn.Linear(2, 1, bias=False)
        >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0]]); y = torch.zeros(2, 1)
        >>> round(hessian_top_eigenvalue(net, nn.functional.mse_loss, x, y), 4)  # H = I
        1.0
    """
    if iters < 1 or not tol >= 0:
        raise ValueError(f"iters={iters}, tol={tol} are invalid: need iters >= 1 and tol >= 0")
    with functional_model(model) as (call, w):
        leaves = _leaves(w)
        hvp = _hvp(loss_fn(call(leaves, x), y), leaves)
        v = _unit(_draw(w, _generator(generator), rademacher=False))
        eig = None
        for _ in range(iters):
            hv = hvp(v)
            new = float(dot(v, hv))
            v = _unit(hv)
            if v is None:  # Hv = 0: v is in the null space
                return 0.0
            if eig is not None and abs(new - eig) <= tol * abs(eig):
                return new
            eig = new
        return eig


def hessian_trace(model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor, samples: int = 20,
                  generator: torch.Generator | None = None) -> float:
    """Hutchinson estimate of the Hessian trace of `loss_fn(model(x), y)`: mean of v.Hv over
    `samples` Rademacher vectors v.

    Example:
        >>> net = nn.Linear(2, 1, bias=False)
        >>> x = torch.tensor([[1.0, 0.0], [0.0, 2.0]]); y = torch.zeros(2, 1)
        >>> hessian_trace(net, nn.functional.mse_loss, x, y, samples=3)  # H = diag(1, 4)
        5.0
    """
    if samples < 1:
        raise ValueError(f"samples={samples} is invalid: must be >= 1")
    with functional_model(model) as (call, w):
        leaves = _leaves(w)
        hvp = _hvp(loss_fn(call(leaves, x), y), leaves)
        gen = _generator(generator)
        quads = []
        for _ in range(samples):
            v = _draw(w, gen, rademacher=True)
            quads.append(dot(v, hvp(v)))
        return float(torch.stack(quads).mean())


def _leaves(w: list[Tensor]) -> list[Tensor]:
    return [wi.detach().requires_grad_(True) for wi in w]


def _hvp(loss: Tensor, leaves: list[Tensor]) -> HVP:
    """v -> H v for the Hessian of `loss` in `leaves` (one double backward per product)."""
    g = grads(loss, leaves, create_graph=True)
    live = [i for i, gi in enumerate(g) if gi.requires_grad]  # others: gradient constant in w

    def hvp(v: Params) -> list[Tensor]:
        if not live:
            return [torch.zeros_like(t) for t in leaves]
        hv = torch.autograd.grad([g[i] for i in live], leaves, grad_outputs=[v[i] for i in live],
                                 retain_graph=True, allow_unused=True)
        return [torch.zeros_like(t) if h is None else h.detach() for t, h in zip(leaves, hv, strict=True)]

    return hvp


def _generator(generator: torch.Generator | None) -> torch.Generator:
    return generator if generator is not None else torch.Generator().manual_seed(0)


def _draw(like: list[Tensor], gen: torch.Generator, rademacher: bool) -> list[Tensor]:
    """Standard normal or Rademacher tensors shaped like `like`, drawn on `gen`'s device."""
    out = []
    for t in like:
        if rademacher:
            r = torch.randint(0, 2, t.shape, generator=gen, device=gen.device).mul_(2).sub_(1)
        else:
            r = torch.randn(t.shape, generator=gen, device=gen.device)
        out.append(r.to(t.device, t.dtype))
    return out


def _unit(v: list[Tensor]) -> list[Tensor] | None:
    """v / ||v|| (one flat vector), or None when v = 0."""
    norm = float(dot(v, v)) ** 0.5
    return None if norm == 0 else [t / norm for t in v]
