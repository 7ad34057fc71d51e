"""`init_from`: start a run from given weights, its backbone loaded and its head sized anew.

`TrainConfig.init_from` names the weights: a file `torch.save`d from a `state_dict()` (or a
samtrain checkpoint file, `state.pt`, whose `"model"` entry is one), a checkpoint folder
holding `state.pt`, or an earlier run's folder (a Tune trial folder such as
`runs/NAME/confirm-0/sam-<trial id>`: its latest `checkpoint_*` is taken). Files are read with
`torch.load(..., weights_only=True)`: a file that would run code is refused.

The model's classifier head (`head_name`: `HEADS` for the built-in models; for a researcher's
model its `head_name` attribute, else its last `nn.Linear` giving one output per class) is
loaded only when its shapes fit and `init_new_head` is false; otherwise it keeps its fresh
initialisation, sized to the run's classes (the transfer case: `sweeps.execution.transfer`).
Every other weight (the backbone) must be in the file with the model's shape: a missing or
extra weight, or one of another shape, is a one-line `ConfigError` naming `init_from`, its
value and what was wrong. `check_init_from` finds that before anything starts.

Example:
    >>> import tempfile, torch
    >>> from samtrain.config.train_config import TrainConfig
    >>> from samtrain.models import build_model
    >>> src = build_model("small_cnn", num_classes=6, in_channels=1, image_size=8)
    >>> path = tempfile.mkdtemp() + "/w.pt"; torch.save(src.state_dict(), path)
    >>> cfg = TrainConfig(init_from=path)
    >>> init_model(build_model("small_cnn", num_classes=4, in_channels=1, image_size=8), cfg)
    'backbone loaded (18 tensors), head classifier new (4 classes)'
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from samtrain.errors import ConfigError

if TYPE_CHECKING:
    from samtrain.config.train_config import TrainConfig

__all__ = ["HEADS", "check_init_from", "head_name", "init_model", "load_weights", "weights_file"]

# the classifier head of each built-in model: the module that maps features to class logits
HEADS = {"small_cnn": "classifier", "resnet20": "fc", "resnet56": "fc", "resnet18": "fc",
         "wrn16_8": "fc", "wrn28_10": "fc", "resnet50": "fc", "vit_s": "heads.head"}
STATE_FILE = "state.pt"  # a samtrain checkpoint's file (`samtrain.engine.checkpoint.FILE`)


def _bad(value: str, what: str) -> ConfigError:
    return ConfigError(f"key 'init_from': value {value!r} is invalid: {what}")


def weights_file(value: str) -> Path:
    """The file `init_from` names: the file itself, a checkpoint folder's `state.pt`, or the
    latest `checkpoint_*/state.pt` of a run's folder; `ConfigError` when there is none."""
    path = Path(value).expanduser()
    if path.is_file():
        return path
    if not path.is_dir():
        raise _bad(value, "no such file or folder; give a state_dict file (torch.save), a "
                          "checkpoint folder or a run's folder")
    if (path / STATE_FILE).is_file():
        return path / STATE_FILE
    found = sorted(path.glob(f"checkpoint_*/{STATE_FILE}"))
    if not found:
        raise _bad(value, f"the folder holds neither {STATE_FILE} nor checkpoint_*/{STATE_FILE}")
    return found[-1]


def load_weights(value: str) -> dict[str, torch.Tensor]:
    """The state dict `init_from` names (`weights_only=True`); `ConfigError` when the file is
    not one (a samtrain checkpoint's `"model"` entry is taken)."""
    path = weights_file(value)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors, foreign formats, code that weights_only refuses
        raise _bad(value, f"{path} is not a torch.save'd state dict "
                          f"({type(e).__name__}: {' '.join(str(e).split())[:160]})") from None
    if isinstance(state, Mapping) and isinstance(state.get("model"), Mapping):
        state = state["model"]  # a samtrain checkpoint: model, optimizer, schedule, RNG
    if not (isinstance(state, Mapping) and state
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())):
        raise _bad(value, f"{path} is not a state dict (a mapping of parameter names to "
                          f"tensors, as model.state_dict() gives); it holds a {type(state).__name__}")
    return dict(state)


