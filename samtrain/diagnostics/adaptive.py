"""Adaptive worst-case m-sharpness (Andriushchenko et al. 2023, "A Modern Look at the Relationship
between Sharpness and Generalization", arXiv 2302.07011; reference code:
github.com/tml-epfl/sharpness-vs-generalization, `sharpness.py`, adaptive L-inf):

    S = mean over consecutive batches B of m examples of
        max_{ |delta_i| <= rho |w_i| for every coordinate i }  L_B(w + delta) - L_B(w)

over all trainable parameters, in eval mode. The maximisation is projected sign-gradient ascent
from delta = 0 (their code uses APGD: random start, momentum 0.75, step 2 rho halved when progress
stalls). Here, deterministic and simpler: step t (of `steps`) moves

    delta <- clip(delta + 2 rho |w| 2^-floor(4t / steps) sign(grad L_B(w + delta)), -rho |w|, rho |w|)

so the step size halves three times over the run, and the result is the best L_B(w + delta) -
L_B(w) seen (>= 0, since delta = 0 is the first point). Cost per batch: `steps` forward+backward
passes and one forward. A loss linear in w is maximised exactly by the first step.
Their CIFAR-10 ResNet-18 evaluations of this measure use m = 128, rho in {0.001, ..., 0.008} and
20 iterations (`sh/eval_sharpness_final.sh`); they also offer logit normalisation, not done here.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from samtrain.diagnostics.functional import Call, LossFn, functional_model, grads


def adaptive_sharpness(model: nn.Module, loss_fn: LossFn, x: Tensor, y: Tensor, m: int,
                       rho: float, steps: int = 10) -> float:
    """Adaptive worst-case m-sharpness of `loss_fn` (mean reduction) on the batch `(x, y)`; m must
    divide its size. The model, its gradients and its buffers are left as they were.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> net, x, y = nn.Linear(3, 2), torch.randn(8, 3), torch.randint(0, 2, (8,))
        >>> s = adaptive_sharpness(net, nn.functional.cross_entropy, x, y, m=4, rho=0.1, steps=5)
        >>> s > 0
        True
    """
    n = x.shape[0]
    if m < 1 or n % m or n == 0:
        raise ValueError(f"m={m} is invalid: must be >= 1 and divide the {n} examples")
    if not rho >= 0 or steps < 0:
        raise ValueError(f"rho={rho}, steps={steps} are invalid: need rho >= 0 and steps >= 0")
    with functional_model(model) as (call, w):
        per_batch = [_batch_sharpness(call, loss_fn, w, xb, yb, rho, steps)
                     for xb, yb in zip(x.split(m), y.split(m), strict=True)]
        return float(torch.stack(per_batch).mean())


def _batch_sharpness(call: Call, loss_fn: LossFn, w: list[Tensor], x: Tensor, y: Tensor,
                     rho: float, steps: int) -> Tensor:
    """max_delta L(w + delta) - L(w) on one batch by `steps` projected sign-ascent steps."""
    radius = [rho * wi.abs() for wi in w]
    delta = [torch.zeros_like(wi) for wi in w]
    base = best = None
    for t in range(steps):
        z = [(wi + di).requires_grad_(True) for wi, di in zip(w, delta, strict=True)]
        loss = loss_fn(call(z, x), y)
        g = grads(loss, z)
        value = loss.detach()
        base = value if base is None else base
        best = value if best is None else torch.maximum(best, value)
        scale = 2.0 * 2.0 ** -(4 * t // steps)
        with torch.no_grad():
            for di, gi, ri in zip(delta, g, radius, strict=True):
                di.addcmul_(ri, gi.sign(), value=scale)
                torch.minimum(torch.maximum(di, -ri), ri, out=di)
    if base is None:
        return torch.zeros((), dtype=w[0].dtype, device=w[0].device)
    with torch.no_grad():
        value = loss_fn(call([wi + di for wi, di in zip(w, delta, strict=True)], x), y)
    return torch.maximum(best, value) - base
