"""A study's `transfer:` block: the target dataset and the ONE fine-tuning recipe every source
method's confirmed checkpoints get (`sweep transfer NAME`, `sweeps.execution.transfer`).

Format::

    transfer:
      target:                # the target's data: TrainConfig data keys (dataset required); any
        dataset: samtrain.data.class_split:class_split    # dataset spec, import strings included
        dataset_kwargs: {dataset: fashion_mnist, classes: [6, 7, 8, 9]}
        train_subset: 2000
        val_size: 500
      recipe:                # every other TrainConfig key of the fine-tuning (not model, seeds,
        epochs: 3            # init_from, resources): the same for every source method
        batch_size: 64
        optimizer: sgd
        lr: 0.01
        perturbation: none
      lr_grid: [0.003, 0.01, 0.03]   # optional: lr searched ONCE on the target's validation split
      new_head: true         # a fresh classifier head sized to the target's classes (default)

A transfer run is `recipe` + `target` + the source's `model`/`model_kwargs` + the study's
`resources`, with `seed` and `data_seed` the source's confirm seed (so runs pair by seed) and
`init_from` the source's final checkpoint.

Example:
    >>> spec = parse_transfer({"target": {"dataset": "digits"}, "recipe": {"epochs": 1}},
    ...                       {"model": "small_cnn"}, {})
    >>> spec.config("small_cnn", {}, seed=3, init_from="/ckpt/state.pt", resources={}).epochs
    1
    >>> parse_transfer({"target": {"dataset": "digits"}, "recipe": {"dataset": "x"}}, {}, {})
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    sweeps.errors.SpaceError: transfer.recipe.dataset: value 'x' belongs in transfer.target ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field, ValidationError

from samtrain.config.error_messages import first_error
from samtrain.config.suggest import did_you_mean
from samtrain.config.train_config import FIELD_NAMES, TrainConfig
from samtrain.errors import ConfigError
from sweeps.errors import SpaceError
from sweeps.study.strategy import Strict

__all__ = ["TARGET_KEYS", "SET_BY_TRANSFER", "TransferSpec", "parse_transfer"]

TARGET_KEYS = ("dataset", "dataset_kwargs", "data_dir", "synthetic_shape", "synthetic_classes",
               "synthetic_size", "label_noise", "train_subset", "val_size", "eval_sets")
# set per run by the transfer phase (the source's model, its seed and checkpoint) or resources
SET_BY_TRANSFER = ("model", "model_kwargs", "seed", "data_seed", "init_from", "init_new_head",
                   "num_workers", "use_gpu")
RECIPE_KEYS = tuple(sorted(FIELD_NAMES - set(TARGET_KEYS) - set(SET_BY_TRANSFER)))
MAX_LR_GRID = 20


class _TransferFile(Strict):
    target: dict[str, Any]
    recipe: dict[str, Any] = {}
    lr_grid: list[float] | None = Field(None, min_length=1, max_length=MAX_LR_GRID)
    new_head: bool = True


@dataclass(frozen=True)
class TransferSpec:
    """The target's data keys, the shared recipe, the lr candidates (empty: `recipe`'s lr is
    used) and whether the head is always re-created."""

    target: dict[str, Any]
    recipe: dict[str, Any]
    lr_grid: tuple[float, ...] = ()
    new_head: bool = True

    def config(self, model: str, model_kwargs: dict[str, Any], seed: int, init_from: str,
               resources: dict[str, Any], lr: float | None = None) -> TrainConfig:
        """The TrainConfig of one transfer run (`lr` None: the recipe's)."""
        values = {**self.recipe, **self.target, "model": model, "model_kwargs": model_kwargs,
                  "seed": seed, "data_seed": seed, "init_from": init_from,
                  "init_new_head": self.new_head, **resources}
        if lr is not None:
            values["lr"] = lr
        try:
            return TrainConfig.build(values)
        except ConfigError as e:
            raise SpaceError(f"transfer: {e}") from None


def _check_keys(part: str, values: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key, value in values.items():
        if key in allowed:
            continue
        if key in TARGET_KEYS:
            raise SpaceError(f"transfer.{part}.{key}: value {value!r} belongs in transfer.target "
                             "(the target's data keys)")
        if key in SET_BY_TRANSFER:
            raise SpaceError(f"transfer.{part}.{key}: value {value!r} cannot be set here: the "
                             "transfer phase sets it (the source's model, seed and checkpoint; "
                             "resources)")
        if key in RECIPE_KEYS:
            raise SpaceError(f"transfer.{part}.{key}: value {value!r} belongs in transfer.recipe")
        hint = did_you_mean(key, allowed) or f"allowed: {', '.join(allowed)}"
        raise SpaceError(f"transfer.{part}.{key}: unknown TrainConfig key (value {value!r}); {hint}")


def parse_transfer(raw: Any, base: dict[str, Any], resources: dict[str, Any]) -> TransferSpec:
    """Validate a `transfer:` block; `base` gives the model it is checked with (the sources'),
    `resources` the values `resources` sets. `SpaceError` (one line) on any problem."""
    try:
        f = _TransferFile.model_validate(raw)
    except ValidationError as e:
        loc, value, msg, kind = first_error(e)
        if kind == "extra_forbidden":
            raise SpaceError(f"transfer.{loc}: unknown key (value {value!r}); allowed: "
                             f"{', '.join(_TransferFile.model_fields)}") from None
        if kind == "missing":
            raise SpaceError(f"transfer.{loc}: required key is missing") from None
        raise SpaceError(f"transfer.{loc}: value {value!r} is invalid: {msg}") from None
    _check_keys("target", f.target, TARGET_KEYS)
    _check_keys("recipe", f.recipe, RECIPE_KEYS)
    if "dataset" not in f.target:
        raise SpaceError("transfer.target.dataset: required key is missing (the target dataset: "
                         "a built-in name or an import string)")
    spec = TransferSpec(dict(f.target), dict(f.recipe), tuple(f.lr_grid or ()), f.new_head)
    for lr in spec.lr_grid or (None,):
        where = "transfer.lr_grid" if lr is not None else "transfer"
        try:
            spec.config(str(base.get("model", "small_cnn")), dict(base.get("model_kwargs", {})),
                        0, "<checkpoint>", resources, lr)
        except SpaceError as e:
            raise SpaceError(f"{where}: {str(e).removeprefix('transfer: ')}") from None
    return spec
