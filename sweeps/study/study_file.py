"""Study files: one YAML file -> a validated `StudySpec` (what to search, how, on what resources).

Format (only `methods` is required)::

    name: fashion_label_noise   # sweep / MLflow experiment name (default: the file's stem)
    metric: val_acc             # validation metric to optimise (default val_acc); never test_*
    mode: max                   # max | min (default max)
    budget: 4                   # search trials PER METHOD; every method that samples anything
                                # (own or shared space) gets exactly this many, the baseline and
                                # the equal-compute arms included; one that samples nothing: 1
                                # (a grid: every point, capped by `budget` if set)
    seed: 0                     # sampler seed (and the order of a grid)
    sampler: tpe                # tpe | random | grid | qmc (see `sweeps.study.strategy`)
    confirm_seeds: 5            # default --seeds of `sweep confirm` (default, or 0: 5); a seed sets
                                # `seed` and `data_seed` (see `sweeps.execution.confirm`)
    test: permutation           # the report's paired test: permutation (exact sign-flip) | t
    baseline: sgd               # method others are compared with (default: the one without a
                                # perturbation, if any)
    compute_matched: false      # add the baseline given each method's compute as a cap
                                # (`sgd_x2` searches epochs in [E, 2E]; `sweeps.study.compute`)
    max_failures: 2             # automatic retries of a trial whose process or node died
    checkpoint_interval_s: 30   # a trial checkpoints at most this often (and at its last epoch)
    scheduler:                  # `none` (default), asha, hyperband or median; one per method
      {type: asha, grace_period: 10, reduction_factor: 4}
    resources:                  # one trial = `workers` Ray Train workers
      {workers: 1, cpus_per_worker: 1.0, gpus_per_worker: 0.0}  # trials in parallel: all that fit
    base:                       # TrainConfig values shared by all methods
      {dataset: fashion_mnist, model: small_cnn, epochs: 15}
    shared_space:               # distributions searched by EVERY method, besides its own space
      lr: {loguniform: [0.01, 0.2]}           # (a key in both is an error)
      weight_decay: {loguniform: [1.0e-4, 2.0e-3]}
    methods:                    # name -> {fixed: TrainConfig values, space: distributions}
      sgd: {fixed: {perturbation: none}}
      sam:
        fixed: {perturbation: ascent}
        space:
          rho: {loguniform: [0.02, 0.5]}
          perturb_batch_size: {choice: [16, 32, 64, 128]}
        start_from:             # configs evaluated first (e.g. a paper's), part of the budget
          - {rho: 0.05, perturb_batch_size: 128}
    transfer:                   # `sweep transfer`: fine-tune every method's confirmed checkpoints
      target: {dataset: cifar100}  # on a target with one shared recipe (`sweeps.study.transfer_spec`)
      recipe: {epochs: 10, lr: 0.01, optimizer: sgd, perturbation: none}

Distributions: see `sweeps.study.distributions`; samplers and schedulers:
`sweeps.study.strategy`. `num_workers` and `use_gpu` come from `resources`.

Example:
    >>> study = load_study("search_spaces/tiny.yaml")
    >>> study.name, study.metric, study.baseline, study.n_trials
    ('tiny', 'val_acc', 'sgd', 3)
"""


from __future__ import annotations

import hashlib
import itertools
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from samtrain.config.error_messages import choice_hint, first_error
from samtrain.config.strict_yaml import load_yaml, read_text
from samtrain.config.suggest import did_you_mean
from samtrain.config.train_config import FIELD_NAMES, TrainConfig
from samtrain.errors import ConfigError
from sweeps.errors import SpaceError
from sweeps.study.compute import equal_compute_arms
from sweeps.study.distributions import Dist, Fixed, parse_dist
from sweeps.study.spec import (
    COSTS,
    DEFAULT_CONFIRM_SEEDS,
    MAX_COMBOS,
    MAX_GRID_POINTS,
    MAX_TRIALS,
    METHOD_NAME,
    METRICS,
    RESERVED_METHODS,
    RESOURCE_KEYS,
    MethodSpec,
    Resources,
    StudySpec,
    build_config,
    build_train_config,
    check_name,
    resource_values,
)
from sweeps.study.strategy import (
    Grid,
    ObjectiveSpec,
    Sampler,
    Scheduler,
    Strict,
    check_grid_values,
    check_start_points,
    parse_sampler,
    parse_scheduler,
)
from sweeps.study.transfer_spec import parse_transfer

