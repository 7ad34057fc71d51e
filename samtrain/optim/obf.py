"""Output-Bias Forgetting (OBF, Vani et al. 2024): the perturbation loss of `SAM(perturbation="obf")`.

With logits z (N x K), p = sigmoid(z) (or softmax(z)), one-hot targets y, u = 1/K and lambda = 1/C:

    alpha = gamma * max(0, (1 - lambda / p_y) / (1 - lambda))      (alpha = gamma when C < 0)
    d surrogate / d z = (u - alpha * p - (1 - alpha) * y) / N       (p and alpha detached)

Ascending the surrogate raises the target's cross-entropy and pushes the outputs toward uniform.

Example:
    >>> obf = OutputBiasForget(C=10.0, gamma=1.0)
    >>> z = torch.randn(4, 3, requires_grad=True)
    >>> obf(z, torch.tensor([0, 1, 2, 0])).backward()
    >>> z.grad.shape
    torch.Size([4, 3])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from samtrain.optim.hparams import validated


def _at_least_fp32(t: Tensor) -> Tensor:
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


class OutputBiasForget(nn.Module):
    """Scalar surrogate whose gradient w.r.t. the logits is the OBF ascent direction.

    `targets` are class indices (N,), or class probabilities (N, K) used as y. The value itself is
    not a meaningful loss; only its gradient is (computed in at least float32, also under autocast).
    C and gamma follow `SAMHParams`' rules for `obf_C` and `obf_gamma` (ValueError otherwise).
    """

    def __init__(self, C: float, gamma: float = 1.0, sigmoid: bool = True) -> None:
        super().__init__()
        hp = validated(obf_C=C, obf_gamma=gamma, obf_sigmoid=sigmoid)
        self.C, self.gamma, self.sigmoid = hp.obf_C, hp.obf_gamma, hp.obf_sigmoid

    def direction(self, logits: Tensor, targets: Tensor) -> Tensor:
        """The formula's (u - alpha*p - (1 - alpha)*y) / N, detached, shape (N, K)."""
        z = _at_least_fp32(logits.detach())
        n, k = z.shape
        p = torch.sigmoid(z) if self.sigmoid else torch.softmax(z, dim=-1)
        if targets.dim() == 2:
            y = targets.to(z.dtype)
        else:  # one-hot by comparison (F.one_hot does not vmap)
            y = (targets.unsqueeze(-1) == torch.arange(k, device=z.device)).to(z.dtype)
        if self.C < 0:
            alpha = torch.full((n, 1), self.gamma, dtype=z.dtype, device=z.device)
        else:
            lam = 1.0 / self.C
            p_y = (p * y).sum(-1, keepdim=True)
            alpha = self.gamma * ((1.0 - lam / p_y) / (1.0 - lam)).clamp_min(0.0)
        return (1.0 / k - alpha * p - (1.0 - alpha) * y) / n

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return (self.direction(logits, targets) * _at_least_fp32(logits)).sum()

    def extra_repr(self) -> str:
        return f"C={self.C}, gamma={self.gamma}, sigmoid={self.sigmoid}"
