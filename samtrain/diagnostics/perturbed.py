"""How predictions move between the two forwards a SAM step already makes: clean logits at w and
perturbed logits at w + eps (with m-sharpness, each example's own chunk's eps).

Per example: `flip` = correct at w and wrong at w + eps; `kl` = KL(p_w || p_{w+eps}) of the
softmax probabilities, from log_softmax in float32 (or the logits' dtype if wider), so bf16
autocast logits are fine. `PerturbedAccumulator` sums them over an epoch and merges the workers
with one SUM all-reduce.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from samtrain.diagnostics.collective import AllReduce


def perturbed_sums(logits: Tensor, perturb_logits: Tensor, targets: Tensor) -> Tensor:
    """float64 `[examples, flips, sum of KL]` of one batch (on the logits' device, no host sync).

    Example:
        >>> z = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
        >>> perturbed_sums(z, z.flip(1), torch.tensor([0, 1]))[:2].tolist()
        [2.0, 2.0]
    """
    if logits.shape != perturb_logits.shape or logits.dim() != 2 or targets.shape != logits.shape[:1]:
        raise ValueError(f"logits {tuple(logits.shape)}, perturb_logits {tuple(perturb_logits.shape)} "
                         f"and targets {tuple(targets.shape)} do not match (N x C, N x C, N)")
    dtype = torch.promote_types(logits.dtype, torch.float32)
    logp = F.log_softmax(logits.detach().to(dtype), dim=1)
    logq = F.log_softmax(perturb_logits.detach().to(dtype), dim=1)
    kl = F.kl_div(logq, logp, reduction="none", log_target=True).sum(1).clamp_min(0.0)
    flips = (logits.argmax(1) == targets) & (perturb_logits.argmax(1) != targets)
    n = torch.full((), targets.numel(), dtype=torch.float64, device=logits.device)  # no H2D copy
    return torch.stack([n, flips.sum().to(torch.float64), kl.sum(dtype=torch.float64)])


class PerturbedAccumulator:
    """Epoch means of `perturbed_flip` (fraction correct at w and wrong at w + eps) and
    `perturbed_kl` (mean KL(p_w || p_{w+eps})); NaN after an epoch with no example.

    Example:
        >>> acc = PerturbedAccumulator("cpu")
        >>> z = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
        >>> acc.record(z, torch.tensor([[0.0, 2.0], [0.0, 1.0]]), torch.tensor([0, 1]))
        >>> acc.end_epoch()["perturbed_flip"]
        0.5
    """

    REDUCE_OP = "sum"  # the collective `end_epoch`'s `all_reduce` must perform

    def __init__(self, device: torch.device | str) -> None:
        self._sums = torch.zeros(3, dtype=torch.float64, device=device)

    def record(self, logits: Tensor, perturb_logits: Tensor, targets: Tensor) -> None:
        """Add one (micro-)batch: clean logits at w, perturbed logits at w + eps, targets."""
        self._sums += perturbed_sums(logits, perturb_logits, targets).to(self._sums.device)

    def end_epoch(self, all_reduce: AllReduce | None = None) -> dict[str, float]:
        """Sum over the workers (`all_reduce`: in-place SUM collective, e.g.
        `all_reduce_fn(PerturbedAccumulator.REDUCE_OP)`), return the means and reset."""
        if all_reduce is not None:
            all_reduce(self._sums)
        n, flips, kl = self._sums.tolist()
        self._sums.zero_()
        if not n:
            return {"perturbed_flip": math.nan, "perturbed_kl": math.nan}
        return {"perturbed_flip": flips / n, "perturbed_kl": kl / n}
