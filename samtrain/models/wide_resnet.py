"""Wide ResNets (Zagoruyko & Komodakis, 2016): `wrn16_8`, `wrn28_10`.

WRN-d-k: a 3x3 conv with 16 channels, three groups of (d - 4) / 6 pre-activation basic blocks
with 16k, 32k, 64k channels (strides 1, 2, 2), BN-ReLU, global average pooling and a linear
layer. Shortcuts are 1x1 convolutions where the shape changes. Dropout between the convolutions
is optional (0 by default, as in the SAM paper's WRN experiments).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class WideBlock(nn.Module):
    """BN-ReLU-conv-(dropout)-BN-ReLU-conv plus shortcut."""

    def __init__(self, cin: int, cout: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.shortcut: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Conv2d(cin, cout, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        out = self.conv2(self.dropout(F.relu(self.bn2(self.conv1(pre)))))
        return out + (x if self.shortcut is None else self.shortcut(pre))


class WideResNet(nn.Module):
    """WRN-`depth`-`width` for 32 x 32 inputs (any size works: global pooling).

    Example:
        >>> net = WideResNet(depth=16, width=1, num_classes=10)
        >>> net(torch.zeros(2, 3, 16, 16)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self, depth: int, width: int, num_classes: int, in_channels: int = 3, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WideResNet depth must be 6n + 4, got {depth}")
        n = (depth - 4) // 6
        widths = (16 * width, 32 * width, 64 * width)
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        blocks: list[nn.Module] = []
        cin = 16
        for i, cout in enumerate(widths):
            for j in range(n):
                blocks.append(WideBlock(cin, cout, 2 if i > 0 and j == 0 else 1, dropout))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(cin)
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.blocks(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def wrn16_8(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """WRN-16-8 (11.0M parameters for 10 classes).

    Example:
        >>> round(sum(p.numel() for p in wrn16_8(10, 3, 32).parameters()) / 1e6, 1)
        11.0
    """
    return WideResNet(16, 8, num_classes, in_channels)


def wrn28_10(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """WRN-28-10 (36.5M parameters for 10 classes).

    Example:
        wrn28_10(100, 1, 8)(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 100])
    """
    return WideResNet(28, 10, num_classes, in_channels)
