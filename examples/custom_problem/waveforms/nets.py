"""The model builder: a small 1-D CNN.

Example:
    >>> import torch
    >>> build(num_classes=4, in_channels=1, image_size=64, width=8)(torch.zeros(2, 1, 64)).shape
    torch.Size([2, 4])
"""

from __future__ import annotations

from torch import nn


def _block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv1d(cin, cout, 5, padding=2, bias=False), nn.BatchNorm1d(cout), nn.ReLU()]


def build(num_classes: int, in_channels: int, image_size: int, width: int = 16) -> nn.Module:
    """conv(width)-pool-conv(2 width)-pool-conv(2 width), global average pool, linear.

    samsweep passes `num_classes`, `in_channels` and `image_size` (the signal's length, unused:
    the global pool takes any length) and the study's `model_kwargs` (`width`).
    """
    return nn.Sequential(*_block(in_channels, width), nn.MaxPool1d(2),
                         *_block(width, 2 * width), nn.MaxPool1d(2),
                         *_block(2 * width, 2 * width),
                         nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(2 * width, num_classes))
