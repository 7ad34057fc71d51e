"""The dataset builder: noisy 1-D waveforms of four shapes, generated from a seed.

Each example is one channel of `length` samples: a sine, square, triangle or sawtooth wave (the
class) of random frequency, phase and amplitude, plus Gaussian noise.

Example:
    >>> train_pool, test = build(pool_size=8, test_size=4, length=32)
    >>> x, y = train_pool[0]
    >>> tuple(x.shape), int(y) in range(4), len(test)
    ((1, 32), True, 4)
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import TensorDataset

SHAPES = ("sine", "square", "triangle", "sawtooth")


def _waves(n: int, length: int, noise: float, gen: torch.Generator) -> TensorDataset:
    y = torch.randint(len(SHAPES), (n,), generator=gen)
    cycles = 2 + 4 * torch.rand(n, 1, generator=gen)           # 2 to 6 periods per window
    phase = torch.rand(n, 1, generator=gen)
    amplitude = 0.5 + torch.rand(n, 1, generator=gen)
    t = (cycles * torch.linspace(0, 1, length) + phase) % 1.0  # position within the period
    forms = torch.stack([torch.sin(2 * math.pi * t), torch.sign(0.5 - t), 1 - 4 * (t - 0.5).abs(),
                         2 * t - 1])                          # (shape, n, length)
    x = amplitude * forms[y, torch.arange(n)] + noise * torch.randn(n, length, generator=gen)
    return TensorDataset(x.unsqueeze(1), y)


def build(pool_size: int = 2000, test_size: int = 1000, length: int = 64, noise: float = 0.5,
          seed: int = 0) -> tuple[TensorDataset, TensorDataset]:
    """`(train_pool, test)`: what a samsweep dataset builder returns. Items are `(x, y)`, `x` of
    shape `1 x length`, `y` the integer class; the same `seed` gives the same data."""
    gen = torch.Generator().manual_seed(seed)
    return _waves(pool_size, length, noise, gen), _waves(test_size, length, noise, gen)
