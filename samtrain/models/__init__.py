"""Models: `build_model(name, num_classes, in_channels, image_size, **kwargs)`.

`name` is a built-in model (`MODEL_NAMES`, importable without torch) or an import string
`"package.module:build"` naming a researcher's own builder; both resolve through
`samtrain.config.registry` and are called with the same keyword arguments: `num_classes`,
`in_channels`, `image_size` (the dataset's) and the config's `model_kwargs`. A builder must
return a `torch.nn.Module` giving one logit per class.

Example:
    >>> "resnet20" in MODEL_NAMES
    True
    >>> build_model("small_cnn", num_classes=10, in_channels=1, image_size=28)(
    ...     __import__("torch").zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from samtrain.config.registry import BUILTINS, call, resolve
from samtrain.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

MODEL_NAMES: frozenset[str] = frozenset(BUILTINS["model"])


def build_model(name: str, num_classes: int, in_channels: int, image_size: int,
                **kwargs: Any) -> nn.Module:
    """A freshly initialised model; built-in weights depend only on the torch RNG state (no
    downloads). A builder returning something else than an `nn.Module` is a `ConfigError`.

    Example:
        >>> import torch; _ = torch.manual_seed(0)
        >>> m = build_model("resnet20", num_classes=10, in_channels=3, image_size=32)
        >>> m(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """
    from torch import nn

    if num_classes < 1 or in_channels < 1 or image_size < 1:
        raise ValueError(
            f"{name}: num_classes, in_channels and image_size must be >= 1, got "
            f"{num_classes}, {in_channels}, {image_size}"
        )
    given = {"num_classes": num_classes, "in_channels": in_channels, "image_size": image_size}
    model = call("model_kwargs", name, resolve("model", name), given, kwargs)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"key 'model': value {name!r} is invalid: its builder returned a "
                          f"{type(model).__name__}; must return a torch.nn.Module")
    return model


def has_conv(model: nn.Module) -> bool:
    """Whether `model` holds a 2-d convolution (what the channels-last memory layout speeds up).

    Example:
        >>> from torch import nn
        >>> has_conv(nn.Sequential(nn.Conv2d(1, 2, 3))), has_conv(nn.Linear(2, 2))
        (True, False)
    """
    from torch import nn

    return any(isinstance(m, nn.Conv2d) for m in model.modules())
