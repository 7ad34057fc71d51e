"""Models built from torchvision (random init, never downloads weights).

- `resnet18`: torchvision ResNet-18 with the CIFAR stem (3x3 stride-1 conv, no max-pool).
- `resnet50`: torchvision ResNet-50 as is (ImageNet stem); `conv1` rebuilt for other channels.
- `vit_s`: torchvision VisionTransformer in the ViT-S shape (hidden 384, 6 heads, 12 layers,
  MLP 1536) with a patch size chosen from `image_size` (see `vit_patch_size`).
"""

from __future__ import annotations

import math

from torch import nn
from torchvision.models import resnet18, resnet50
from torchvision.models.vision_transformer import VisionTransformer


def _kaiming_conv(conv: nn.Conv2d) -> nn.Conv2d:
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return conv


def resnet18_cifar(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """ResNet-18 for 32 x 32 images: 3x3 stride-1 stem, no max-pool (11.2M parameters).

    Example:
        >>> import torch
        >>> resnet18_cifar(10, 3, 32)(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """
    model = resnet18(weights=None, num_classes=num_classes)
    model.conv1 = _kaiming_conv(nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False))
    model.maxpool = nn.Identity()
    return model


def resnet50_model(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """torchvision ResNet-50 (25.6M parameters for 1000 classes); 7x7 stem for any channels.

    Example:
        >>> import torch
        >>> resnet50_model(10, 1, 64)(torch.zeros(2, 1, 64, 64)).shape
        torch.Size([2, 10])
    """
    model = resnet50(weights=None, num_classes=num_classes)
    if in_channels != 3:
        model.conv1 = _kaiming_conv(nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False))
    return model


def vit_patch_size(image_size: int) -> int:
    """Patch size for `image_size`: 16 for large images (multiples of 16, >= 128), else the
    divisor of `image_size` closest to `image_size / 8` (an ~8 x 8 token grid; smaller on ties).

    Example:
        >>> [vit_patch_size(s) for s in (224, 32, 28, 8, 64)]
        [16, 4, 4, 1, 8]
    """
    if image_size >= 128 and image_size % 16 == 0:
        return 16
    divisors = [d for d in range(1, image_size + 1) if image_size % d == 0]
    return min(divisors, key=lambda d: (abs(d - image_size / 8), d))


def vit_s(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """ViT-S: hidden 384, 6 heads, 12 layers, MLP 1536 (22.1M parameters at 224 / 16).

    Example:
        >>> import torch
        >>> vit_s(10, 3, 32)(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """
    patch = vit_patch_size(image_size)
    model = VisionTransformer(
        image_size=image_size, patch_size=patch, num_layers=12, num_heads=6, hidden_dim=384,
        mlp_dim=1536, num_classes=num_classes,
    )
    if in_channels != 3:
        conv = nn.Conv2d(in_channels, 384, kernel_size=patch, stride=patch)
        nn.init.trunc_normal_(conv.weight, std=math.sqrt(1 / (in_channels * patch * patch)))
        nn.init.zeros_(conv.bias)
        model.conv_proj = conv
    return model
