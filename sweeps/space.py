"""Search-space files: one YAML study -> a validated `StudySpec`, sampled per method by Optuna.

Format (only `methods` is required)::

    name: fashion_label_noise   # sweep / MLflow experiment name (default: the file's stem)
    metric: val_acc             # per-epoch metric to optimise (default val_acc)
    mode: max                   # max | min (default max)
    budget: 4                   # trials PER METHOD; every method gets exactly this many
    seed: 0                     # Optuna sampler seed
    confirm_seeds: 3            # re-runs of each method's best config (0 = no confirm phase)
    scheduler:                  # `none` (default) or ASHA; max_t = the configs' epochs
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

Distributions (see `sweeps.distributions`): `{loguniform: [lo, hi]}`, `{uniform: [lo, hi]}`,
`{int: [lo, hi]}` (optional `log: true`), `{choice: [a, b, ...]}`, a bare scalar (fixed).
`num_workers` and `use_gpu` come from `resources`, not from `base`/`fixed`/`space`.

Optuna: trial `k` of the study runs method `method_schedule(study)[k]`: `budget` trials of each
method, round-robin (1 for a method with nothing to sample, whose runs would be identical); parameters
are named `"<method>/<key>"`, so TPE models each method's space separately.

Example:
    >>> study = load_study("search_spaces/tiny.yaml")
    >>> method_schedule(study)
    ['sgd', 'sam', 'sam']
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import optuna
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from samtrain.config import FIELD_NAMES, ConfigError, TrainConfig
from sweeps.distributions import Dist, Fixed, SpaceError, parse_dist

__all__ = [
    "SpaceError", "StudySpec", "MethodSpec", "Resources", "ASHA", "load_study", "parse_study",
    "suggest_config", "define_by_run", "method_schedule", "build_train_config",
]

METRICS = ("val_acc", "val_loss", "train_acc", "train_loss", "perturb_loss", "test_acc",
           "test_loss")
RESOURCE_KEYS = ("num_workers", "use_gpu")  # set from `resources`, never by hand
RESERVED_METHODS = ("method", "params")  # keys of the define-by-run result
_METHOD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.+-]*$")
_MAX_COMBOS = 4096  # above this, extremes are checked one key at a time only


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Resources(_Strict):
    """Per trial: `workers` Ray Train workers with these CPUs/GPUs each."""

    workers: int = Field(1, ge=1)
    cpus_per_worker: float = Field(1.0, gt=0)
    gpus_per_worker: float = Field(0.0, ge=0)
    max_concurrent_trials: int | None = Field(None, ge=1)  # None: as many as the cluster fits


class ASHA(_Strict):
    """ASHA early stopping on `time_attr="epoch"`; `max_t` is filled from the configs' epochs."""

    type: Literal["asha"] = "asha"
    grace_period: int = Field(1, ge=1)
    reduction_factor: float = Field(3.0, gt=1)
    max_t: int | None = None
    time_attr: Literal["epoch"] = "epoch"


class _MethodFile(_Strict):
    fixed: dict[str, Any] = {}
    space: dict[str, Any] = {}


class _StudyFile(_Strict):
    name: str | None = Field(None, min_length=1)
    metric: str = "val_acc"
    mode: Literal["max", "min"] = "max"
    budget: int = Field(1, ge=1)
    seed: int = 0
    confirm_seeds: int = Field(0, ge=0)
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


# ---------------------------------------------------------------- loading and validation


def _pydantic_error(err: ValidationError, prefix: tuple[str, ...] = ()) -> SpaceError:
    e = err.errors()[0]
    full = prefix + tuple(e["loc"])
    loc = ".".join(str(x) for x in full)
    if e["type"] == "extra_forbidden":
        parent = full[:-1]
        model: type[BaseModel] = {
            (): _StudyFile, ("resources",): Resources, ("scheduler",): ASHA,
        }.get(tuple(parent), _MethodFile)
        allowed = ", ".join(k for k in model.model_fields if k not in ("max_t", "time_attr"))
        return SpaceError(f"{loc}: unknown key (value {e['input']!r}); allowed: {allowed}")
    if e["type"] == "missing":
        return SpaceError(f"{loc}: required key is missing")
    return SpaceError(f"{loc}: value {e.get('input')!r} is invalid: {e['msg']}")


def _scheduler(raw: Any) -> ASHA | None:
    if raw is None or raw == "none":
        return None
    if not isinstance(raw, dict):
        raise SpaceError(
            f"scheduler: value {raw!r} is invalid; allowed: none or "
            "{type: asha, grace_period: N, reduction_factor: R}"
        )
    try:
        asha = ASHA.model_validate(raw)
    except ValidationError as e:
        raise _pydantic_error(e, prefix=("scheduler",)) from None
    if asha.max_t is not None:
        raise SpaceError(f"scheduler.max_t: value {asha.max_t!r} cannot be set; it is the epochs")
    return asha


