"""Studies from code: a dict, a file, `key=value` overrides, and the bundled example files.

A study is what a study file holds (its format: `sweeps.study.study_file`); here it can also come
from a Python dict, and any of its values can be overridden by a dotted key (`budget=4`,
`base.epochs=3`, `methods.sam.space.rho={loguniform: [0.01, 0.1]}`), validated exactly like the
file. The sweep's folder keeps the study as YAML (its `space.yaml`), overrides applied.

Example:
    >>> study = study_from_dict({"base": {"dataset": "digits", "epochs": 1},
    ...                          "methods": {"sgd": {"fixed": {"perturbation": "none"}}}},
    ...                         name="quick")
    >>> study.name, list(study.methods), study.n_trials
    ('quick', ['sgd'], 1)
    >>> study_from_file(example_path("tiny"), overrides=["budget=3", "base.epochs=1"]).n_trials
    4
    >>> example_names()  # doctest: +NORMALIZE_WHITESPACE
    ['cifar10_resnet18', 'efficient_sam', 'fashion_label_noise', 'fashion_shift', 'fashion_transfer',
     'imagenet_resnet50', 'imagenet_vit_s16', 'tiny', 'tiny_grid']
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from samtrain.config.strict_yaml import load_yaml, read_text
from samtrain.config.suggest import did_you_mean
from samtrain.config.train_config import parse_overrides
from samtrain.errors import ConfigError
from sweeps.errors import SpaceError
from sweeps.study.spec import StudySpec
from sweeps.study.study_file import parse_study

__all__ = ["study_from_dict", "study_from_file", "apply_overrides", "example_names",
           "example_path", "example_text"]


def example_names() -> list[str]:
    """The study files bundled with the package (`sweep example NAME` prints one)."""
    return sorted(p.name.removesuffix(".yaml") for p in resources.files("sweeps").joinpath(
        "examples").iterdir() if p.name.endswith(".yaml"))


def example_path(name: str) -> Path:
    """The path of the bundled study file `name` (e.g. `tiny`); an unknown name is a
    `SpaceError` suggesting the closest."""
    names = example_names()
    if name not in names:
        hint = did_you_mean(name, names)
        raise SpaceError(f"example: value {name!r} is unknown; "
                         f"{hint + ' ' if hint else ''}allowed: {', '.join(names)}")
    return Path(str(resources.files("sweeps").joinpath("examples", f"{name}.yaml")))


def example_text(name: str) -> str:
    """The bundled study file `name`, as text (what `sweep example NAME` prints)."""
    return example_path(name).read_text(encoding="utf-8")


def _descend(node: dict[str, Any], parts: list[str], item: str) -> dict[str, Any]:
    """The mapping at `parts` under `node`, made where a section may be added; a method the
    study does not have is an error suggesting the closest."""
    for depth, part in enumerate(parts):
        if part not in node and depth == 1 and parts[0] == "methods":
            hint = did_you_mean(part, node) or f"methods: {', '.join(map(str, node)) or 'none'}"
            raise SpaceError(f"--set: key {item!r}: the study has no method {part!r}; {hint}")
        child = node.setdefault(part, {})
        if child is None:  # `sgd:` with nothing under it
            child = node[part] = {}
        if not isinstance(child, dict):
            raise SpaceError(f"--set: key {item!r}: {'.'.join(parts[:depth + 1])!r} holds "
                             f"{child!r}, not a mapping")
        node = child
    return node


def apply_overrides(raw: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """A copy of the study mapping `raw` with each `dotted.key=value` (value as YAML) set.

    >>> apply_overrides({"budget": 2, "base": {"lr": 0.1}}, ["budget=4", "base.epochs=3"])
    {'budget': 4, 'base': {'lr': 0.1, 'epochs': 3}}
    """
    out = copy.deepcopy(dict(raw))
    items = list(overrides)
    for item, (key, value) in zip(items, parse_overrides(items).items(), strict=True):
        *parents, last = key.split(".")
        if not all(parents) or not last:
            raise SpaceError(f"--set: key {key!r} is invalid: use dotted study keys, e.g. "
                             "budget=4, base.epochs=3, methods.sam.space.rho=...")
        _descend(out, parents, item)[last] = value
    return out


def _to_text(data: Mapping[str, Any], header: str = "") -> str:
    try:
        return header + yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True)
    except yaml.YAMLError as e:
        raise SpaceError(f"study: a value cannot be written as YAML ({' '.join(str(e).split())}); "
                         "use numbers, strings, booleans, lists and dicts") from None


def study_from_dict(data: Mapping[str, Any], *, name: str | None = None, budget: int | None = None,
                    overrides: Iterable[str] = ()) -> StudySpec:
    """A validated study from a dict shaped like a study file (`name`/`budget` override its
    values; `overrides`: `dotted.key=value` strings). Raises `SpaceError` naming the key."""
    if not isinstance(data, Mapping):
        raise SpaceError(f"study: value {data!r} is invalid: give a mapping with `base` and "
                         "`methods`")
    text = _to_text(apply_overrides(data, overrides))
    return parse_study(text, source="<dict>", budget=budget, name=name or data.get("name") or "study")


def study_from_file(path: str | Path, *, name: str | None = None, budget: int | None = None,
                    overrides: Iterable[str] = ()) -> StudySpec:
    """A validated study from a YAML file (`overrides`: `dotted.key=value` strings, applied
    before validation; the sweep keeps the file with them applied)."""
    try:
        text = read_text(path, "study")
        items = list(overrides)
        if items:
            raw = load_yaml(text, str(path))
            if not isinstance(raw, dict):
                raise SpaceError(f"{path}: the top level must be a mapping with `base` and "
                                 "`methods`")
            text = _to_text(apply_overrides(raw, items),
                            f"# {Path(path).name} with --set {' '.join(' '.join(items).split())}\n")
    except ConfigError as e:
        raise SpaceError(str(e)) from None
    spec = parse_study(text, source=str(path), budget=budget, name=name)
    object.__setattr__(spec, "path", Path(path))
    return spec
