"""Per-step learning-rate schedule: linear warmup, then cosine, linear or constant.

Example:
    >>> f = lr_factor_fn("cosine", total_steps=100, warmup_steps=10)
    >>> round(f(0), 3), f(10), round(f(100), 6)
    (0.1, 1.0, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable


def lr_factor_fn(schedule: str, total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """Multiplier of the base lr after `step` optimizer steps (for `torch.optim.lr_scheduler.LambdaLR`).

    Warmup rises linearly to 1 over `warmup_steps`, starting at 1/warmup_steps so the first step
    already moves; the decay then reaches 0 at `total_steps` (cosine, linear) or stays at 1.
    """
    if schedule not in ("cosine", "linear", "constant"):
        raise ValueError(f"schedule={schedule!r} is unknown; allowed: cosine, linear, constant")

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        if schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return 1.0 - progress

    return factor