def _check_keys(where: str, values: dict[str, Any]) -> None:
    for key, value in values.items():
        if key in RESOURCE_KEYS:
            raise SpaceError(
                f"{where}.{key}: value {value!r} cannot be set here; use resources.workers / "
                "resources.gpus_per_worker"
            )
        if key not in FIELD_NAMES:
            allowed = ", ".join(sorted(FIELD_NAMES - set(RESOURCE_KEYS)))
            raise SpaceError(
                f"{where}.{key}: unknown TrainConfig key (value {value!r}); allowed: {allowed}"
            )


def _resource_values(res: Resources) -> dict[str, Any]:
    return {"num_workers": res.workers, "use_gpu": res.gpus_per_worker > 0}


def _build(where: str, values: dict[str, Any]) -> TrainConfig:
    try:
        return TrainConfig.build(values)
    except ConfigError as e:
        raise SpaceError(f"{where}: {e}") from None


def _check_method(name: str, m: MethodSpec, base: dict[str, Any]) -> list[TrainConfig]:
    """Build base+fixed with every extreme of the space; return the configs built."""
    where = f"methods.{name}"
    common = {**base, **m.fixed}
    built = [_build(f"{where}.fixed", common)]
    axes = {k: d.extremes() for k, d in m.space.items()}
    for key, values in axes.items():  # one key at a time: names the culprit
        for v in values:
            cfg = _build(f"{where}.space.{key}", {**common, key: v})
            built.append(cfg)
    n_combos = 1
    for values in axes.values():
        n_combos *= len(values)
    if len(axes) > 1 and n_combos <= _MAX_COMBOS:  # interactions (e.g. batch divisibility)
        keys = list(axes)
        for combo in itertools.product(*axes.values()):
            sampled = dict(zip(keys, combo, strict=True))
            try:
                built.append(TrainConfig.build({**common, **sampled}))
            except ConfigError as e:
                at = ", ".join(f"{k}={v!r}" for k, v in sampled.items())
                raise SpaceError(f"{where}.space: at {at}: {e}") from None
    return built


