"""The training loss: `build_loss(cfg)` makes `loss_fn(logits, targets) -> scalar` from `cfg.loss`.

`cfg.loss` names a factory: the built-in `cross_entropy` (with `cfg.label_smoothing`) or an import
string `"package.module:make"` called with `cfg.loss_kwargs`. What it returns must be callable as
`loss_fn(logits, targets)` and give the mean loss over the batch as a 0-dim tensor. It is the
loss everywhere the run needs one: the training step (the ascent of SAM's perturbation, and
the gradient at w + eps of every perturbation), `train_loss`, `perturb_loss`, `val_loss`,
`test_loss` and the sharpness diagnostics. OBF's perturbation ascends its own surrogate instead
(`samtrain.optim.obf`); RandSAM's is random.

Example:
    >>> import torch
    >>> from samtrain.config.train_config import TrainConfig
    >>> loss_fn = build_loss(TrainConfig(label_smoothing=0.1))
    >>> round(float(loss_fn(torch.zeros(2, 4), torch.tensor([0, 3]))), 4)
    1.3863
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from torch import Tensor, nn

from samtrain.config.registry import call, resolve
from samtrain.errors import ConfigError

if TYPE_CHECKING:
    from samtrain.config.train_config import TrainConfig

LossFn = Callable[[Tensor, Tensor], Tensor]


def cross_entropy(label_smoothing: float = 0.0) -> nn.Module:
    """The built-in loss: `nn.CrossEntropyLoss` (mean over the batch)."""
    return nn.CrossEntropyLoss(label_smoothing=label_smoothing)


def build_loss(cfg: TrainConfig) -> LossFn:
    """`cfg.loss`'s factory called with its arguments; `ConfigError` unless it returns a callable."""
    given = {"label_smoothing": cfg.label_smoothing} if cfg.loss == "cross_entropy" else {}
    loss_fn = call("loss_kwargs", cfg.loss, resolve("loss", cfg.loss), given, cfg.loss_kwargs)
    if not callable(loss_fn):
        raise ConfigError(f"key 'loss': value {cfg.loss!r} is invalid: its factory returned a "
                          f"{type(loss_fn).__name__}; must return a callable "
                          "loss_fn(logits, targets) -> scalar tensor")
    return loss_fn
