"""How a study searches: its sampler and its early-stopping scheduler, as the study file says.

    sampler: tpe                   # or random | grid | qmc, or a mapping with options:
    sampler: {type: tpe, multivariate: true, group: true, constant_liar: null,
              n_startup_trials: null}
    scheduler: {type: asha, grace_period: null, reduction_factor: 3}   # one per method
    scheduler: {type: hyperband, grace_period: null, reduction_factor: 3, brackets: 3}
    scheduler: {type: median, grace_period: null, min_samples_required: 3}
    scheduler: none
    objectives:                    # a multi-objective search (Optuna's multi-objective TPE)
      - {metric: val_acc, mode: max}
      - {metric: device_seconds, mode: min}   # or grad_evals; no scheduler: nothing to prune

- `tpe`: Optuna's `TPESampler`, seeded; `multivariate` and `group` (on by default) model each
  method's conditional space as its own group; `constant_liar` (null: on when more than one
  trial runs at once) keeps parallel trials apart; `n_startup_trials` (null: each method's
  first `budget // 3` trials, 1 to 10) random trials before TPE models a method.
- `random`: Optuna's `RandomSampler`, seeded.
- `grid`: every point of each method's cartesian product of `choice` lists and explicit
  `values` lists (in an order shuffled with the study's seed), capped by `budget` if set.
- `qmc`: a scrambled Sobol sequence per method (`scipy.stats.qmc.Sobol`, seeded) mapped onto
  the method's distributions.
- Schedulers stop trials on `epoch`, one instance per method (a method is compared only with
  itself): `asha` is Ray's `ASHAScheduler`, `hyperband` Ray's `AsyncHyperBandScheduler`,
  `median` Ray's `MedianStoppingRule`. `grace_period: null` is a quarter of the method's epochs
  (at least 1). The defaults come from `benchmarks/search_efficiency.py` (README, "Search efficiency").

Example:
    >>> parse_sampler("random")
    Random(type='random')
    >>> parse_scheduler({"type": "asha"}).reduction_factor
    3.0
    >>> grace_period(parse_scheduler("asha"), max_t=40)
    10
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from samtrain.config.error_messages import first_error
from sweeps.errors import SpaceError

__all__ = ["TPE", "Random", "Grid", "QMC", "Sampler", "ASHA", "Hyperband", "Median",
           "Scheduler", "ObjectiveSpec", "parse_sampler", "parse_scheduler", "grace_period",
           "DEFAULT_REDUCTION_FACTOR", "DEFAULT_GRACE_FRACTION"]

DEFAULT_REDUCTION_FACTOR = 3.0  # benchmarks/search_efficiency.py: ASHA 10/3 at 40 epochs
DEFAULT_GRACE_FRACTION = 0.25  # of the method's epochs: no rung before a quarter of max_t


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TPE(Strict):
    type: Literal["tpe"] = "tpe"
    multivariate: bool = True
    group: bool = True
    constant_liar: bool | None = None       # None: on when trials run in parallel
    n_startup_trials: int | None = Field(None, ge=0)  # None: sized to the budget


class Random(Strict):
    type: Literal["random"] = "random"


class Grid(Strict):
    type: Literal["grid"] = "grid"


class QMC(Strict):
    type: Literal["qmc"] = "qmc"
    scramble: bool = True


Sampler = TPE | Random | Grid | QMC


class ASHA(Strict):
    type: Literal["asha"] = "asha"
    grace_period: int | None = Field(None, ge=1)
    reduction_factor: float = Field(DEFAULT_REDUCTION_FACTOR, gt=1)


class Hyperband(Strict):
    type: Literal["hyperband"] = "hyperband"
    grace_period: int | None = Field(None, ge=1)
    reduction_factor: float = Field(DEFAULT_REDUCTION_FACTOR, gt=1)
    brackets: int = Field(3, ge=1)


class Median(Strict):
    type: Literal["median"] = "median"
    grace_period: int | None = Field(None, ge=1)
    min_samples_required: int = Field(3, ge=1)


Scheduler = ASHA | Hyperband | Median


class ObjectiveSpec(Strict):
    """One objective of a multi-objective search: a metric and whether to maximise it."""

    metric: str
    mode: Literal["max", "min"]

_SAMPLERS: dict[str, type[Strict]] = {"tpe": TPE, "random": Random, "grid": Grid, "qmc": QMC}
_SCHEDULERS: dict[str, type[Strict]] = {"asha": ASHA, "hyperband": Hyperband, "median": Median}


def _validated(kinds: dict[str, type[Strict]], key: str, raw: Any, default: str | None) -> Any:
    """`raw` (a type name, or a mapping with `type` and options) as its model; one-line errors."""
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, dict):
        raise SpaceError(f"{key}: value {raw!r} is invalid; allowed: {' | '.join(kinds)} or a "
                         f"mapping {{type: ..., options}}")
    kind = raw.get("type", default)
    if kind not in kinds:
        raise SpaceError(f"{key}.type: value {kind!r} is unknown; allowed: {', '.join(kinds)}")
    model = kinds[kind]
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        loc, value, msg, error = first_error(e)
        if error == "extra_forbidden":
            raise SpaceError(f"{key}.{loc}: unknown key for type {kind} (value {value!r}); "
                             f"allowed: {', '.join(model.model_fields)}") from None
        raise SpaceError(f"{key}.{loc}: value {value!r} is invalid: {msg}") from None


def parse_sampler(raw: Any) -> Sampler:
    """The study's `sampler` (default: TPE with its defaults)."""
    return TPE() if raw is None else _validated(_SAMPLERS, "sampler", raw, None)


