"""Before anything starts: a run's model, dataset and loss built once and tried on two examples.

`check_components(cfgs)` is what launchers call (beside `samtrain.data.check_dataset`) before they
start Ray, so that a bad import string or a builder returning the wrong thing is a one-line
`ConfigError` naming the key and the value, not a failed trial. For every distinct set of
components among `cfgs` it

- resolves `model`, `dataset` and `loss` (module not found, attribute missing or not callable);
- calls a researcher's dataset builder and checks what it returns and that its pool fits
  `val_size`, `train_subset` and one batch (built-in datasets are not loaded: their shapes are
  known, `dataset_kwargs` are checked against their builder, `check_dataset` finds their files);
- builds the model (an `nn.Module` with trainable parameters?) and runs it in eval mode on two
  examples: one logit per class?
- with `init_from`, loads its weights into the model built for the data's shapes (a missing
  file, a file that is not a state dict, a backbone of other shapes: `samtrain.engine.init_weights`);
- makes the loss and applies it to those logits: a 0-dim floating tensor, finite, and
  differentiable in the logits (not detached)?

An exception from the model's forward or the loss on these inputs is a `ConfigError` too (they
do not fit the dataset); one raised by a builder itself propagates (a bug in it).

Built-in components without `*_kwargs` are only resolved: the test suite tries them.
`resolve_components(cfg)` only resolves (for a remote cluster whose data this machine lacks).

Example:
    >>> from samtrain.config.train_config import TrainConfig
    >>> check_components([TrainConfig(dataset="digits", model="torch.nn:Identity")])
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    samtrain.errors.ConfigError: key 'model': value 'torch.nn:Identity' is invalid: its output ...
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import torch

from samtrain.config.eval_set_spec import ImportSet
from samtrain.config.registry import check_call, is_builtin, resolve
from samtrain.config.train_config import TrainConfig
from samtrain.data.build import builtin_kwargs, builtin_shapes, check_split, load_source
from samtrain.data.bundle import DataSource
from samtrain.data.eval_sets import resolve_import_set
from samtrain.engine.init_weights import check_init_from
from samtrain.errors import ConfigError
from samtrain.models import build_model
from samtrain.models.losses import build_loss

__all__ = ["check_components", "resolve_components"]

_DATA_FIELDS = ("dataset", "dataset_kwargs", "data_dir", "synthetic_shape", "synthetic_classes",
                "synthetic_size")
_FIELDS = (*_DATA_FIELDS, "model", "model_kwargs", "loss", "loss_kwargs", "label_smoothing")


def resolve_components(cfg: TrainConfig) -> None:
    """Import the builders of `cfg.model`, `cfg.dataset` and `cfg.loss`, and the functions of
    `cfg.eval_sets` (`ConfigError` if one cannot be found or is not callable); calls nothing."""
    for kind in ("model", "dataset", "loss"):
        resolve(kind, getattr(cfg, kind))
    for i, spec in enumerate(cfg.eval_sets):
        if isinstance(spec, ImportSet):
            resolve_import_set(spec, i)


def _key(cfg: TrainConfig, fields: tuple[str, ...]) -> str:
    return json.dumps({f: getattr(cfg, f) for f in fields}, sort_keys=True, default=str)


def _all_builtin(cfg: TrainConfig) -> bool:
    return (all(is_builtin(kind, getattr(cfg, kind)) for kind in ("model", "dataset", "loss"))
            and not (cfg.model_kwargs or cfg.dataset_kwargs or cfg.loss_kwargs))


def check_components(cfgs: Iterable[TrainConfig]) -> None:
    """Check the components of every config (see the module docstring); each distinct dataset is
    built once."""
    sources: dict[str, DataSource | None] = {}
    seen: set[str] = set()
    for cfg in cfgs:
        resolve_components(cfg)
        if cfg.init_from:  # the weights fit the backbone built for the data's shapes
            check_init_from(cfg, _examples(cfg, None if is_builtin("dataset", cfg.dataset)
                                           else load_source(cfg))[2])
        key = _key(cfg, _FIELDS)
        if key in seen or _all_builtin(cfg):
            continue
        seen.add(key)
        data_key = _key(cfg, _DATA_FIELDS)
        if data_key not in sources:
            sources[data_key] = None if is_builtin("dataset", cfg.dataset) else load_source(cfg)
        if is_builtin("dataset", cfg.dataset):  # not loaded: only its arguments are checked
            check_call("dataset_kwargs", cfg.dataset, resolve("dataset", cfg.dataset),
                       builtin_kwargs(cfg), cfg.dataset_kwargs)
        src = sources[data_key]
        if src is not None:
            check_split(cfg, len(src.pool))  # type: ignore[arg-type]
        _try_model_and_loss(cfg, src)


def _examples(cfg: TrainConfig, src: DataSource | None
              ) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int, int]]:
    """Two inputs and targets (zeros for a built-in dataset), and the dataset's
    `(num_classes, in_channels, image_size)`."""
    if src is None:
        shapes = builtin_shapes(cfg)
        _, channels, size = shapes
        return torch.zeros(2, channels, size, size), torch.zeros(2, dtype=torch.int64), shapes
    items = [src.pool[i] for i in range(min(2, len(src.pool)))]  # type: ignore[arg-type]
    x = torch.stack([x for x, _ in items])
    y = torch.as_tensor([int(y) for _, y in items])
    return x, y, (src.num_classes, src.in_channels, src.image_size)


def _try_model_and_loss(cfg: TrainConfig, src: DataSource | None) -> None:
    x, y, shapes = _examples(cfg, src)
    num_classes = shapes[0]
    model = build_model(cfg.model, *shapes, **cfg.model_kwargs)
    model.eval()
    logits = _tried(cfg.model, "model", f"its forward on {len(x)} inputs of shape "
                    f"{tuple(x.shape[1:])}", model, x)
    if not (isinstance(logits, torch.Tensor) and tuple(logits.shape) == (len(x), num_classes)):
        got = (f"shape {tuple(logits.shape)}" if isinstance(logits, torch.Tensor)
               else f"a {type(logits).__name__}")
        raise ConfigError(
            f"key 'model': value {cfg.model!r} is invalid: its output on {len(x)} inputs of "
            f"shape {tuple(x.shape[1:])} is {got}; must be ({len(x)}, {num_classes}): one "
            "logit per class")
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError(f"key 'model': value {cfg.model!r} is invalid: the model it builds has "
                          "no trainable parameters; it must have some (an optimizer trains them)")
    loss = _tried(cfg.loss, "loss", "loss_fn(logits, targets)", build_loss(cfg), logits, y)
    _check_loss(cfg.loss, loss, logits)


def _check_loss(value: str, loss: Any, logits: torch.Tensor) -> None:
    """The loss on the pre-flight examples: a 0-dim float tensor, finite, and differentiable
    through the logits (a detached loss would train nothing)."""
    bad = f"key 'loss': value {value!r} is invalid: loss_fn(logits, targets) gave"
    if not (isinstance(loss, torch.Tensor) and loss.dim() == 0 and loss.is_floating_point()):
        got = (f"a tensor of shape {tuple(loss.shape)}, {loss.dtype}"
               if isinstance(loss, torch.Tensor) else f"a {type(loss).__name__}")
        raise ConfigError(f"{bad} {got}; must give the batch's mean loss, a 0-dim float tensor")
    if not torch.isfinite(loss):
        raise ConfigError(f"{bad} {loss.item()} on the first 2 examples; must be finite")
    if logits.requires_grad and loss.grad_fn is None:
        raise ConfigError(f"{bad} a tensor detached from the logits (no grad_fn); must be "
                          "differentiable in them (no .detach(), .item() or torch.no_grad())")


def _tried(value: str, key: str, what: str, fn: Any, *args: Any) -> Any:
    """`fn(*args)`; an exception it raises (a model that does not fit the dataset's inputs, a
    loss that does not take its logits) becomes a one-line `ConfigError` on `key`."""
    try:
        return fn(*args)
    except Exception as e:  # the user's code on our inputs: whatever it raises
        raise ConfigError(f"key {key!r}: value {value!r} is invalid: {what} raised "
                          f"{type(e).__name__}: {' '.join(str(e).split())[:300]}") from None