def parse_study(text: str, source: str = "<string>", budget: int | None = None,
                name: str | None = None) -> StudySpec:
    """Validate YAML `text` (see the module docstring); `source` names it in messages."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SpaceError(f"{source}: not valid YAML: {' '.join(str(e).split())}") from None
    if not isinstance(raw, dict):
        raise SpaceError(f"{source}: the top level must be a mapping with `base` and `methods`")
    if budget is not None:
        raw["budget"] = budget
    if name is not None:
        raw["name"] = name
    try:
        f = _StudyFile.model_validate(raw)
    except ValidationError as e:
        raise _pydantic_error(e) from None
    asha = _scheduler(f.scheduler)
    if f.metric not in METRICS:
        raise SpaceError(f"metric: value {f.metric!r} is unknown; allowed: {', '.join(METRICS)}")
    if not f.methods:
        raise SpaceError("methods: value {} is empty; list at least one method")
    _check_keys("base", f.base)
    res_values = _resource_values(f.resources)
    base = {**f.base, **res_values}
    _build("base", base)
    methods: dict[str, MethodSpec] = {}
    configs: list[TrainConfig] = []
    for mname, mf in f.methods.items():
        mname = str(mname)
        if not _METHOD_NAME.match(mname) or mname in RESERVED_METHODS:
            raise SpaceError(
                f"methods.{mname}: method name {mname!r} is invalid; use letters, digits, "
                f"'_', '.', '+', '-' (starting with a letter), not {', '.join(RESERVED_METHODS)}"
            )
        mf = mf or _MethodFile()
        _check_keys(f"methods.{mname}.fixed", mf.fixed)
        _check_keys(f"methods.{mname}.space", mf.space)
        both = sorted(set(mf.fixed) & set(mf.space))
        if both:
            raise SpaceError(
                f"methods.{mname}.space.{both[0]}: also set in methods.{mname}.fixed; "
                "set it in one place"
            )
        space = {k: parse_dist(f"methods.{mname}.space.{k}", v) for k, v in mf.space.items()}
        methods[mname] = MethodSpec(fixed=dict(mf.fixed), space=space)
        configs += _check_method(mname, methods[mname], base)
    scheduler = None
    if asha is not None:
        max_t = max(c.epochs for c in configs)
        if asha.grace_period > max_t:
            raise SpaceError(
                f"scheduler.grace_period: value {asha.grace_period} is invalid: must be "
                f"<= the epochs ({max_t})"
            )
        scheduler = asha.model_copy(update={"max_t": max_t})
    return StudySpec(
        name=f.name or Path(source).stem, metric=f.metric, mode=f.mode, base=dict(f.base),
        methods=methods, budget=f.budget, scheduler=scheduler, resources=f.resources,
        seed=f.seed, confirm_seeds=f.confirm_seeds, source_text=text,
        source_sha256=hashlib.sha256(text.encode()).hexdigest(),
    )


def load_study(path: str | Path, budget: int | None = None, name: str | None = None) -> StudySpec:
    """Read and validate a search-space file; `budget`/`name` override the file's values.

    Raises `SpaceError` (one line) on any problem, before anything is started.

    >>> load_study("search_spaces/tiny.yaml", budget=3).n_trials
    4
    """
    p = Path(path)
    if not p.is_file():
        raise SpaceError(f"search space: file {str(p)!r} does not exist")
    spec = parse_study(p.read_text(), source=str(p), budget=budget, name=name)
    object.__setattr__(spec, "path", p)
    return spec


# ---------------------------------------------------------------- sampling


def _check_method_name(study: StudySpec, method: str) -> None:
    if method not in study.methods:
        allowed = ", ".join(study.methods)
        raise SpaceError(f"method: value {method!r} is unknown; allowed: {allowed}")


def method_schedule(study: StudySpec) -> list[str]:
    """The method of each search trial, round-robin; `study.trials_of(m)` of each method.

    >>> method_schedule(parse_study("budget: 2\\nmethods: {a: {}, b: {space: {rho: {uniform: [0, 1]}}}}"))
    ['a', 'b', 'b']
    """
    left = {m: study.trials_of(m) for m in study.methods}
    order: list[str] = []
    while any(left.values()):
        for m in study.methods:
            if left[m]:
                order.append(m)
                left[m] -= 1
    return order


def suggest_config(trial: optuna.Trial, study: StudySpec, method: str) -> dict[str, Any]:
    """Sample `method`'s space; Optuna names are `"<method>/<key>"`, the result uses plain keys.

    >>> trial = optuna.create_study().ask()
    >>> sorted(suggest_config(trial, load_study("search_spaces/tiny.yaml"), "sam"))
    ['rho']
    """
    _check_method_name(study, method)
    return {k: d.suggest(trial, f"{method}/{k}") for k, d in study.methods[method].space.items()}


def define_by_run(study: StudySpec) -> Callable[[optuna.Trial], dict[str, Any]]:
    """A define-by-run function for `OptunaSearch(space=...)` or `optuna.Study.optimize`.

    Trial number `k` gets method `method_schedule(study)[k]` (Optuna numbers trials 0, 1, 2, ...
    in ask order), so `study.n_trials` trials give exactly `study.trials_of(m)` per method. It returns
    `{"method": name, "params": {key: value}}` with plain TrainConfig keys (fixed entries of the
    space included); feed that to `build_train_config(study, r["method"], r["params"])`. Under
    Ray, the trial config also holds `{name: {key: value}}` (Ray unflattens the captured
    `"name/key"` suggestions): ignore it. The method is also stored as the user attr "method".
    """
    return functools.partial(_round_robin_space, study)


def _round_robin_space(study: StudySpec, trial: optuna.Trial) -> dict[str, Any]:
    """The define-by-run function (module level, so Tune can pickle the searcher's state)."""
    schedule = method_schedule(study)
    method = schedule[schedule_index(trial) % len(schedule)]
    trial.set_user_attr("method", method)
    return {"method": method, "params": suggest_config(trial, study, method)}


ORPHAN = "orphan"  # user attr of trials a crashed driver started but the resumed sweep never ran


def schedule_index(trial: optuna.Trial) -> int:
    """The trial's position in the method schedule: earlier trials, orphans not counted."""
    earlier = trial.study.get_trials(deepcopy=False)
    return sum(1 for t in earlier if t.number < trial.number and not t.user_attrs.get(ORPHAN))


def build_train_config(study: StudySpec, method: str, sampled: dict[str, Any],
                       seed: int | None = None) -> TrainConfig:
    """`base` + the method's `fixed` + `sampled` (+ resources, + `seed` if given).

    >>> s = load_study("search_spaces/tiny.yaml")
    >>> cfg = build_train_config(s, "sam", {"rho": 0.1}, seed=3)
    >>> cfg.perturbation, cfg.rho, cfg.seed
    ('ascent', 0.1, 3)
    """
    _check_method_name(study, method)
    m = study.methods[method]
    extra = sorted(set(sampled) - set(m.space))
    if extra:
        raise SpaceError(
            f"methods.{method}: sampled key {extra[0]!r} (value {sampled[extra[0]]!r}) is not in "
            f"its space; allowed: {', '.join(m.space) or 'none'}"
        )
    fixed_space = {k: d.value for k, d in m.space.items() if isinstance(d, Fixed)}
    values = {**study.base, **m.fixed, **fixed_space, **sampled,
              **_resource_values(study.resources)}
    if seed is not None:
        values["seed"] = seed
    return _build(f"methods.{method}", values)
