"""Search-space distributions: parsed from one YAML value each, sampled through Optuna.

YAML syntax of one entry of a method's `space` (the key is a `TrainConfig` field):

    rho: {loguniform: [0.01, 0.2]}          # float, log scale; 0 < low < high
    gsam_alpha: {uniform: [0.0, 0.5]}       # float, linear scale; low < high
    grad_accum_steps: {int: [1, 8], log: true}   # int in [low, high]; `log` optional
    perturb_batch_size: {choice: [16, 32, null]} # categorical: null/bool/int/float/str
    obf_C: 10                               # bare scalar: fixed value (same as {fixed: 10})
    rho: {loguniform: [0.01, 0.2], values: [0.01, 0.05, 0.2]}   # the grid's points (sampler: grid)

Every distribution has the points a grid takes (`grid_values`: a choice's choices, a float's or
int's explicit `values`) and a map from the unit interval (`from_unit`, for quasi-random
designs). Optuna names each parameter `"<method>/<key>"` (`sweeps.search.sampling`).

Example:
    >>> d = parse_dist("rho", {"loguniform": [0.01, 0.2]})
    >>> d.extremes(), round(d.from_unit(0.5), 6)
    ([0.01, 0.2], 0.044721)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import optuna

from sweeps.errors import SpaceError

ALLOWED = ("loguniform", "uniform", "int", "choice", "fixed")
_CHOICE_TYPES = (type(None), bool, int, float, str)


class Dist(Protocol):
    def suggest(self, trial: optuna.Trial, name: str) -> Any: ...
    def extremes(self) -> list[Any]: ...
    def grid_values(self) -> tuple[Any, ...] | None: ...
    def from_unit(self, u: float) -> Any: ...


@dataclass(frozen=True)
class Float:
    """A float in [low, high]; `log=True` samples on a log scale (the `loguniform` syntax);
    `values`: the points a grid takes (None: not gridded)."""

    low: float
    high: float
    log: bool = False
    values: tuple[float, ...] | None = None

    def suggest(self, trial: optuna.Trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def extremes(self) -> list[float]:
        return [self.low, self.high]

    def grid_values(self) -> tuple[float, ...] | None:
        return self.values

    def from_unit(self, u: float) -> float:
        if self.log:
            return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)


@dataclass(frozen=True)
class Int:
    """An int in [low, high] (inclusive), optionally on a log scale; `values` as `Float`'s."""

    low: int
    high: int
    log: bool = False
    values: tuple[int, ...] | None = None

    def suggest(self, trial: optuna.Trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, log=self.log)

    def extremes(self) -> list[int]:
        return [self.low, self.high]

    def grid_values(self) -> tuple[int, ...] | None:
        return self.values

    def from_unit(self, u: float) -> int:
        """Equal shares of [0, 1) for each integer (each log-width share, with `log`)."""
        if self.log:
            x = math.exp(math.log(self.low) + u * (math.log(self.high + 1) - math.log(self.low)))
        else:
            x = self.low + u * (self.high - self.low + 1)
        return min(self.high, max(self.low, math.floor(x)))


@dataclass(frozen=True)
class Choice:
    """One of a list of scalars (a categorical for TPE; a grid takes every one)."""

    choices: tuple[Any, ...]

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.choices))

    def extremes(self) -> list[Any]:
        return list(self.choices)

    def grid_values(self) -> tuple[Any, ...]:
        return self.choices

    def from_unit(self, u: float) -> Any:
        return self.choices[min(len(self.choices) - 1, math.floor(u * len(self.choices)))]


@dataclass(frozen=True)
class Fixed:
    """A constant; nothing is sampled."""

    value: Any

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        return self.value

    def extremes(self) -> list[Any]:
        return [self.value]

    def grid_values(self) -> tuple[Any, ...]:
        return (self.value,)

    def from_unit(self, u: float) -> Any:
        return self.value


def _number(where: str, name: str, v: Any, integer: bool = False) -> float | int:
    ok = isinstance(v, int) if integer else isinstance(v, (int, float))
    if isinstance(v, bool) or not ok or (not integer and not math.isfinite(v)):
        kind = "an integer" if integer else "a finite number"
        raise SpaceError(f"{where}: {name} bound {v!r} is not {kind}")
    return v


