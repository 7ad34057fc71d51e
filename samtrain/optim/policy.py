"""When to perturb: the step policies of `SAM` ("SAM on some steps") and the cost each step made.

- "always": every step (SAM).
- "every" / "looksam": steps 0, k, 2k, ... (SS-SAM's periodic switching; MosaicML Composer's
  `SAM(interval=k)`; LookSAM, Liu et al. 2022, arXiv 2203.02714).
- "prob": with probability p_t, one Bernoulli draw per step (randomized sharpness-aware training,
  Zhao et al. 2022, arXiv 2203.09962); p_t constant, or from p_start to p over training, linearly
  or on a half cosine. The draw for step t comes from a generator seeded with (seed, t): every
  DDP worker draws the same, and a resumed run draws what the uninterrupted one would.
- "aesam": AE-SAM (Jiang et al., ICLR 2023, arXiv 2304.14647, Algorithm 1): with s_t = ||g_t||^2,
  mu_t = delta mu_{t-1} + (1 - delta) s_t, sigma_t^2 = delta sigma_{t-1}^2 + (1 - delta)(s_t - mu_t)^2
  (mu_0 = sigma_0 = 0), perturb iff s_t >= mu_t + c_t sigma_t, c_t = c_start + (c_end - c_start) t/T.

The progress t/T counts optimizer steps against `total_steps` (clipped to 1).

Example:
    >>> policy = StepPolicy("every", every=5)
    >>> decisions = []
    >>> for _ in range(6):
    ...     decisions.append(policy.planned()); policy.advance()
    >>> decisions
    [True, False, False, False, False, True]
    >>> StepPolicy("prob", prob=1.0, total_steps=10).planned()
    True
"""

from __future__ import annotations

import math
from typing import Any

import torch

__all__ = ["StepPolicy"]

SEED_STRIDE = 1_000_003  # step t of seed s draws from the generator seeded s * stride + t


class StepPolicy:
    """The decision "perturb this step?" and its state (steps taken, AE-SAM's running moments)."""

    def __init__(self, policy: str = "always", every: int = 1, prob: float = 1.0,
                 prob_schedule: str = "constant", prob_start: float = 0.0,
                 c_start: float = 1.0, c_end: float = -1.0, decay: float = 0.9,
                 total_steps: int | None = None, seed: int = 0) -> None:
        self.policy, self.every, self.prob = policy, every, prob
        self.prob_schedule, self.prob_start = prob_schedule, prob_start
        self.c_start, self.c_end, self.decay = c_start, c_end, decay
        self.total_steps, self.seed = total_steps, seed
        needs_total = ((policy == "prob" and prob_schedule != "constant")
                       or (policy == "aesam" and c_start != c_end))
        if needs_total and not total_steps:
            raise ValueError(f"perturb_policy={policy!r} with a schedule needs total_steps "
                             "(the run's optimizer steps)")
        self.steps = 0
        self.mu = 0.0
        self.var = 0.0

    def progress(self) -> float:
        """t/T in [0, 1] (0 without `total_steps`)."""
        if not self.total_steps:
            return 0.0
        return min(1.0, self.steps / self.total_steps)

    def prob_now(self) -> float:
        """p_t of the "prob" policy."""
        t = self.progress()
        if self.prob_schedule == "linear":
            frac = t
        elif self.prob_schedule == "cosine":
            frac = (1.0 - math.cos(math.pi * t)) / 2.0
        else:
            return self.prob
        return self.prob_start + (self.prob - self.prob_start) * frac

    def c_now(self) -> float:
        """c_t of AE-SAM."""
        return self.c_start + (self.c_end - self.c_start) * self.progress()

    def planned(self) -> bool | None:
        """Perturb on this step? None when it depends on the gradient ("aesam": `observe`)."""
        if self.policy == "always":
            return True
        if self.policy in ("every", "looksam"):
            return self.steps % self.every == 0
        if self.policy == "prob":
            gen = torch.Generator().manual_seed(self.seed * SEED_STRIDE + self.steps)
            return bool(torch.rand((), generator=gen).item() < self.prob_now())
        return None

    def observe(self, sq_norm: float) -> bool:
        """AE-SAM: update the running moments with s_t = ||g_t||^2; perturb iff s_t >= mu + c sigma."""
        self.mu = self.decay * self.mu + (1.0 - self.decay) * sq_norm
        self.var = self.decay * self.var + (1.0 - self.decay) * (sq_norm - self.mu) ** 2
        return sq_norm >= self.mu + self.c_now() * math.sqrt(self.var)

    def advance(self) -> None:
        """One optimizer step was taken."""
        self.steps += 1

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "mu": self.mu, "var": self.var}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = int(state["steps"])
        self.mu, self.var = float(state["mu"]), float(state["var"])
