"""The shifted evaluation sets a run scores besides its test split: `TrainConfig.eval_sets`.

Each entry is one of three kinds, told apart by its key (pydantic checks the spelling only;
`samtrain.data.eval_sets` builds them in the worker and checks folders before Ray starts):

- `{corruption: NAME | [NAMES] | all, severity: 1..5 | [..] | all, examples: N}`: the test split
  corrupted as in CIFAR-10-C / ImageNet-C (Hendrycks & Dietterich, ICLR 2019;
  `samtrain.data.corruptions`), one set per corruption and severity (default: all five), named
  `<corruption>_<severity>`; `examples`: only the first N test examples (default: all);
  `corruptions` is accepted for `corruption`;
- `{folder: PATH, class_map: {FOLDER_CLASS: TRAINING_CLASS_INDEX}, name: NAME}`: an
  ImageFolder layout (one sub-folder per class); with `class_map`, only the mapped classes are
  scored and a prediction is the best of their training classes (the ImageNet-R/-A case); without
  it, the folder's classes in sorted order are training classes 0, 1, ...;
- `{import: "package.module:fn", kwargs: {...}, name: NAME}`: `fn(**kwargs)` returns a torch
  `Dataset` of `(x, y)` items, scored whole.

Example:
    >>> sets = EVAL_SETS.validate_python([{"corruption": "contrast", "severity": 2},
    ...                                   {"folder": "/data/r", "class_map": {"cat": 3}}])
    >>> [s.set_names() for s in sets]
    [['contrast_2'], ['r']]
    >>> len(CorruptionSet(corruption="all").set_names())
    55
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    field_validator,
    model_validator,
)

from samtrain.config.registry import IMPORT_STRING

__all__ = ["CORRUPTIONS", "PUBLISHED_CORRUPTIONS", "CorruptionSet", "EVAL_SETS", "EvalSetSpec",
           "FolderSet", "ImportSet", "SEVERITIES", "corruption_of", "check_unique_names"]

# CIFAR-10-C's names (Hendrycks & Dietterich 2019), the weather-free ones numpy and PIL can make
CORRUPTIONS = ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "defocus_blur",
               "gaussian_blur", "contrast", "brightness", "jpeg_compression", "pixelate",
               "elastic_transform")
SEVERITIES = (1, 2, 3, 4, 5)
# every corruption of ImageNet-C / CIFAR-10-C: a folder set named `<one of these>_<severity>` (e.g.
# ImageNet-C's `fog/3` folder as `fog_3`) counts in the report's mean corruption accuracy and mCE
PUBLISHED_CORRUPTIONS = (*CORRUPTIONS, "glass_blur", "motion_blur", "zoom_blur", "snow", "frost",
                         "fog", "spatter", "saturate")
_SET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_FORBID = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


def _one_or_all(v: Any, allowed: tuple[Any, ...]) -> list[Any]:
    values = list(allowed) if v == "all" else v if isinstance(v, list) else [v]
    bad = [x for x in values if x not in allowed]
    if bad or not values:
        raise ValueError(f"must be one of {', '.join(map(str, allowed))}, a list of them, or 'all'")
    return list(dict.fromkeys(values))


class CorruptionSet(BaseModel):
    """The test split corrupted: one set per (corruption, severity)."""

    model_config = _FORBID
    corruption: list[str]
    severity: list[int] = Field(default_factory=lambda: list(SEVERITIES))
    examples: int | None = Field(None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _plural(cls, data: Any) -> Any:
        if isinstance(data, dict) and "corruptions" in data and "corruption" not in data:
            data = {("corruption" if k == "corruptions" else k): v for k, v in data.items()}
        return data

    @field_validator("corruption", mode="before")
    @classmethod
    def _corruption(cls, v: Any) -> list[str]:
        return _one_or_all(v, CORRUPTIONS)

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, v: Any) -> list[int]:
        return _one_or_all(v, SEVERITIES)

    def set_names(self) -> list[str]:
        return [f"{c}_{s}" for c in self.corruption for s in self.severity]


class FolderSet(BaseModel):
    """Images in an ImageFolder layout, optionally mapped onto a subset of the training classes."""

    model_config = _FORBID
    folder: str = Field(min_length=1)
    class_map: dict[str, int] | None = None
    name: str | None = None

    @field_validator("class_map")
    @classmethod
    def _class_map(cls, v: dict[str, int] | None) -> dict[str, int] | None:
        if v is not None and (not v or min(v.values()) < 0):
            raise ValueError("must map at least one folder class to a training class index >= 0")
        return v

    def set_names(self) -> list[str]:
        return [self.name or PurePath(self.folder.rstrip("/")).name]


class ImportSet(BaseModel):
    """A set a researcher's function returns (a torch Dataset of `(x, y)` items)."""

    model_config = _FORBID
    import_: str = Field(alias="import")
    kwargs: dict[str, Any] = Field(default_factory=dict)
    name: str | None = None

    @field_validator("import_")
    @classmethod
    def _spelling(cls, v: str) -> str:
        if not IMPORT_STRING.fullmatch(v):
            raise ValueError("must be an import string 'package.module:callable'")
        return v

    def set_names(self) -> list[str]:
        return [self.name or self.import_.rpartition(":")[2].replace(".", "_")]


def _kind(v: Any) -> str | None:
    if isinstance(v, BaseModel):
        return {CorruptionSet: "corruption", FolderSet: "folder", ImportSet: "import"}[type(v)]
    if isinstance(v, dict):
        return next((k.rstrip("s") for k in ("corruption", "corruptions", "folder", "import")
                     if k in v), None)
    return None


EvalSetSpec = Annotated[
    Annotated[CorruptionSet, Tag("corruption")] | Annotated[FolderSet, Tag("folder")]
    | Annotated[ImportSet, Tag("import")],
    Discriminator(_kind, custom_error_type="eval_set_kind",
                  custom_error_message="must be a mapping with the key corruption, folder or import"),
]
EVAL_SETS: TypeAdapter[list[EvalSetSpec]] = TypeAdapter(list[EvalSetSpec])


def check_unique_names(sets: list[Any]) -> list[Any]:
    """`sets` unless two sets share a name or a name is not a plain metric-name suffix."""
    seen: set[str] = set()
    for spec in sets:
        for name in spec.set_names():
            if not _SET_NAME.fullmatch(name):
                raise ValueError(f"set name {name!r} must be 1-64 letters, digits, '.', '_', '-': "
                                 "give the entry a `name`")
            if name in seen:
                raise ValueError(f"two sets are named {name!r}: give one a `name`")
            seen.add(name)
    return sets


def corruption_of(set_name: str) -> tuple[str, int] | None:
    """`(corruption, severity)` of a corruption set's name (`PUBLISHED_CORRUPTIONS`), else None.

    >>> corruption_of("elastic_transform_4"), corruption_of("sketch")
    (('elastic_transform', 4), None)
    """
    head, _, tail = set_name.rpartition("_")
    if head in PUBLISHED_CORRUPTIONS and tail.isdigit() and int(tail) in SEVERITIES:
        return head, int(tail)
    return None
