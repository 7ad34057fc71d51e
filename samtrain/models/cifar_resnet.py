"""CIFAR ResNets of He et al. (2016), section 4.2: `resnet20`, `resnet56`.

A 3x3 conv with 16 channels, three stages of n basic blocks (16, 32, 64 channels; depth 6n + 2),
global average pooling and a linear layer. Shortcuts are option A: identity, or stride-2
subsampling plus zero-padded channels where the shape changes (no extra parameters).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _PadShortcut(nn.Module):
    """Option-A shortcut: subsample by `stride` and append zero channels."""

    def __init__(self, stride: int, extra_channels: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, extra_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        half = self.extra // 2
        return F.pad(x, (0, 0, 0, 0, half, self.extra - half))


class BasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus shortcut, then ReLU."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        changes = stride != 1 or cin != cout
        self.shortcut: nn.Module = _PadShortcut(stride, cout - cin) if changes else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32 x 32 inputs (any size works: global pooling).

    Example:
        >>> net = CifarResNet(depth=20, num_classes=10)
        >>> round(sum(p.numel() for p in net.parameters()) / 1e6, 2)
        0.27
    """

    def __init__(self, depth: int, num_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n + 2, got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers: list[nn.Module] = []
        cin = 16
        for i, cout in enumerate((16, 32, 64)):
            for j in range(n):
                layers.append(BasicBlock(cin, cout, stride=2 if i > 0 and j == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnet20(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """ResNet-20 (0.27M parameters for 10 classes).

    Example:
        >>> resnet20(10, 1, 28)(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """
    return CifarResNet(20, num_classes, in_channels)


def resnet56(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """ResNet-56 (0.85M parameters for 10 classes).

    Example:
        >>> round(sum(p.numel() for p in resnet56(10, 3, 32).parameters()) / 1e6, 2)
        0.85
    """
    return CifarResNet(56, num_classes, in_channels)