def head_name(model: nn.Module, model_name: str, num_classes: int) -> str:
    """The head of `model`: `HEADS[model_name]`, the model's `head_name` attribute, or its last
    `nn.Linear` with `num_classes` outputs; `ConfigError` when none is found."""
    modules = dict(model.named_modules())
    name = HEADS.get(model_name) or getattr(model, "head_name", None)
    if name is None:
        linear = [n for n, m in modules.items()
                  if isinstance(m, nn.Linear) and m.out_features == num_classes]
        name = linear[-1] if linear else None
    if not isinstance(name, str) or name not in modules:
        raise ConfigError(f"key 'init_from': model {model_name!r} has no classifier head to "
                          f"re-create: no nn.Linear with {num_classes} outputs; give the module "
                          "a `head_name` attribute naming its head")
    return name


def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def init_model(model: nn.Module, cfg: TrainConfig, num_classes: int | None = None) -> str:
    """Load `cfg.init_from` into `model` (built for the run's classes) in place: backbone
    always, head when it fits and `cfg.init_new_head` is false; return what was done.

    `num_classes`: the run's classes (default: the head's outputs as built)."""
    value = str(cfg.init_from)
    weights = load_weights(value)
    own = model.state_dict()
    head = head_name(model, cfg.model, num_classes or _out_features(model, cfg.model))
    prefix = head + "."
    mine = {k: v for k, v in own.items() if not k.startswith(prefix)}
    given = {k: v for k, v in weights.items() if not k.startswith(prefix)}
    missing, extra = sorted(set(mine) - set(given)), sorted(set(given) - set(mine))
    if missing or extra:
        what = (f"the model {cfg.model!r} needs weight {missing[0]!r}, the file lacks it"
                if missing else f"the file's weight {extra[0]!r} is not in model {cfg.model!r}")
        raise _bad(value, f"its weights do not fit the backbone ({len(missing)} missing, "
                          f"{len(extra)} extra): {what}")
    for k, v in mine.items():
        if _shape(given[k]) != _shape(v):
            raise _bad(value, f"weight {k!r} has shape {_shape(given[k])}, the backbone of "
                              f"model {cfg.model!r} needs {_shape(v)}")
    heads = {k: v for k, v in weights.items() if k.startswith(prefix)}
    fits = (set(heads) == {k for k in own if k.startswith(prefix)}
            and all(_shape(v) == _shape(own[k]) for k, v in heads.items()))
    keep_head = fits and not cfg.init_new_head
    model.load_state_dict({**own, **given, **(heads if keep_head else {})})
    classes = _out_features(model, cfg.model)
    return (f"backbone loaded ({len(given)} tensors), head {head} "
            f"{'loaded' if keep_head else 'new'} ({classes} classes)")


def _out_features(model: nn.Module, model_name: str) -> int:
    name = HEADS.get(model_name) or getattr(model, "head_name", None)
    module = dict(model.named_modules()).get(name) if isinstance(name, str) else None
    if isinstance(module, nn.Linear):
        return module.out_features
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linear[-1].out_features if linear else -1


def check_init_from(cfg: TrainConfig, shapes: tuple[int, int, int]) -> str:
    """Build `cfg.model` for `shapes` (`num_classes, in_channels, image_size` of the run's
    dataset) on the CPU and load `cfg.init_from` into it: the pre-flight check of a launcher.

    >>> from samtrain.config.train_config import TrainConfig
    >>> check_init_from(TrainConfig(init_from="/nonexistent.pt"), (10, 1, 8))
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    samtrain.errors.ConfigError: key 'init_from': value '/nonexistent.pt' is invalid: no such ...
    """
    from samtrain.models import build_model

    weights_file(str(cfg.init_from))  # before the model is built: the cheap error first
    model = build_model(cfg.model, *shapes, **cfg.model_kwargs)
    return init_model(model, cfg, shapes[0])

