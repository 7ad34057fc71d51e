"""`TrainConfig`: every hyperparameter of one training run, under one set of names.

The same field names are used in YAML files, search spaces, MLflow params and the
`samtrain.optim.SAM(...)` arguments (the SAM-family fields and their rules come from
`samtrain.config.sam_schema.SAMHParams`). Every rule is a pydantic constraint on its field;
non-finite numbers (NaN, inf) are rejected everywhere. `model`, `dataset` and `loss` are built-in
names or import strings `"package.module:callable"` (`samtrain.config.registry`), their arguments in
`model_kwargs`, `dataset_kwargs`, `loss_kwargs` (JSON values); here only their spelling is
checked: nothing is imported (`samtrain.engine.preflight` builds them).

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
from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from samtrain.config.error_messages import format_validation_error
from samtrain.config.eval_set_spec import EvalSetSpec, check_unique_names
from samtrain.config.registry import check_spec, is_builtin
from samtrain.config.sam_schema import SAMHParams
from samtrain.config.strict_yaml import load_yaml, read_text
from samtrain.errors import ConfigError

__all__ = ["ConfigError", "TrainConfig", "parse_overrides", "SAM_FIELDS", "FIELD_NAMES"]

MAX_KWARGS_JSON = 6000  # characters: the longest MLflow param value
MODEL_GIVEN = ("num_classes", "in_channels", "image_size")  # what build_model passes itself


class TrainConfig(SAMHParams):
    """All hyperparameters of one run (the SAM-family ones inherited). Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    # data and model: a built-in name or an import string "package.module:callable" each
    dataset: str = "digits"
    dataset_kwargs: dict[str, Any] = Field(default_factory=dict)
    data_dir: str | None = None
    synthetic_shape: tuple[int, int, int] = (3, 32, 32)
    synthetic_classes: int = Field(10, ge=2)
    synthetic_size: int = Field(512, ge=1)
    model: str = "small_cnn"
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    init_from: str | None = Field(None, min_length=1)  # weights to start from (engine.init_weights)
    init_new_head: bool = False   # with init_from: a fresh classifier head even where it fits
    label_noise: float = Field(0.0, ge=0, lt=1)
    train_subset: int | None = Field(None, ge=1)
    val_size: int | float = 0.1
    data_seed: int = 0
    # optimisation
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(0.1, gt=0)
    optimizer: Literal["sgd", "adamw"] = "sgd"
    momentum: float = Field(0.9, ge=0)
    weight_decay: float = Field(5e-4, ge=0)
    warmup_epochs: float = Field(0.0, ge=0)
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    loss: str = "cross_entropy"
    loss_kwargs: dict[str, Any] = Field(default_factory=dict)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    grad_clip: float | None = Field(None, gt=0)
    grad_accum_steps: int = Field(1, ge=1)
    amp: Literal["none", "bf16"] = "none"
    channels_last: bool = False  # convolutional models train in channels-last memory layout
    # diagnostics
    test_every: int = Field(0, ge=0)
    sharpness_every: int = Field(0, ge=0)
    sharpness_examples: int = Field(256, ge=1)
    sharpness_m: int = Field(128, ge=1)
    sharpness_rho: float = Field(0.002, gt=0)
    sharpness_steps: int = Field(10, ge=1)
    eval_sets: list[EvalSetSpec] = Field(default_factory=list)  # shifted sets, scored with test
    # run
    seed: int = 0
    num_workers: int = Field(1, ge=1)
    use_gpu: bool = False

    @field_validator("model", "dataset", "loss")
    @classmethod
    def _component(cls, v: str, info: ValidationInfo) -> str:
        return check_spec(str(info.field_name), v)  # spelling only: nothing is imported here

    @field_validator("model_kwargs", "dataset_kwargs", "loss_kwargs")
    @classmethod
    def _kwargs(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        try:
            text = json.dumps(v, allow_nan=False)
        except ValueError:
            raise ValueError("must hold finite numbers only (no NaN or infinity)") from None
        except TypeError:
            raise ValueError("must hold only strings, numbers, booleans, null, lists and "
                             "mappings (JSON)") from None
        if len(text) > MAX_KWARGS_JSON:
            raise ValueError(f"must be at most {MAX_KWARGS_JSON} characters as JSON (an MLflow "
                             f"param), got {len(text)}")
        if info.field_name == "model_kwargs" and set(v) & set(MODEL_GIVEN):
            raise ValueError(f"must not set {', '.join(MODEL_GIVEN)}: the dataset gives them")
        return v

    @field_validator("eval_sets")
    @classmethod
    def _eval_sets(cls, v: list[Any]) -> list[Any]:
        return check_unique_names(v)

    @field_validator("data_dir")
    @classmethod
    def _data_dir(cls, v: str | None, info: ValidationInfo) -> str | None:
        dataset = info.data.get("dataset")
        if v is not None and dataset is not None and not is_builtin("dataset", dataset):
            raise ValueError(f"applies to the built-in datasets, not {dataset!r}: give your "
                             "builder its path in dataset_kwargs")
        return v

    @field_validator("label_smoothing")
    @classmethod
    def _label_smoothing(cls, v: float, info: ValidationInfo) -> float:
        loss = info.data.get("loss")
        if v and loss is not None and loss != "cross_entropy":
            raise ValueError(f"applies to loss 'cross_entropy', not {loss!r}: give your loss its "
                             "own settings in loss_kwargs")
        return v

    @field_validator("val_size")
    @classmethod
    def _val_size(cls, v: int | float) -> int | float:
        if isinstance(v, float) and not 0.0 < v < 1.0:
            raise ValueError("must be a count >= 1 or a fraction of the training pool in (0, 1)")
        if isinstance(v, int) and v < 1:
            raise ValueError("must be a count >= 1 or a fraction of the training pool in (0, 1)")
        return v

    @model_validator(mode="after")
    def _batch_division(self) -> TrainConfig:
        per_worker, rem = divmod(self.batch_size, self.num_workers)
        if rem:
            raise ValueError(
                f"batch_size={self.batch_size} must be divisible by num_workers={self.num_workers}")
        micro, rem = divmod(per_worker, self.grad_accum_steps)
        if rem:
            raise ValueError(f"per-worker batch {per_worker} must be divisible by "
                             f"grad_accum_steps={self.grad_accum_steps}")
        m = self.perturb_batch_size
        if m is not None and micro % m:
            raise ValueError(
                f"perturb_batch_size={m} must divide the per-worker micro-batch {micro} "
                f"(batch_size {self.batch_size} / num_workers {self.num_workers}"
                f" / grad_accum_steps {self.grad_accum_steps})")
        if self.perturbation == "momentum" and self.optimizer == "sgd" and self.momentum == 0:
            raise ValueError("perturbation 'momentum' needs momentum > 0 with optimizer 'sgd' "
                             "(it perturbs along the momentum buffer)")
        if self.sharpness_every and self.sharpness_examples % self.sharpness_m:
            raise ValueError(f"sharpness_examples={self.sharpness_examples} must be a multiple of "
                             f"sharpness_m={self.sharpness_m}")
        return self

    # ---- derived values ----
    @property
    def per_worker_batch_size(self) -> int:
        return self.batch_size // self.num_workers

    def sam_kwargs(self) -> dict[str, Any]:
        """Arguments for `samtrain.optim.SAM`, under their own names."""
        return {k: getattr(self, k) for k in SAM_FIELDS}

    def applied_params(self) -> dict[str, Any]:
        """The fields that act on this run (as JSON), the rest left out: what MLflow records.

        Plain SGD/AdamW (`perturbation="none"`) uses no SAM-family field; `obf_*` act only with
        OBF, `backup_normalized` only with GSAM (`gsam_alpha > 0`), `rho_min` only with
        `rho_policy="lr_prop"`; `momentum` only with SGD; `synthetic_*` only with the synthetic
        dataset and `data_dir` only with the other built-ins; `label_smoothing` only with
        cross-entropy; `sharpness_*` only when `sharpness_every > 0`; the step-policy fields only
        with their policy (`perturb_every` with "every" and "looksam", `perturb_prob*` with
        "prob", `aesam_*` with "aesam", `looksam_alpha` with "looksam"); empty `*_kwargs` and
        `eval_sets`, no `init_from` (and then `init_new_head`), `gsam_alpha = 0` and
        `perturb_policy = "always"` say nothing.
        `TrainConfig(**applied_params())` is the same config.

        >>> unused = set(TrainConfig().model_fields) - set(TrainConfig(perturbation="none",
        ...        optimizer="adamw").applied_params())
        >>> {"rho", "momentum", "obf_C", "gsam_alpha", "perturb_policy"} <= unused
        True
        >>> "obf_C" in TrainConfig(perturbation="obf").applied_params()
        True
        """
        values = self.model_dump(mode="json")
        return {k: v for k, v in values.items() if k not in _unused_fields(self)}

    def group_key(self) -> str:
        """A short hash of the config without its seeds: runs differing only by `seed` and
        `data_seed` share it (`sweep confirm` varies both; the same config on other data).

        `data_seed` is hashed as 0 and fields added later are left out while at their defaults,
        so a config's key stays what it was before (a sweep's stored keys keep matching)."""
        d = self.model_dump(mode="json")
        d.pop("seed")
        d["data_seed"] = 0
        for key, default in _LATER_FIELDS.items():
            if d[key] == default:
                del d[key]
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]

    # ---- construction ----
    @classmethod
    def build(cls, values: dict[str, Any]) -> TrainConfig:
        """Validate `values`; raise `ConfigError` with one line naming key, value and rule."""
        try:
            return cls(**values)
        except ValidationError as e:
            raise ConfigError(format_validation_error(e, FIELD_NAMES)) from None

    @classmethod
    def from_yaml_text(cls, text: str, overrides: list[str] | None = None,
                       source: str = "config") -> TrainConfig:
        data = load_yaml(text, source)
        if data is None:
            raise ConfigError(f"{source}: the file is empty (no YAML document); write TrainConfig "
                              "keys, e.g. `dataset: digits`")
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: the YAML top level must be a mapping of TrainConfig keys")
        data.update(parse_overrides(overrides or []))
        return cls.build(data)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
        """Read a TrainConfig YAML file (UTF-8, no repeated keys) plus `key=value` overrides."""
        return cls.from_yaml_text(read_text(path, "config"), overrides, source=str(path))