__all__ = ["load_study", "parse_study"]


class _MethodFile(Strict):
    fixed: dict[str, Any] = {}
    space: dict[str, Any] = {}
    start_from: list[dict[str, Any]] = []


class _StudyFile(Strict):
    name: str | None = None
    metric: str = "val_acc"
    mode: Literal["max", "min"] = "max"
    budget: int | None = Field(None, ge=1)
    seed: int = 0
    sampler: Any = None
    confirm_seeds: int = Field(DEFAULT_CONFIRM_SEEDS, ge=0)  # 0 (older files): the default
    test: Literal["permutation", "t"] = "permutation"
    baseline: str | None = None
    compute_matched: bool = False
    objectives: list[ObjectiveSpec] | None = None
    max_failures: int = Field(2, ge=0)
    checkpoint_interval_s: float = Field(30.0, ge=0)
    scheduler: Any = None
    resources: Resources = Resources()
    base: dict[str, Any] = {}
    shared_space: dict[str, Any] = {}
    methods: dict[str, _MethodFile | None]
    transfer: dict[str, Any] | None = None  # `sweeps.study.transfer_spec`


_MODELS: dict[tuple[str, ...], type[BaseModel]] = {(): _StudyFile, ("resources",): Resources}
STUDY_FILE_KEYS: tuple[str, ...] = tuple(_StudyFile.model_fields)  # the top-level keys


def _pydantic_error(err: ValidationError, prefix: tuple[str, ...] = ()) -> SpaceError:
    loc, value, msg, kind = first_error(err)
    full = prefix + tuple(x for x in loc.split(".") if x)
    where = ".".join(full)
    if kind == "extra_forbidden":
        model = _MODELS.get(tuple(full[:-1]), _MethodFile)
        hint = did_you_mean(full[-1], model.model_fields)
        allowed = hint or f"allowed: {', '.join(model.model_fields)}"
        return SpaceError(f"{where}: unknown key (value {value!r}); {allowed}")
    if kind == "missing":
        return SpaceError(f"{where}: required key is missing")
    hint = choice_hint(where, value, msg, kind)
    return SpaceError(f"{where}: value {value!r} is invalid: {msg}{hint}")


def _check_keys(where: str, values: dict[str, Any]) -> None:
    for key, value in values.items():
        if key in RESOURCE_KEYS:
            raise SpaceError(f"{where}.{key}: value {value!r} cannot be set here; use "
                             "resources.workers / resources.gpus_per_worker")
        if key not in FIELD_NAMES:
            allowed = sorted(FIELD_NAMES - set(RESOURCE_KEYS))
            hint = did_you_mean(key, allowed) or f"allowed: {', '.join(allowed)}"
            raise SpaceError(f"{where}.{key}: unknown TrainConfig key (value {value!r}); {hint}")


