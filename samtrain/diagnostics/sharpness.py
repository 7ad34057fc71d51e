"""`measure_sharpness`: the opt-in sharpness measures on one fixed batch, under their metric names
`sharpness_adaptive` (`adaptive_sharpness`), `hessian_top_eig` (`hessian_top_eigenvalue`) and
`hessian_trace` (`hessian_trace`). All run in eval mode, outside autocast, in the parameters'
dtype, and leave the model's parameters, gradients, buffers and train/eval flags as they were.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from samtrain.diagnostics.adaptive import adaptive_sharpness
from samtrain.diagnostics.functional import LossFn
from samtrain.diagnostics.hessian import hessian_top_eigenvalue, hessian_trace

METRICS = ("sharpness_adaptive", "hessian_top_eig", "hessian_trace")


def measure_sharpness(model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor, *, m: int, rho: float,
                      steps: int, hessian_iters: int = 20, trace_samples: int = 20,
                      generator: torch.Generator | None = None) -> dict[str, float]:
    """Adaptive worst-case m-sharpness (`steps` ascent steps), top Hessian eigenvalue
    (`hessian_iters` power iterations, relative tolerance 1e-3) and Hutchinson Hessian trace
    (`trace_samples` vectors) of `loss_fn(model(x), y)`. A count of 0 leaves its metric out.
    `generator`: for the random vectors (default: a private generator seeded 0 per measure).

    Example:
        >>> _ = torch.manual_seed(0)
        >>> net, x, y = nn.Linear(3, 2), torch.randn(8, 3), torch.randint(0, 2, (8,))
        >>> out = measure_sharpness(net, nn.functional.cross_entropy, x, y, m=4, rho=0.05, steps=3)
        >>> sorted(out) == sorted(METRICS) and out["hessian_trace"] >= 0
        True
    """
    out: dict[str, float] = {}
    if steps:
        out["sharpness_adaptive"] = adaptive_sharpness(model, loss_fn, x, y, m, rho, steps)
    if hessian_iters:
        out["hessian_top_eig"] = hessian_top_eigenvalue(model, loss_fn, x, y, hessian_iters,
                                                        generator=generator)
    if trace_samples:
        out["hessian_trace"] = hessian_trace(model, loss_fn, x, y, trace_samples, generator)
    return out
