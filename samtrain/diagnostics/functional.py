"""An eval-mode, functional view of a model for the sharpness measures, which leaves the model
exactly as it was: parameters are never written (perturbed copies go through
`torch.func.functional_call`), gradients come from `torch.autograd.grad` (no `p.grad` is touched),
every module's train/eval flag and every buffer (BatchNorm running statistics) are restored, and
the computation runs outside autocast in the parameters' dtype (float32 for float32 models).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.parallel import DistributedDataParallel

Params = Sequence[Tensor]
Call = Callable[[Params, Tensor], Tensor]  # (parameters in the order of `w`, inputs) -> outputs
LossFn = Callable[[Tensor, Tensor], Tensor]


@contextlib.contextmanager
def functional_model(model: nn.Module) -> Iterator[tuple[Call, list[Tensor]]]:
    """Yield `(call, w)`: `w` the detached trainable parameters (read-only aliases: do not modify
    them in place), `call(params, x)` the eval-mode forward with `params` in their place.

    A DistributedDataParallel model is unwrapped (its forward would start collectives).

    Example:
        >>> net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)).train()
        >>> with functional_model(net) as (call, w):
        ...     out = call([2 * p for p in w], torch.ones(1, 2))
        >>> net.training, out.shape
        (True, torch.Size([1, 2]))
    """
    module = model.module if isinstance(model, DistributedDataParallel) else model
    named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("the model has no trainable parameters")
    names = [n for n, _ in named]
    w = [p.detach() for _, p in named]
    dtype = w[0].dtype

    def call(params: Params, x: Tensor) -> Tensor:
        x = x.to(dtype) if x.is_floating_point() else x
        return functional_call(module, dict(zip(names, params, strict=True)), (x,))

    modes = [(m, m.training) for m in module.modules()]
    saved = [(b, b.clone()) for b in module.buffers()]
    module.eval()
    try:
        with torch.autocast(w[0].device.type, enabled=False), torch.enable_grad():
            yield call, w
    finally:
        with torch.no_grad():
            for b, v in saved:
                b.copy_(v)
        for m, training in modes:
            m.training = training


def grads(loss: Tensor, inputs: Params, create_graph: bool = False) -> list[Tensor]:
    """d loss / d inputs, zeros for inputs the loss does not depend on."""
    gs = torch.autograd.grad(loss, list(inputs), allow_unused=True, create_graph=create_graph)
    return [torch.zeros_like(t) if g is None else g for t, g in zip(inputs, gs, strict=True)]


def dot(a: Params, b: Params) -> Tensor:
    """Inner product of two parameter-shaped lists, as one flat vector each (0-dim tensor)."""
    return torch.stack([(ai * bi).sum() for ai, bi in zip(a, b, strict=True)]).sum()