def _check_method(name: str, m: MethodSpec, base: dict[str, Any]) -> list[TrainConfig]:
    """Build base+fixed with every extreme of the space, every start point and every grid
    point; return the configs built."""
    where = f"methods.{name}"
    common = {**base, **m.fixed}
    built = [build_config(f"{where}.fixed", common)]
    fixed_space = {k: d.value for k, d in m.space.items() if isinstance(d, Fixed)}
    for i, point in enumerate(m.start_from):
        built.append(build_config(f"{where}.start_from[{i}]", {**common, **fixed_space, **point}))
    axes = {k: d.extremes() for k, d in m.space.items()}
    for key, values in axes.items():  # one key at a time: names the culprit
        built += [build_config(f"{where}.space.{key}", {**common, key: v}) for v in values]
    n_combos = 1
    for values in axes.values():
        n_combos *= len(values)
    if len(axes) > 1 and n_combos <= MAX_COMBOS:  # interactions (e.g. batch divisibility)
        for combo in itertools.product(*axes.values()):
            sampled = dict(zip(axes, combo, strict=True))
            try:
                built.append(TrainConfig.build({**common, **sampled}))
            except ConfigError as e:
                at = ", ".join(f"{k}={v!r}" for k, v in sampled.items())
                raise SpaceError(f"{where}.space: at {at}: {e}") from None
    return built


def _parse_shared(raw: dict[str, Any], sampler: Sampler) -> dict[str, Dist]:
    """`shared_space`: distributions every method searches (same syntax as a method's space)."""
    _check_keys("shared_space", raw)
    shared = {k: parse_dist(f"shared_space.{k}", v) for k, v in raw.items()}
    check_grid_values("shared_space", sampler, shared)
    return shared


def _check_not_shared(name: str, mf: _MethodFile, shared: dict[str, Dist]) -> None:
    for part in ("fixed", "space"):
        both = sorted(set(getattr(mf, part)) & set(shared))
        if both:
            raise SpaceError(f"methods.{name}.{part}.{both[0]}: value "
                             f"{getattr(mf, part)[both[0]]!r} is invalid: {both[0]!r} is in "
                             "shared_space, which every method searches; set it in one place")


def _parse_method(name: Any, mf: _MethodFile | None, sampler: Sampler,
                  shared: dict[str, Dist]) -> MethodSpec:
    name = str(name)
    if not METHOD_NAME.fullmatch(name) or name in RESERVED_METHODS:
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
    _check_not_shared(name, mf, shared)
    own = {k: parse_dist(f"methods.{name}.space.{k}", v) for k, v in mf.space.items()}
    check_grid_values(f"methods.{name}.space", sampler, own)
    space = {**shared, **own}
    if mf.start_from and isinstance(sampler, Grid):
        raise SpaceError(f"methods.{name}.start_from: value {mf.start_from!r} is invalid: a grid "
                         "runs every point; start_from is for samplers tpe, random and qmc")
    start = check_start_points(f"methods.{name}", mf.start_from, space)
    return MethodSpec(fixed=dict(mf.fixed), space=space, start_from=start)


def _objectives(f: _StudyFile, scheduler: Scheduler | None) -> tuple[str, Any]:
    """The study's (metric, mode): the file's, or its first objective's in a multi-objective
    search, which takes no scheduler (Optuna's multi-objective TPE gets no intermediate values)."""
    if f.objectives is None:
        return f.metric, f.mode
    if len(f.objectives) < 2:
        raise SpaceError(f"objectives: value {[o.model_dump() for o in f.objectives]!r} is "
                         "invalid: give two or more (for one, use `metric` and `mode`)")
    allowed = METRICS + COSTS
    for i, o in enumerate(f.objectives):
        if o.metric.startswith("test_"):
            raise SpaceError(f"objectives[{i}].metric: value {o.metric!r} is a test-set metric; "
                             "the test set never drives search, pruning or selection; allowed: "
                             f"{', '.join(allowed)}")
        if o.metric not in allowed:
            raise SpaceError(f"objectives[{i}].metric: value {o.metric!r} is unknown; allowed: "
                             f"{', '.join(allowed)}")
    first = f.objectives[0]
    for key, value in (("metric", first.metric), ("mode", first.mode)):
        if key in f.model_fields_set and getattr(f, key) != value:
            raise SpaceError(f"{key}: value {getattr(f, key)!r} differs from the first objective's "
                             f"{value!r}; omit it (the first objective selects)")
    if scheduler is not None:
        raise SpaceError(f"scheduler: value {scheduler.type!r} cannot stop trials of a "
                         "multi-objective search (Optuna's multi-objective TPE takes no "
                         "intermediate values); set scheduler: none")
    return first.metric, first.mode


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


