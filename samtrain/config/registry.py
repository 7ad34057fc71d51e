"""Where a run's model, dataset and loss come from: a built-in name or an import string.

`TrainConfig.model`, `.dataset` and `.loss` each name a builder: a built-in name (`small_cnn`,
`digits`, `cross_entropy`) or an import string `"package.module:callable"` naming a researcher's
own code. The built-in names are themselves import strings (`BUILTINS`), so both take one path:
`resolve` imports the module and returns the callable, `call` checks the keyword arguments
against its signature (`check_call`) and calls it. Every failure is a one-line `ConfigError`
naming the key and the value. Torch-free, and nothing is imported before `resolve`: the config
validator checks only the spelling (`check_spec`). The built-in datasets are found, not listed:
each module of `samtrain/data` that loads some declares `DATASETS` (name -> loader), read here
from its source (`builtin_datasets`), and holds their `DatasetRecord`s (shapes, options, pool
size, files: `samtrain.data.record`), so adding a dataset is adding that one module.

Example:
    >>> check_spec("model", "my_pkg.nets:build")
    'my_pkg.nets:build'
    >>> target("loss", "cross_entropy")
    'samtrain.models.losses:cross_entropy'
    >>> call("model_kwargs", "builtins:dict", resolve("model", "builtins:dict"), {"a": 1}, {"b": 2})
    {'a': 1, 'b': 2}
    >>> resolve("model", "json:nope")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    samtrain.errors.ConfigError: key 'model': value 'json:nope' is invalid: module 'json' has ...
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from samtrain.errors import ConfigError

__all__ = ["BUILTINS", "KINDS", "builtin_datasets", "call", "check_call", "check_spec", "is_builtin",
           "resolve", "target"]

KINDS = ("model", "dataset", "loss")
# name -> import string of its builder; the same builder signatures a researcher's own code has
BUILTINS: dict[str, dict[str, str]] = {
    "model": {
        "small_cnn": "samtrain.models.small_cnn:small_cnn",
        "resnet20": "samtrain.models.cifar_resnet:resnet20",
        "resnet56": "samtrain.models.cifar_resnet:resnet56",
        "resnet18": "samtrain.models.torchvision_models:resnet18_cifar",
        "wrn16_8": "samtrain.models.wide_resnet:wrn16_8",
        "wrn28_10": "samtrain.models.wide_resnet:wrn28_10",
        "resnet50": "samtrain.models.torchvision_models:resnet50_model",
        "vit_s": "samtrain.models.torchvision_models:vit_s",
    },
    "dataset": {},  # filled below from the data modules' `DATASETS` (`builtin_datasets`)
    "loss": {"cross_entropy": "samtrain.models.losses:cross_entropy"},
}
_DATA_PACKAGE = "samtrain.data"
_DATA_FOLDER = Path(__file__).resolve().parent.parent / "data"


def builtin_datasets(folder: Path = _DATA_FOLDER, package: str = _DATA_PACKAGE) -> dict[str, str]:
    """name -> import string of every built-in dataset: each module of `folder` that declares
    `DATASETS = {"name": "loader_function", ...}` at module level, read from its source without
    importing it (torch stays unimported). A name declared twice is an error.

    Example:
        >>> builtin_datasets()["digits"]
        'samtrain.data.toy:load_digits'
    """
    found: dict[str, str] = {}
    for path in sorted(folder.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "DATASETS" not in text:
            continue
        for node in ast.parse(text, filename=str(path)).body:
            names = [t.id for t in getattr(node, "targets", [getattr(node, "target", None)])
                     if isinstance(t, ast.Name)]
            if "DATASETS" not in names or getattr(node, "value", None) is None:
                continue
            for name, loader in ast.literal_eval(node.value).items():  # type: ignore[arg-type]
                if name in found:
                    raise RuntimeError(f"dataset {name!r} is declared twice: {found[name]} and "
                                       f"{package}.{path.stem}:{loader}")
                found[name] = f"{package}.{path.stem}:{loader}"
    return found


BUILTINS["dataset"].update(builtin_datasets())
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
IMPORT_STRING = re.compile(rf"^{_NAME}(\.{_NAME})*:{_NAME}(\.{_NAME})*$")


def is_builtin(kind: str, value: str) -> bool:
    """Whether `value` is a built-in name of `kind` (not an import string)."""
    return value in BUILTINS[kind]


def check_spec(kind: str, value: str) -> str:
    """`value` if it is a built-in name of `kind` or spelled as an import string, else ValueError
    (what pydantic turns into the one-line message); imports nothing."""
    if is_builtin(kind, value) or IMPORT_STRING.fullmatch(value):
        return value
    raise ValueError(f"must be a built-in {kind} ({', '.join(sorted(BUILTINS[kind]))}) or an "
                     "import string 'package.module:callable'")


def target(kind: str, value: str) -> str:
    """The import string of `value`: a built-in's own, or `value` itself."""
    return BUILTINS[kind].get(value, value)


