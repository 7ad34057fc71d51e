"""`TrainConfig`: every hyperparameter of one training run, under one set of names.

The same field names are used in YAML files, search spaces, MLflow params and the
`samtrain.optim.SAM(...)` arguments.

Example:
    >>> cfg = TrainConfig(dataset="digits", model="small_cnn", rho=0.05, perturbation="obf")
    >>> cfg.per_worker_batch_size
    128
    >>> TrainConfig.from_yaml_text("rho: 0.1\\nepochs: 2", overrides=["lr=0.05"]).lr
    0.05
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

Perturbation = Literal["none", "ascent", "obf", "random"]
Adaptive = Literal["before", "after", "both"]


class ConfigError(ValueError):
    """Invalid configuration; the message is one line naming the key, the value and what is allowed."""


class TrainConfig(BaseModel):
    """All hyperparameters of one run. Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    # SAM family (names match samtrain.optim.SAM)
    rho: float = 0.05
    perturbation: Perturbation = "ascent"
    perturb_batch_size: int | None = None
    adaptive: Adaptive | None = None
    gsam_alpha: float = 0.0
    backup_normalized: bool = False
    obf_C: float = -1.0
    obf_gamma: float = 1.0
    obf_sigmoid: bool = True
    rho_policy: Literal["constant", "lr_prop"] = "constant"
    rho_min: float = 0.0
    # data and model
    dataset: Literal["digits", "fashion_mnist", "cifar10", "cifar100", "imagenet", "synthetic"] = (
        "digits"
    )
    data_dir: str | None = None
    synthetic_shape: tuple[int, int, int] = (3, 32, 32)
    synthetic_classes: int = 10
    synthetic_size: int = 512
    model: str = "small_cnn"
    label_noise: float = 0.0
    train_subset: int | None = None
    val_subset: int | None = None
    # optimisation
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    optimizer: Literal["sgd", "adamw"] = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: float = 0.0
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    label_smoothing: float = 0.0
    grad_clip: float | None = None
    grad_accum_steps: int = 1
    amp: Literal["none", "bf16"] = "none"
    # run
    seed: int = 0
    num_workers: int = 1
    use_gpu: bool = False

    @field_validator("rho", "rho_min", "gsam_alpha", "weight_decay", "warmup_epochs", "momentum")
    @classmethod
    def _non_negative(cls, v: float) -> float:
        if v < 0:
            raise ValueError("must be >= 0")
        return v

    @field_validator("obf_gamma")
    @classmethod
    def _gamma(cls, v: float) -> float:
        if not 0.0 <= v <= 1.0:
            raise ValueError("must be in [0, 1]")
        return v

    @field_validator("obf_C")
    @classmethod
    def _obf_c(cls, v: float) -> float:
        if 0.0 <= v <= 1.0:
            raise ValueError("must be < 0 (lambda = 0) or > 1 (lambda = 1/C); [0, 1] is not allowed")
        return v

    @field_validator("label_noise", "label_smoothing")
    @classmethod
    def _fraction(cls, v: float) -> float:
        if not 0.0 <= v < 1.0:
            raise ValueError("must be in [0, 1)")
        return v

    @field_validator("epochs", "batch_size", "num_workers", "grad_accum_steps", "synthetic_classes",
                     "synthetic_size")
    @classmethod
    def _positive_int(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be >= 1")
        return v

    @field_validator("perturb_batch_size", "train_subset", "val_subset")
    @classmethod
    def _positive_or_none(cls, v: int | None) -> int | None:
        if v is not None and v < 1:
            raise ValueError("must be >= 1 or null")
        return v

    @field_validator("lr")
    @classmethod
    def _lr(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be > 0")
        return v

    @field_validator("grad_clip")
    @classmethod
    def _clip(cls, v: float | None) -> float | None:
        if v is not None and v <= 0:
            raise ValueError("must be > 0 or null")
        return v

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        from samtrain.models import MODEL_NAMES

        if v not in MODEL_NAMES:
            raise ValueError(f"must be one of {sorted(MODEL_NAMES)}")
        return v

    @model_validator(mode="after")
    def _batch_division(self) -> TrainConfig:
        if self.gsam_alpha > 0 and self.perturbation == "random":
            raise ValueError(f"gsam_alpha={self.gsam_alpha} needs a clean gradient; "
                             "perturbation 'random' (RandSAM) computes none")
        per_worker, rem = divmod(self.batch_size, self.num_workers)
        if rem:
            raise ValueError(
                f"batch_size={self.batch_size} must be divisible by num_workers={self.num_workers}"
            )
        micro, rem = divmod(per_worker, self.grad_accum_steps)
        if rem:
            raise ValueError(
                f"per-worker batch {per_worker} must be divisible by "
                f"grad_accum_steps={self.grad_accum_steps}"
            )
        m = self.perturb_batch_size
        if m is not None and micro % m:
            raise ValueError(
                f"perturb_batch_size={m} must divide the per-worker micro-batch {micro} "
                f"(batch_size {self.batch_size} / num_workers {self.num_workers}"
                f" / grad_accum_steps {self.grad_accum_steps})"
            )
        return self

    # ---- derived values ----
    @property
    def per_worker_batch_size(self) -> int:
        return self.batch_size // self.num_workers

    @property
    def micro_batch_size(self) -> int:
        return self.per_worker_batch_size // self.grad_accum_steps

    def sam_kwargs(self) -> dict[str, Any]:
        """Arguments for `samtrain.optim.SAM`, under their own names."""
        return {k: getattr(self, k) for k in SAM_FIELDS}

    def flat_params(self) -> dict[str, Any]:
        """Flat `{name: value}` for MLflow params (None as "None")."""
        return {k: ("None" if v is None else v) for k, v in self.model_dump(mode="json").items()}

    def group_key(self) -> str:
        """A short hash of the config without the seed: runs differing only by seed share it."""
        d = self.model_dump(mode="json")
        d.pop("seed")
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]

    # ---- construction ----
    @classmethod
    def build(cls, values: dict[str, Any]) -> TrainConfig:
        """Validate `values`; raise `ConfigError` with one line naming key, value and rule."""
        try:
            return cls(**values)
        except ValidationError as e:
            raise ConfigError(format_validation_error(e, values)) from None

    @classmethod
    def from_yaml_text(cls, text: str, overrides: list[str] | None = None) -> TrainConfig:
        data = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise ConfigError("config: the YAML top level must be a mapping of TrainConfig keys")
        data.update(parse_overrides(overrides or []))
        return cls.build(data)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config: file {str(p)!r} does not exist")
        return cls.from_yaml_text(p.read_text(), overrides)


SAM_FIELDS = (
    "rho", "perturbation", "perturb_batch_size", "adaptive", "gsam_alpha", "backup_normalized",
    "obf_C", "obf_gamma", "obf_sigmoid", "rho_policy", "rho_min",
)
FIELD_NAMES = frozenset(TrainConfig.model_fields)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Parse `["key=value", ...]` with YAML scalars (`rho=0.1`, `adaptive=null`)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set: {item!r} is not of the form key=value")
        out[key.strip()] = yaml.safe_load(raw) if raw != "" else None
    return out


def format_validation_error(err: ValidationError, values: dict[str, Any]) -> str:
    """First pydantic error as one line: `key 'k': value v is invalid: rule`."""
    e = err.errors()[0]
    loc = ".".join(str(x) for x in e["loc"])
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "extra_forbidden":
        return f"unknown key {loc!r} (value {e['input']!r}); allowed keys: {', '.join(sorted(FIELD_NAMES))}"
    if not loc:
        return f"invalid config: {msg}"
    value = values.get(loc.split(".")[0], e.get("input"))
    return f"key {loc!r}: value {value!r} is invalid: {msg}"
