"""A validated study (`StudySpec`) and the `TrainConfig` each of its methods' samples builds.

A study file is read into a `StudySpec` by `sweeps.study.study_file` (its format is
documented there). `num_workers` and `use_gpu` come from `resources`.

Example:
    >>> from sweeps.study.study_file import load_study
    >>> study = load_study("search_spaces/tiny.yaml")
    >>> study.name, study.metric, study.baseline, study.n_trials
    ('tiny', 'val_acc', 'sgd', 3)
    >>> build_train_config(study, "sam", {"rho": 0.1}, seed=3).rho
    0.1
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from samtrain.config.train_config import TrainConfig
from samtrain.errors import ConfigError
from sweeps.errors import SpaceError
from sweeps.study.distributions import Dist, Fixed
from sweeps.study.strategy import (
    Grid,
    ObjectiveSpec,
    Sampler,
    Scheduler,
    Strict,
    parse_sampler,
)
from sweeps.study.transfer_spec import TransferSpec

__all__ = ["StudySpec", "MethodSpec", "Resources", "NAME_PATTERN", "METRICS", "COSTS",
           "DEFAULT_CONFIRM_SEEDS", "check_name",
           "check_method_name", "build_config", "build_train_config", "component_configs",
           "resource_values"]

METRICS = ("val_acc", "val_loss", "train_acc", "train_loss", "perturb_loss")
COSTS = ("grad_evals", "device_seconds")  # what a run spends: objectives of a trade-off
RESOURCE_KEYS = ("num_workers", "use_gpu")  # set from `resources`, never by hand
COMPONENT_KEYS = ("model", "dataset", "loss")  # each a builder: `samtrain.config.registry`
RESERVED_METHODS = ("trial",)  # the key of a trial config (`sweeps.search.trial_config`)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
METHOD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.+-]{0,63}$")
MAX_COMBOS = 4096  # above this, extremes are checked one key at a time only
DEFAULT_CONFIRM_SEEDS = 5  # `sweep confirm`'s seeds unless the study or --seeds says
MAX_TRIALS = 100_000  # search trials a sweep may plan in all (a bigger one is a typo, not a plan)
MAX_GRID_POINTS = 1_000_000  # points of one method's grid (the plan lists and shuffles them)


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


class Resources(Strict):
    """Per trial: `workers` Ray Train workers with these CPUs/GPUs each."""

    workers: int = Field(1, ge=1)
    cpus_per_worker: float = Field(1.0, gt=0)
    gpus_per_worker: float = Field(0.0, ge=0)
    max_concurrent_trials: int | None = Field(None, ge=1)  # None: as many as the cluster fits


@dataclass(frozen=True)
class MethodSpec:
    """One method: fixed TrainConfig values, the distributions to sample (the study's
    `shared_space` included), and the configs (values of sampled keys) to evaluate first;
    `warmup_fraction` (equal-compute arms): `warmup_epochs` is this fraction of its epochs."""

    fixed: dict[str, Any]
    space: dict[str, Dist]
    start_from: tuple[dict[str, Any], ...] = ()
    warmup_fraction: float | None = None

    @property
    def sampled(self) -> dict[str, Dist]:
        """The distributions that sample something (not `Fixed`)."""
        return {k: d for k, d in self.space.items() if not isinstance(d, Fixed)}

    def grid_size(self) -> int:
        """How many points `grid()` has, counted without listing them."""
        return math.prod(len(self.sampled[k].grid_values() or ()) for k in self.sampled)

    def grid(self) -> list[dict[str, Any]]:
        """The cartesian product of the sampled keys' grid values (one empty point if none)."""
        keys = sorted(self.sampled)
        values = [self.sampled[k].grid_values() or () for k in keys]
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


@dataclass(frozen=True)
class StudySpec:
    """A validated study; `source_text` is the YAML as read, `source_sha256` its hash."""

    name: str
    metric: str
    mode: Literal["max", "min"]
    base: dict[str, Any]
    methods: dict[str, MethodSpec]
    budget: int | None
    scheduler: Scheduler | None
    resources: Resources
    seed: int = 0
    sampler: Sampler = field(default_factory=lambda: parse_sampler(None))
    objectives: tuple[ObjectiveSpec, ...] = ()  # a multi-objective search (the first: metric)
    confirm_seeds: int = DEFAULT_CONFIRM_SEEDS
    test: Literal["permutation", "t"] = "permutation"  # paired test of the report's comparisons
    baseline: str | None = None
    max_failures: int = 2
    checkpoint_interval_s: float = 30.0
    source_text: str = ""
    source_sha256: str = ""
    path: Path | None = field(default=None, compare=False)
    matched: dict[str, str] = field(default_factory=dict)  # method -> its equal-compute arm
    arms: dict[str, float] = field(default_factory=dict)   # equal-compute arm -> its factor
    shared_space: dict[str, Dist] = field(default_factory=dict)  # searched by every method
    transfer: TransferSpec | None = None  # `sweep transfer`: target and recipe

    def trials_of(self, method: str) -> int:
        """Search trials of `method`: `budget` (default 1) for every method that samples
        anything (its own space or the shared one); 1 when nothing is sampled (its runs would be
        identical; seeds are the confirm phase's job); a grid's size (capped by `budget`)."""
        m = self.methods[method]
        if not m.sampled:
            return 1
        if isinstance(self.sampler, Grid):
            size = m.grid_size()
            return min(size, self.budget) if self.budget else size
        return self.budget or 1

    @property
    def n_trials(self) -> int:
        """Search-phase trials in total."""
        return sum(self.trials_of(m) for m in self.methods)

    @property
    def trial_counts(self) -> dict[str, int]:
        """Search trials of each method (the tuning budget a report shows)."""
        return {m: self.trials_of(m) for m in self.methods}

    @property
    def equal_budgets(self) -> bool:
        """Whether every method gets the same number of search trials."""
        return len(set(self.trial_counts.values())) <= 1

    def max_epochs(self, method: str) -> int:
        """The most epochs a trial of `method` trains (an equal-compute arm searches them)."""
        dist = self.methods[method].sampled.get("epochs")
        if dist is not None:
            return max(dist.extremes())
        return build_train_config(self, method, {}).epochs


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

    >>> from sweeps.study.study_file import load_study
    >>> cfg = build_train_config(load_study("search_spaces/tiny.yaml"), "sam", {"rho": 0.1}, seed=3)
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
    if m.warmup_fraction is not None:  # an equal-compute arm: warmup scales with its epochs
        values["warmup_epochs"] = m.warmup_fraction * values["epochs"]
    if seed is not None:
        values["seed"] = seed
    return build_config(f"methods.{method}", values)


def component_configs(study: StudySpec) -> list[TrainConfig]:
    """Each method's config, and one for every value its space gives `model`, `dataset` or `loss`:
    what `samtrain.engine.preflight.check_components` tries before a sweep starts.

    >>> from sweeps.study.study_file import load_study
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
