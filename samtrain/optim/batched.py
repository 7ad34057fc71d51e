"""Batched m-sharpness: all k chunks of a SAM step at once with `torch.func.vmap` over
`grad(functional_call)` with per-chunk weights (convolutions become grouped convolutions).

Numerically the loop's computation (`samtrain.optim.sam`): per-chunk batch statistics, per-chunk
gradients, norms and GSAM projections, and the logits at each chunk's w_hat. Running statistics of
norm layers are updated on k per-chunk copies and then combined into what k successive chunk
forwards give (`buffers.combine_chunk_stats`); the perturbed pass works on throw-away copies.
Dropout masks are drawn per chunk but not from the loop's stream. Under autocast, norm layers get
their input in their own dtype (vmap's batch-norm rule rejects bf16 inputs with fp32 statistics)
and give their output back in the input's dtype. The weights enter vmap in the default
(contiguous) layout even when the model is channels-last (`TrainConfig.channels_last`): vmap has
no batching rule for the `as_strided_` that channels-last `adaptive_avg_pool2d` uses (a slow
fallback, with a warning).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from samtrain.optim.buffers import chunk_copies, combine_chunk_stats, is_norm_layer
from samtrain.optim.functional import ascent_direction, gaussian, gsam_correct


@contextlib.contextmanager
def norm_inputs_in_own_dtype(module: nn.Module) -> Iterator[None]:
    """Cast the inputs of norm layers to the dtype of their statistics/affine parameters and their
    outputs back to the input's dtype (a no-op when the dtypes already agree)."""
    handles = []
    for m in module.modules():
        norm = is_norm_layer(m)
        ref = m.running_mean if norm and m.running_mean is not None else (
            m.weight if norm else None)
        if ref is None:
            continue
        dtypes: list[torch.dtype] = []

        def pre(mod, args, ref=ref, dtypes=dtypes):
            dtypes.append(args[0].dtype)
            return (args[0].to(ref.dtype), *args[1:])

        def post(mod, args, out, dtypes=dtypes):
            return out.to(dtypes.pop())

        handles += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _names_and_constants(module: nn.Module, params: list[Tensor]
                         ) -> tuple[list[str], dict[str, Tensor]]:
    """The names of `params` in `module`, and the module's other parameters and buffers."""
    name_of = {id(p): n for n, p in module.named_parameters()}
    missing = [i for i, p in enumerate(params) if id(p) not in name_of]
    if missing:
        raise ValueError(f"optimizer parameters {missing} are not parameters of the model")
    names = [name_of[id(p)] for p in params]
    const = {n: p.detach() for n, p in module.named_parameters() if n not in set(names)}
    const.update(dict(module.named_buffers()))
    return names, const


def batched_sam(sam: Any, module: nn.Module, params: list[Tensor], inputs: Tensor,
                targets: Tensor, loss_fn: Any, rho: float, k: int
                ) -> tuple[Tensor, Tensor, Tensor, Tensor, list[Tensor]]:
    """The SAM gradient mean_c h_c of `sam`'s settings over k chunks, batched.

    Returns (mean clean loss, mean perturbed loss, clean logits (B, ...), logits at each chunk's
    w_hat (B, ...), [mean_c h_c per param]).
    """
    names, const = _names_and_constants(module, params)
    w = [p.detach().contiguous() for p in params]  # layouts: see the module note
    xs = inputs.reshape(k, -1, *inputs.shape[1:])
    ys = targets.reshape(k, -1, *targets.shape[1:])

    def logits_of(wc: list[Tensor], stats: dict[str, Tensor], x: Tensor) -> Tensor:
        return functional_call(module, {**const, **stats, **dict(zip(names, wc, strict=True))},
                               (x,))

    def first(wc, stats, x, y):
        z = logits_of(wc, stats, x)
        loss = loss_fn(z, y)
        lp = loss if sam.perturbation == "ascent" else sam.obf(z, y)
        return lp, (loss.detach(), z.detach())

    def second(wc, stats, x, y):
        z = logits_of(wc, stats, x)
        loss = loss_fn(z, y)
        return loss, (loss.detach(), z.detach())

    def clean(wc, stats, x, y):
        z = logits_of(wc, stats, x)
        return loss_fn(z, y), z

    # per-chunk weight copies are faster than shared (in_dims=None) weights under vmap
    wk = [t.unsqueeze(0).expand(k, *t.shape).contiguous() for t in w]
    stats = chunk_copies(module, k)
    with norm_inputs_in_own_dtype(module):
        if sam.perturbation == "random":
            with torch.no_grad():
                loss, z = vmap(clean, randomness="different")(wk, stats, xs, ys)
            g = gaussian(w, k)
        else:
            g, (loss, z) = vmap(grad(first, has_aux=True), randomness="different")(
                wk, stats, xs, ys)
    d, g = ascent_direction(g, w, sam.adaptive, chunked=True)
    o = (d if sam.backup_normalized else g) if sam.gsam_alpha > 0 else None
    del g
    w_hat = [wi + rho * di for wi, di in zip(w, d, strict=True)]
    del d, wk
    with norm_inputs_in_own_dtype(module):
        h, (ploss, pz) = vmap(grad(second, has_aux=True), randomness="different")(
            w_hat, chunk_copies(module, k), xs, ys)
    if o is not None:
        h = gsam_correct(h, o, sam.gsam_alpha, chunked=True)
    combine_chunk_stats(module, stats)
    return loss.mean(), ploss.mean(), z.flatten(0, 1), pz.flatten(0, 1), [hi.mean(0) for hi in h]