def parse_scheduler(raw: Any) -> Scheduler | None:
    """The study's `scheduler` (`none` or absent: None; a mapping without `type`: ASHA)."""
    if raw is None or raw == "none":
        return None
    return _validated(_SCHEDULERS, "scheduler", raw, "asha")


def grace_period(scheduler: Scheduler, max_t: int) -> int:
    """The scheduler's grace period for a method of `max_t` epochs (its default: a quarter)."""
    if scheduler.grace_period is not None:
        return scheduler.grace_period
    return max(1, round(DEFAULT_GRACE_FRACTION * max_t))


def check_start_points(where: str, points: list[dict[str, Any]], space: dict[str, Any]
                       ) -> tuple[dict[str, Any], ...]:
    """`start_from` of one method: each point sets only sampled keys, inside their ranges (keys
    it leaves out are sampled). `space` maps keys to distributions (`Fixed` for constants)."""
    from sweeps.study.distributions import Choice, Fixed, Float, Int

    sampled = {k: d for k, d in space.items() if not isinstance(d, Fixed)}
    for i, point in enumerate(points):
        for key, value in point.items():
            at = f"{where}.start_from[{i}].{key}"
            d = sampled.get(key)
            if d is None:
                raise SpaceError(f"{at}: value {value!r} is not a sampled key of the method; "
                                 f"allowed: {', '.join(sorted(sampled)) or 'none'}")
            if isinstance(d, Choice) and not any(value == c and type(value) is type(c)
                                                  for c in d.choices):
                raise SpaceError(f"{at}: value {value!r} is not one of its choices "
                                 f"{list(d.choices)!r}")
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if isinstance(d, Int) and not (isinstance(value, int) and number):
                raise SpaceError(f"{at}: value {value!r} is invalid: must be an integer in "
                                 f"[{d.low}, {d.high}]")
            if isinstance(d, Float | Int) and not (number and d.low <= value <= d.high):
                raise SpaceError(f"{at}: value {value!r} is invalid: must be in "
                                 f"[{d.low}, {d.high}]")
    return tuple(dict(p) for p in points)


def check_grid_values(where: str, sampler: Sampler, space: dict[str, Any]) -> None:
    """A grid needs every sampled key's points (`choice`, or `values` on a float or int);
    other samplers use no `values` list."""
    for key, d in space.items():
        values = getattr(d, "values", None)
        if isinstance(sampler, Grid) and d.grid_values() is None:
            raise SpaceError(f"{where}.{key}: sampler grid needs its points: add `values: [...]` "
                             "(or use choice)")
        if not isinstance(sampler, Grid) and values is not None:
            raise SpaceError(f"{where}.{key}.values: value {list(values)!r} is only used by "
                             f"sampler grid (this study's sampler: {sampler.type})")