def _check_grace(scheduler: Scheduler | None, configs: list[TrainConfig]) -> Scheduler | None:
    if scheduler is None or scheduler.grace_period is None:
        return scheduler
    max_t = max(c.epochs for c in configs)
    if scheduler.grace_period > max_t:
        raise SpaceError(f"scheduler.grace_period: value {scheduler.grace_period} is invalid: "
                         f"must be <= the epochs ({max_t})")
    return scheduler


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
    scheduler, sampler = parse_scheduler(f.scheduler), parse_sampler(f.sampler)
    metric, mode = _objectives(f, scheduler)
    _check_metric(metric)
    if not f.methods:
        raise SpaceError("methods: value {} is empty; list at least one method")
    _check_keys("base", f.base)
    base = {**f.base, **resource_values(f.resources)}
    build_config("base", base)
    shared = _parse_shared(f.shared_space, sampler)
    methods, configs = {}, []
    for mname, mf in f.methods.items():
        methods[str(mname)] = _parse_method(mname, mf, sampler, shared)
        configs += _check_method(str(mname), methods[str(mname)], base)
    baseline = _baseline(f, methods, f.base)
    matched, arms = (equal_compute_arms(methods, base, baseline, sampler) if f.compute_matched
                     else ({}, {}))
    for arm in arms:
        configs += _check_method(arm, methods[arm], base)
    study = StudySpec(
        name=sweep_name, metric=metric, mode=mode, base=dict(f.base), methods=methods,
        objectives=tuple(f.objectives or ()),
        budget=f.budget, scheduler=_check_grace(scheduler, configs), resources=f.resources,
        seed=f.seed, sampler=sampler,
        confirm_seeds=f.confirm_seeds or DEFAULT_CONFIRM_SEEDS, test=f.test, baseline=baseline,
        matched=matched, arms=arms, shared_space=shared,
        max_failures=f.max_failures, checkpoint_interval_s=f.checkpoint_interval_s, source_text=text,
        transfer=None if f.transfer is None else parse_transfer(f.transfer, f.base,
                                                                 resource_values(f.resources)),
        source_sha256=hashlib.sha256(text.encode()).hexdigest())
    _check_plan(study)
    return study


def _check_size(study: StudySpec) -> None:
    """A grid or a budget of absurd size is refused before anything lists its trials."""
    for name, m in study.methods.items():
        if isinstance(study.sampler, Grid) and m.grid_size() > MAX_GRID_POINTS:
            raise SpaceError(f"methods.{name}.space: its grid has {m.grid_size():,} points; at "
                             f"most {MAX_GRID_POINTS:,} are allowed (fewer `values`, or another "
                             "sampler)")
    total = sum(study.trials_of(m) for m in study.methods)
    if total > MAX_TRIALS:
        raise SpaceError(f"budget: value {study.budget} gives {total:,} search trials; at most "
                         f"{MAX_TRIALS:,} are allowed")


def _check_plan(study: StudySpec) -> None:
    """Sizes are sane; start points fit in each method's trials; every grid point builds a
    config."""
    _check_size(study)
    for name, m in study.methods.items():
        if len(m.start_from) > study.trials_of(name):
            raise SpaceError(f"methods.{name}.start_from: {len(m.start_from)} configs but the "
                             f"method runs {study.trials_of(name)} trial(s); raise `budget`")
        if isinstance(study.sampler, Grid):
            for point in m.grid()[:MAX_COMBOS]:
                at = ", ".join(f"{k}={v!r}" for k, v in point.items())
                try:
                    build_train_config(study, name, point)
                except SpaceError as e:
                    raise SpaceError(f"methods.{name}.space: grid point {at}: "
                                     f"{str(e).split(': ', 1)[1]}") from None


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