SAM_FIELDS: tuple[str, ...] = SAMHParams.names()
# fields added after sweeps were first run, with their defaults (see `TrainConfig.group_key`)
_LATER_FIELDS: dict[str, Any] = {
    "loss": "cross_entropy", "loss_kwargs": {}, "model_kwargs": {}, "dataset_kwargs": {},
    "perturb_policy": "always", "perturb_every": 5, "perturb_prob": 0.5,
    "perturb_prob_schedule": "constant", "perturb_prob_start": 0.0, "aesam_c_start": 1.0,
    "aesam_c_end": -1.0, "aesam_decay": 0.9, "looksam_alpha": 0.7, "eval_sets": [],
    "init_from": None, "init_new_head": False, "channels_last": False}
FIELD_NAMES = frozenset(TrainConfig.model_fields)


_SAM_ONLY = frozenset(SAM_FIELDS) - {"perturbation"}
# when to perturb: what each step policy reads ("always", the default, says nothing)
_POLICY_USES: dict[str, set[str]] = {
    "every": {"perturb_policy", "perturb_every"},
    "prob": {"perturb_policy", "perturb_prob", "perturb_prob_schedule", "perturb_prob_start"},
    "aesam": {"perturb_policy", "aesam_c_start", "aesam_c_end", "aesam_decay"},
    "looksam": {"perturb_policy", "perturb_every", "looksam_alpha"}}