def _error(key: str, value: Any, rule: str) -> ConfigError:
    return ConfigError(f"key {key!r}: value {value!r} is invalid: {' '.join(rule.split())}")


def resolve(kind: str, value: str) -> Callable[..., Any]:
    """Import the builder `value` names (a built-in name or `"package.module:attr.attr"`).

    A module that is not found, a module that raises while it is imported, a missing attribute
    and an attribute that is not callable are `ConfigError`s naming `kind` and `value` (one line:
    the exception's type and first line).
    """
    spec = target(kind, value)
    if not IMPORT_STRING.fullmatch(spec):
        try:
            check_spec(kind, value)
        except ValueError as e:
            raise _error(kind, value, str(e)) from None
    module_name, _, path = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        missing = e.name or module_name
        if module_name == missing or module_name.startswith(missing + "."):
            raise _error(kind, value, f"module {missing!r} not found: install the package, or put "
                         "its folder on PYTHONPATH (of the driver and of every Ray worker)") from None
        raise _error(kind, value, f"importing {module_name!r} failed: module {missing!r}, which it "
                     "imports, is not installed") from None
    except Exception as e:  # the user's module ran and raised: its fault, named in one line
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise _error(kind, value, f"importing {module_name!r} raised {type(e).__name__}"
                     f"{': ' + first if first else ''}; fix the module (nothing was started)"
                     ) from None
    attrs = path.split(".")
    for i, attr in enumerate(attrs):
        if not hasattr(obj, attr):
            owner = f"module {module_name!r}" if i == 0 else repr(f"{module_name}:{'.'.join(attrs[:i])}")
            raise _error(kind, value, f"{owner} has no attribute {attr!r}")
        obj = getattr(obj, attr)
    if not callable(obj):
        raise _error(kind, value, f"{spec!r} is not callable (type {type(obj).__name__})")
    return obj


def check_call(kwargs_key: str, value: str, builder: Callable[..., Any], given: Mapping[str, Any],
               kwargs: Mapping[str, Any]) -> None:
    """`ConfigError` unless `builder(**given, **kwargs)` fits the builder's signature.

    `given` are the arguments samtrain supplies (e.g. `num_classes`), `kwargs` the user's own
    (`model_kwargs`, ...). Arguments the builder does not take, or required ones nobody gives,
    are an error on the component's key when `given` alone does not fit, else on `kwargs_key`.
    A builder without a readable signature (a C type) passes.
    """
    kind = kwargs_key.removesuffix("_kwargs")
    both = sorted(set(given) & set(kwargs))
    if both:
        raise _error(kwargs_key, dict(kwargs), f"must not set {', '.join(both)}: samtrain passes "
                     f"{'it' if len(both) == 1 else 'them'} to {target(kind, value)}")
    try:
        sig = inspect.signature(builder)
    except (TypeError, ValueError):
        return
    try:
        sig.bind_partial(**given)
    except TypeError as e:
        raise _error(kind, value, f"its builder must take the keyword arguments "
                     f"{', '.join(given) or 'none'}: {e}") from None
    try:
        sig.bind(**given, **kwargs)
    except TypeError as e:
        plain = sig.replace(parameters=[p.replace(annotation=p.empty) for p in sig.parameters.values()],
                            return_annotation=sig.empty)  # the names, without annotations
        raise _error(kwargs_key, dict(kwargs), f"{target(kind, value)}{plain}: {e}") from None


def call(kwargs_key: str, value: str, builder: Callable[..., Any], given: Mapping[str, Any],
         kwargs: Mapping[str, Any]) -> Any:
    """`builder(**given, **kwargs)`, after `check_call`."""
    check_call(kwargs_key, value, builder, given, kwargs)
    return builder(**given, **kwargs)