def _bounds(where: str, name: str, args: Any, integer: bool) -> tuple[Any, Any]:
    if not isinstance(args, (list, tuple)) or len(args) != 2:
        raise SpaceError(f"{where}: {name} needs [low, high], got {args!r}")
    low, high = (_number(where, name, a, integer) for a in args)
    if low >= high:
        raise SpaceError(f"{where}: {name} [{low}, {high}] needs low < high")
    return low, high


def _values(where: str, raw: Any, low: Any, high: Any, integer: bool) -> tuple[Any, ...] | None:
    """The explicit grid points of a float or int distribution, each inside its bounds."""
    if raw is None:
        return None
    if not isinstance(raw, (list, tuple)) or not raw:
        raise SpaceError(f"{where}.values: value {raw!r} is invalid: give a non-empty list of the "
                         "grid's points")
    kind = "an integer" if integer else "a finite number"
    for v in raw:
        ok = isinstance(v, int) if integer else isinstance(v, (int, float))
        if isinstance(v, bool) or not ok or (not integer and not math.isfinite(v)) \
                or not low <= v <= high:
            raise SpaceError(f"{where}.values: value {v!r} is invalid: must be {kind} in "
                             f"[{low}, {high}]")
    if len(set(raw)) != len(raw):
        raise SpaceError(f"{where}.values: value {list(raw)!r} has duplicates")
    return tuple(int(v) if integer else float(v) for v in raw)


def parse_dist(where: str, raw: Any) -> Dist:
    """Parse one space entry; `where` (e.g. `methods.sam.space.rho`) prefixes error messages.

    >>> parse_dist("x", {"choice": [16, 32]}).choices
    (16, 32)
    >>> parse_dist("x", {"uniform": [0, 1], "values": [0, 0.5, 1]}).grid_values()
    (0.0, 0.5, 1.0)
    """
    if not isinstance(raw, dict):
        if isinstance(raw, list):
            raise SpaceError(
                f"{where}: value {raw!r} is a bare list; write {{choice: {raw!r}}} to sample one "
                f"of them or {{fixed: {raw!r}}} for a constant list"
            )
        return Fixed(raw)
    names = [k for k in raw if k not in ("log", "values")]
    if len(names) != 1:
        raise SpaceError(
            f"{where}: value {raw!r} must have exactly one distribution key; "
            f"allowed: {', '.join(ALLOWED)} (plus `log: true` with int, `values: [...]` with "
            "loguniform, uniform and int)"
        )
    name = names[0]
    args = raw[name]
    log = raw.get("log", False)
    if name not in ALLOWED:
        raise SpaceError(
            f"{where}: distribution {name!r} is unknown; allowed: {', '.join(ALLOWED)}"
        )
    if "log" in raw and name != "int":
        raise SpaceError(f"{where}: `log` is only allowed with int (use loguniform for floats)")
    if "values" in raw and name not in ("loguniform", "uniform", "int"):
        raise SpaceError(f"{where}: `values` is only allowed with loguniform, uniform and int "
                         f"(a {name} lists its points itself)")
    if not isinstance(log, bool):
        raise SpaceError(f"{where}: log {log!r} must be true or false")
    if name == "fixed":
        return Fixed(args)
    if name == "choice":
        if not isinstance(args, (list, tuple)) or not args:
            raise SpaceError(f"{where}: choice {args!r} must be a non-empty list")
        bad = [c for c in args if not isinstance(c, _CHOICE_TYPES)]
        if bad:
            raise SpaceError(
                f"{where}: choice value {bad[0]!r} is not a scalar; allowed: null, bool, int, "
                "float, str"
            )
        if len({repr(c) for c in args}) != len(args):
            raise SpaceError(f"{where}: choice {list(args)!r} has duplicates")
        return Choice(tuple(args))
    if name == "int":
        low, high = _bounds(where, name, args, integer=True)
        if log and low < 1:
            raise SpaceError(f"{where}: int [{low}, {high}] with log: true needs low >= 1")
        return Int(low, high, log, _values(where, raw.get("values"), low, high, integer=True))
    low, high = _bounds(where, name, args, integer=False)
    if name == "loguniform" and low <= 0:
        raise SpaceError(f"{where}: loguniform [{low}, {high}] needs low > 0")
    return Float(float(low), float(high), log=name == "loguniform",
                 values=_values(where, raw.get("values"), low, high, integer=False))