_POLICY_FIELDS = frozenset().union(*_POLICY_USES.values())


def _unused_fields(cfg: TrainConfig) -> set[str]:
    """The fields of `cfg` whose value does not act on its run (see `applied_params`)."""
    unused: set[str] = set()
    if cfg.perturbation == "none":
        unused |= _SAM_ONLY
    if cfg.perturbation != "obf":
        unused |= {"obf_C", "obf_gamma", "obf_sigmoid"}
    if cfg.gsam_alpha == 0:
        unused |= {"gsam_alpha", "backup_normalized"}
    if cfg.rho_policy != "lr_prop":
        unused.add("rho_min")
    if cfg.optimizer != "sgd":
        unused.add("momentum")
    if cfg.dataset != "synthetic":
        unused |= {"synthetic_shape", "synthetic_classes", "synthetic_size"}
    if cfg.dataset == "synthetic" or not is_builtin("dataset", cfg.dataset):
        unused.add("data_dir")
    if cfg.loss != "cross_entropy":
        unused.add("label_smoothing")
    if not cfg.sharpness_every:
        unused |= {"sharpness_examples", "sharpness_m", "sharpness_rho", "sharpness_steps"}
    unused |= _POLICY_FIELDS - _POLICY_USES.get(cfg.perturb_policy, set())
    if cfg.perturb_policy == "prob" and cfg.perturb_prob_schedule == "constant":
        unused.add("perturb_prob_start")
    unused |= {k for k in ("model_kwargs", "dataset_kwargs", "loss_kwargs", "eval_sets",
                           "init_from") if not getattr(cfg, k)}
    if not cfg.init_from:
        unused.add("init_new_head")
    return unused


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Parse `["key=value", ...]` with YAML scalars (`rho=0.1`, `adaptive=null`)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set: {item!r} is not of the form key=value")
        try:
            out[key.strip()] = yaml.safe_load(raw) if raw != "" else None
        except yaml.YAMLError:
            raise ConfigError(f"--set: value of {key.strip()!r} ({raw!r}) is not a YAML scalar") from None
    return out
