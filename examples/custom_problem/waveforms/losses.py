"""The loss factory: generalized cross-entropy (Zhang & Sabuncu 2018, arXiv 1805.07836).

L_q(p, y) = (1 - p_y^q) / q, with p = softmax(logits): cross-entropy as q -> 0, the mean absolute
error at q = 1; in between it resists label noise.

Example:
    >>> import torch
    >>> loss_fn = make(q=0.7)
    >>> round(float(loss_fn(torch.zeros(2, 4), torch.tensor([0, 3]))), 4)
    0.8872
"""

from __future__ import annotations

import torch
from torch import nn


class GeneralizedCrossEntropy(nn.Module):
    """`loss_fn(logits, targets)`: the batch's mean L_q, a 0-dim tensor."""

    def __init__(self, q: float) -> None:
        super().__init__()
        if not 0 < q <= 1:
            raise ValueError(f"q={q} must be in (0, 1]")
        self.q = q

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        p_y = logits.float().softmax(-1).gather(1, targets[:, None]).squeeze(1)
        return ((1 - p_y.clamp_min(1e-7) ** self.q) / self.q).mean()


def make(q: float = 0.7) -> nn.Module:
    """What samsweep calls with the study's `loss_kwargs`: a callable `loss_fn(logits, targets)`."""
    return GeneralizedCrossEntropy(q)
