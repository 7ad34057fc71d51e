"""Model registry: `build_model(name, num_classes, in_channels, image_size)`.

`MODEL_NAMES` is importable without torch (the config validator uses it); the builders are
imported only when a model is built.

Example:
    >>> "resnet20" in MODEL_NAMES
    True
    >>> build_model("small_cnn", num_classes=10, in_channels=1, image_size=28)(
    ...     __import__("torch").zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

# name -> (module under samtrain.models, builder function)
_REGISTRY: dict[str, tuple[str, str]] = {
    "small_cnn": ("small_cnn", "small_cnn"),
    "resnet20": ("cifar_resnet", "resnet20"),
    "resnet56": ("cifar_resnet", "resnet56"),
    "resnet18": ("torchvision_models", "resnet18_cifar"),
    "wrn16_8": ("wide_resnet", "wrn16_8"),
    "wrn28_10": ("wide_resnet", "wrn28_10"),
    "resnet50": ("torchvision_models", "resnet50_model"),
    "vit_s": ("torchvision_models", "vit_s"),
}
MODEL_NAMES: frozenset[str] = frozenset(_REGISTRY)


def build_model(name: str, num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """A freshly initialised model; weights depend only on the torch RNG state (no downloads).

    Example:
        >>> import torch; _ = torch.manual_seed(0)
        >>> m = build_model("resnet20", num_classes=10, in_channels=3, image_size=32)
        >>> m(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(sorted(MODEL_NAMES))}")
    if num_classes < 1 or in_channels < 1 or image_size < 1:
        raise ValueError(
            f"{name}: num_classes, in_channels and image_size must be >= 1, got "
            f"{num_classes}, {in_channels}, {image_size}"
        )
    module, func = _REGISTRY[name]
    builder = getattr(import_module(f"samtrain.models.{module}"), func)
    return builder(num_classes=num_classes, in_channels=in_channels, image_size=image_size)
