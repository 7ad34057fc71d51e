"""Study files: one YAML file -> a validated `StudySpec` (what to search, how, on what resources).

Format (only `methods` is required)::

    name: fashion_label_noise   # sweep / MLflow experiment name (default: the file's stem)
    metric: val_acc             # validation metric to optimise (default val_acc); never test_*
    mode: max                   # max | min (default max)
    budget: 4                   # search trials PER METHOD; every method gets exactly this many
    seed: 0                     # Optuna sampler seed
    confirm_seeds: 3            # default --seeds of `sweep confirm` (0: its own default, 3)
    baseline: sgd               # method others are compared with (default: the one without a
                                # perturbation, if any)
    max_failures: 2             # automatic retries of a trial whose process or node died
    checkpoint_interval_s: 30   # a trial checkpoints at most this often (and at its last epoch)
    scheduler:                  # `none` (default) or ASHA, one bracket set per method
      {type: asha, grace_period: 3, reduction_factor: 3}
    resources:                  # one trial = `workers` Ray Train workers
      {workers: 1, cpus_per_worker: 1.0, gpus_per_worker: 0.0}  # trials in parallel: all that fit
    base:                       # TrainConfig values shared by all methods
      {dataset: fashion_mnist, model: small_cnn, epochs: 15, lr: 0.05}
    methods:                    # name -> {fixed: TrainConfig values, space: distributions}
      sgd: {fixed: {perturbation: none}}
      sam:
        fixed: {perturbation: ascent}
        space:
          rho: {loguniform: [0.02, 0.5]}
          perturb_batch_size: {choice: [16, 32, 64, 128]}

Distributions: see `sweeps.study.distributions`. `num_workers` and `use_gpu` come from `resources`.

Example:
    >>> study = load_study("search_spaces/tiny.yaml")
    >>> study.name, study.metric, study.baseline, study.n_trials
    ('tiny', 'val_acc', 'sgd', 3)
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from samtrain.config import FIELD_NAMES, TrainConfig
from samtrain.strict_yaml import load_yaml, read_text
from samtrain.validation import ConfigError, first_error
from sweeps.errors import SpaceError
from sweeps.study.distributions import Dist, Fixed, parse_dist

__all__ = ["StudySpec", "MethodSpec", "Resources", "ASHA", "load_study", "parse_study",
           "NAME_PATTERN", "check_name", "check_method_name", "build_config", "build_train_config",
           "component_configs", "resource_values"]

METRICS = ("val_acc", "val_loss", "train_acc", "train_loss", "perturb_loss")
RESOURCE_KEYS = ("num_workers", "use_gpu")  # set from `resources`, never by hand
COMPONENT_KEYS = ("model", "dataset", "loss")  # each a builder: `samtrain.components`
RESERVED_METHODS = ("trial",)  # the key of a trial config (`sweeps.search.trial_config`)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_METHOD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.+-]{0,63}$")
_MAX_COMBOS = 4096  # above this, extremes are checked one key at a time only


def check_name(what: str, name: str) -> str:
    """A sweep or run name: letters, digits and `._-` (it becomes a directory and an experiment).

    >>> check_name("--name", "../../x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    sweeps.errors.SpaceError: --name: value '../../x' is invalid: use 1-100 letters, ...
    """
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise SpaceError(f"{what}: value {name!r} is invalid: use 1-100 letters, digits, '.', '_', "
                         "'-' (not starting with '.', '_' or '-')")
    return name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Resources(_Strict):
    """Per trial: `workers` Ray Train workers with these CPUs/GPUs each."""

    workers: int = Field(1, ge=1)
    cpus_per_worker: float = Field(1.0, gt=0)
    gpus_per_worker: float = Field(0.0, ge=0)
    max_concurrent_trials: int | None = Field(None, ge=1)  # None: as many as the cluster fits


class ASHA(_Strict):
    """ASHA early stopping on the epoch; each method's `max_t` is its configs' epochs."""

    type: Literal["asha"] = "asha"
    grace_period: int = Field(1, ge=1)
    reduction_factor: float = Field(3.0, gt=1)


class _MethodFile(_Strict):
    fixed: dict[str, Any] = {}
    space: dict[str, Any] = {}


class _StudyFile(_Strict):
    name: str | None = None
    metric: str = "val_acc"
    mode: Literal["max", "min"] = "max"
    budget: int = Field(1, ge=1)
    seed: int = 0
    confirm_seeds: int = Field(0, ge=0)
    baseline: str | None = None
    max_failures: int = Field(2, ge=0)
    checkpoint_interval_s: float = Field(30.0, ge=0)
    scheduler: Any = None
    resources: Resources = Resources()
    base: dict[str, Any] = {}
    methods: dict[str, _MethodFile | None]


@dataclass(frozen=True)
class MethodSpec:
    """One method: fixed TrainConfig values plus the distributions to sample."""

    fixed: dict[str, Any]
    space: dict[str, Dist]


@dataclass(frozen=True)
class StudySpec:
    """A validated study; `source_text` is the YAML as read, `source_sha256` its hash."""

    name: str
    metric: str
    mode: Literal["max", "min"]
    base: dict[str, Any]
    methods: dict[str, MethodSpec]
    budget: int
    scheduler: ASHA | None
    resources: Resources
    seed: int = 0
    confirm_seeds: int = 0
    baseline: str | None = None
    max_failures: int = 2
    checkpoint_interval_s: float = 30.0
    source_text: str = ""
    source_sha256: str = ""
    path: Path | None = field(default=None, compare=False)

    def trials_of(self, method: str) -> int:
        """Search trials of `method`: `budget`, or 1 when nothing is sampled (its runs would be
        identical; seeds are the confirm phase's job)."""
        sampled = any(not isinstance(d, Fixed) for d in self.methods[method].space.values())
        return self.budget if sampled else 1

    @property
    def n_trials(self) -> int:
        """Search-phase trials in total."""
        return sum(self.trials_of(m) for m in self.methods)


# ---------------------------------------------------------------- validation


_MODELS: dict[tuple[str, ...], type[BaseModel]] = {
    (): _StudyFile, ("resources",): Resources, ("scheduler",): ASHA}


def _pydantic_error(err: ValidationError, prefix: tuple[str, ...] = ()) -> SpaceError:
    loc, value, msg, kind = first_error(err)
    full = prefix + tuple(x for x in loc.split(".") if x)
    where = ".".join(full)
    if kind == "extra_forbidden":
        model = _MODELS.get(tuple(full[:-1]), _MethodFile)
        allowed = ", ".join(model.model_fields)
        return SpaceError(f"{where}: unknown key (value {value!r}); allowed: {allowed}")
    if kind == "missing":
        return SpaceError(f"{where}: required key is missing")
    return SpaceError(f"{where}: value {value!r} is invalid: {msg}")


def _scheduler(raw: Any) -> ASHA | None:
    if raw is None or raw == "none":
        return None
    if not isinstance(raw, dict):
        raise SpaceError(f"scheduler: value {raw!r} is invalid; allowed: none or "
                         "{type: asha, grace_period: N, reduction_factor: R}")
    try:
        return ASHA.model_validate(raw)
    except ValidationError as e:
        raise _pydantic_error(e, prefix=("scheduler",)) from None


def _check_keys(where: str, values: dict[str, Any]) -> None:
    for key, value in values.items():
        if key in RESOURCE_KEYS:
            raise SpaceError(f"{where}.{key}: value {value!r} cannot be set here; use "
                             "resources.workers / resources.gpus_per_worker")
        if key not in FIELD_NAMES:
            allowed = ", ".join(sorted(FIELD_NAMES - set(RESOURCE_KEYS)))
            raise SpaceError(f"{where}.{key}: unknown TrainConfig key (value {value!r}); "
                             f"allowed: {allowed}")


def resource_values(res: Resources) -> dict[str, Any]:
    """The `TrainConfig` values that `resources` sets."""
    return {"num_workers": res.workers, "use_gpu": res.gpus_per_worker > 0}


def build_config(where: str, values: dict[str, Any]) -> TrainConfig:
    """`TrainConfig.build`, its error prefixed with `where`."""
    try:
        return TrainConfig.build(values)
    except ConfigError as e:
        raise SpaceError(f"{where}: {e}") from None


def check_method_name(study: StudySpec, method: str) -> None:
    """Raise `SpaceError` unless `method` is one of the study's methods."""
    if method not in study.methods:
        raise SpaceError(f"method: value {method!r} is unknown; allowed: {', '.join(study.methods)}")


def build_train_config(study: StudySpec, method: str, sampled: dict[str, Any],
                       seed: int | None = None) -> TrainConfig:
    """`base` + the method's `fixed` + `sampled` (+ resources, + `seed` if given).

    >>> s = load_study("search_spaces/tiny.yaml")
    >>> cfg = build_train_config(s, "sam", {"rho": 0.1}, seed=3)
    >>> cfg.perturbation, cfg.rho, cfg.seed
    ('ascent', 0.1, 3)
    """
    check_method_name(study, method)
    m = study.methods[method]
    extra = sorted(set(sampled) - set(m.space))
    if extra:
        raise SpaceError(f"methods.{method}: sampled key {extra[0]!r} (value "
                         f"{sampled[extra[0]]!r}) is not in its space; allowed: "
                         f"{', '.join(m.space) or 'none'}")
    fixed_space = {k: d.value for k, d in m.space.items() if isinstance(d, Fixed)}
    values = {**study.base, **m.fixed, **fixed_space, **sampled, **resource_values(study.resources)}
    if seed is not None:
        values["seed"] = seed
    return build_config(f"methods.{method}", values)


def component_configs(study: StudySpec) -> list[TrainConfig]:
    """Each method's config, and one for every value its space gives `model`, `dataset` or `loss`:
    what `samtrain.component_check.check_components` tries before a sweep starts.

    >>> [c.model for c in component_configs(load_study("search_spaces/tiny.yaml"))]
    ['small_cnn', 'small_cnn']
    """
    out = []
    for method, m in study.methods.items():
        out.append(build_train_config(study, method, {}))
        for key, dist in m.space.items():
            if key in COMPONENT_KEYS and not isinstance(dist, Fixed):
                out += [build_train_config(study, method, {key: v}) for v in dist.extremes()]
    return out


def _check_method(name: str, m: MethodSpec, base: dict[str, Any]) -> list[TrainConfig]:
    """Build base+fixed with every extreme of the space; return the configs built."""
    where = f"methods.{name}"
    common = {**base, **m.fixed}
    built = [build_config(f"{where}.fixed", common)]
    axes = {k: d.extremes() for k, d in m.space.items()}
    for key, values in axes.items():  # one key at a time: names the culprit
        built += [build_config(f"{where}.space.{key}", {**common, key: v}) for v in values]
    n_combos = 1
    for values in axes.values():
        n_combos *= len(values)
    if len(axes) > 1 and n_combos <= _MAX_COMBOS:  # interactions (e.g. batch divisibility)
        for combo in itertools.product(*axes.values()):
            sampled = dict(zip(axes, combo, strict=True))
            try:
                built.append(TrainConfig.build({**common, **sampled}))
            except ConfigError as e:
                at = ", ".join(f"{k}={v!r}" for k, v in sampled.items())
                raise SpaceError(f"{where}.space: at {at}: {e}") from None
    return built


def _parse_method(name: Any, mf: _MethodFile | None, base: dict[str, Any]) -> MethodSpec:
    name = str(name)
    if not _METHOD_NAME.fullmatch(name) or name in RESERVED_METHODS:
        raise SpaceError(f"methods.{name}: method name {name!r} is invalid; use letters, digits, "
                         f"'_', '.', '+', '-' (starting with a letter), not "
                         f"{', '.join(RESERVED_METHODS)}")
    mf = mf or _MethodFile()
    _check_keys(f"methods.{name}.fixed", mf.fixed)
    _check_keys(f"methods.{name}.space", mf.space)
    both = sorted(set(mf.fixed) & set(mf.space))
    if both:
        raise SpaceError(f"methods.{name}.space.{both[0]}: also set in methods.{name}.fixed; "
                         "set it in one place")
    space = {k: parse_dist(f"methods.{name}.space.{k}", v) for k, v in mf.space.items()}
    return MethodSpec(fixed=dict(mf.fixed), space=space)


def _check_metric(metric: str) -> None:
    if metric.startswith("test_"):
        raise SpaceError(f"metric: value {metric!r} is a test-set metric; the test set never "
                         f"drives search, pruning or selection; allowed: {', '.join(METRICS)}")
    if metric not in METRICS:
        raise SpaceError(f"metric: value {metric!r} is unknown; allowed: {', '.join(METRICS)}")


def _baseline(f: _StudyFile, methods: dict[str, MethodSpec], base: dict[str, Any]) -> str | None:
    if f.baseline is not None:
        if f.baseline not in methods:
            raise SpaceError(f"baseline: value {f.baseline!r} is not a method; allowed: "
                             f"{', '.join(methods)}")
        return f.baseline
    plain = [m for m, spec in methods.items()
             if {**base, **spec.fixed}.get("perturbation", "ascent") == "none"]
    return plain[0] if plain else None


def _check_grace(asha: ASHA | None, configs: list[TrainConfig]) -> ASHA | None:
    if asha is None:
        return None
    max_t = max(c.epochs for c in configs)
    if asha.grace_period > max_t:
        raise SpaceError(f"scheduler.grace_period: value {asha.grace_period} is invalid: must be "
                         f"<= the epochs ({max_t})")
    return asha


def _study_file(text: str, source: str, budget: int | None, name: str | None) -> _StudyFile:
    try:
        raw = load_yaml(text, source)
    except ConfigError as e:
        raise SpaceError(str(e)) from None
    if not isinstance(raw, dict):
        raise SpaceError(f"{source}: the top level must be a mapping with `base` and `methods`")
    if budget is not None:
        raw["budget"] = budget
    if name is not None:
        raw["name"] = name
    try:
        return _StudyFile.model_validate(raw)
    except ValidationError as e:
        raise _pydantic_error(e) from None


def parse_study(text: str, source: str = "<string>", budget: int | None = None,
                name: str | None = None) -> StudySpec:
    """Validate YAML `text` (see the module docstring); `source` names it in messages."""
    f = _study_file(text, source, budget, name)
    default = Path(source).stem if source != "<string>" else "study"
    sweep_name = check_name("name", f.name if f.name is not None else default)
    asha = _scheduler(f.scheduler)
    _check_metric(f.metric)
    if not f.methods:
        raise SpaceError("methods: value {} is empty; list at least one method")
    _check_keys("base", f.base)
    base = {**f.base, **resource_values(f.resources)}
    build_config("base", base)
    methods, configs = {}, []
    for mname, mf in f.methods.items():
        methods[str(mname)] = _parse_method(mname, mf, base)
        configs += _check_method(str(mname), methods[str(mname)], base)
    return StudySpec(
        name=sweep_name, metric=f.metric, mode=f.mode, base=dict(f.base), methods=methods,
        budget=f.budget, scheduler=_check_grace(asha, configs), resources=f.resources, seed=f.seed,
        confirm_seeds=f.confirm_seeds, baseline=_baseline(f, methods, f.base),
        max_failures=f.max_failures, checkpoint_interval_s=f.checkpoint_interval_s, source_text=text,
        source_sha256=hashlib.sha256(text.encode()).hexdigest())


def load_study(path: str | Path, budget: int | None = None, name: str | None = None) -> StudySpec:
    """Read and validate a study file; `budget`/`name` override the file's values.

    Raises `SpaceError` (one line) on any problem, before anything is started.

    >>> load_study("search_spaces/tiny.yaml", budget=3).n_trials
    4
    """
    try:
        text = read_text(path, "study")
    except ConfigError as e:
        raise SpaceError(str(e)) from None
    spec = parse_study(text, source=str(path), budget=budget, name=name)
    object.__setattr__(spec, "path", Path(path))
    return spec
