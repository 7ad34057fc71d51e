"""Granulated Kendall τ (Jiang et al. 2019, "Fantastic generalization measures", arXiv 1912.02178,
§ "granulated Kendall's coefficient"): does a diagnostic track generalization when only one
hyperparameter changes?

For each hyperparameter axis i (a key some method searches), runs are grouped by everything
else that defines their config: the method and the values of its other searched keys. Within a
group, the runs that share a value of axis i (a config's seeds) are averaged into one point
(mean diagnostic, mean target), so τ-b compares only configs that differ in axis i, as on the
grid of Jiang et al., where each config is one model. ψ_i is the mean τ-b (diagnostic vs
target) over the groups that vary axis i (at least 2 distinct values of it among runs with both
values finite, and a defined τ-b); Ψ is the mean of ψ_i over the axes that have one; `pairs`
counts the pairs of configs compared. Seeds are not an axis.

"Held fixed" means equal: a granulated τ needs configs that agree exactly on every other
searched key, which only a grid design gives (`sampler: grid` over the keys of each method; see
docs/analysis.md). Continuous keys are never binned (a bin a factor ~3 wide holds nothing fixed),
so with any other sampler (TPE, random, QMC: sampled keys never repeat) the granulated τ is not
available and `structure_note` says so. Where no group varies an axis, ψ_i is undefined; where
no axis has one, Ψ is NaN and `why` says so; nothing is filled in.

Interval: a stratified percentile bootstrap (`sweeps.results.kendall.grouped_tau`): within each
axis, each group's runs are resampled within the group (and averaged per value again); the
axes are resampled independently and Ψ* is the mean of their ψ_i*.

Example (on a sweep's eligible runs)::

    groups = axis_groups(runs, study)              # {"rho": [AxisGroup(...), ...], ...}
    g = granulated_tau(x, y, groups)               # x, y: one value per run (NaN: missing)
    g.psi.fmt(), {k: c.fmt() for k, c in g.by_axis.items()}
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sweeps.results.kendall import (
    N_RESAMPLES,
    SEED,
    UNDEFINED,
    Correlation,
    checked_interval,
    config_means,
    grouped_tau,
    mean_of_resamples,
    percentile_ci,
    tau_b,
)
from sweeps.store.schema import RunRecord
from sweeps.study.spec import StudySpec
from sweeps.study.strategy import Grid

__all__ = ["AxisGroup", "Granulated", "axis_groups", "granulated_tau", "structure_note",
           "held_value"]


@dataclass(frozen=True)
class AxisGroup:
    """Runs (indices) of one method that agree exactly on every searched key but `axis`."""

    axis: str
    method: str
    held: tuple[Hashable, ...]
    runs: tuple[int, ...]
    values: tuple[Any, ...]         # each run's value of `axis`


@dataclass(frozen=True)
class Granulated:
    """Ψ (mean over axes of ψ_i), each ψ_i, and why Ψ is undefined ("" when defined)."""

    psi: Correlation                               # groups: axes averaged over
    by_axis: dict[str, Correlation] = field(default_factory=dict)   # groups: groups averaged
    why: str = ""
    pairs: int = 0                                 # pairs of configs compared, all axes


def held_value(value: Any) -> Hashable:
    """The exact value a searched key is held fixed at (a hashable stand-in for lists, dicts).

    >>> held_value(0.05), held_value([3, 32]), held_value(None)
    (0.05, '[3, 32]', None)
    """
    return value if isinstance(value, Hashable) else repr(value)


def axis_groups(runs: Sequence[RunRecord], study: StudySpec) -> dict[str, list[AxisGroup]]:
    """For each searched key (sorted), the groups of `runs` that vary it with the method and the
    method's other searched keys held exactly fixed, and at least 2 distinct values of it."""
    out: dict[str, list[AxisGroup]] = {}
    keys = {m: sorted(spec.sampled) for m, spec in study.methods.items()}
    for axis in sorted({k for ks in keys.values() for k in ks}):
        members: dict[tuple, list[int]] = defaultdict(list)
        for i, r in enumerate(runs):
            ks = keys.get(r.method, [])
            if axis not in ks:
                continue
            held = tuple(held_value(r.params.get(k)) for k in ks if k != axis)
            members[(r.method, held)].append(i)
        groups = [AxisGroup(axis, m, held, tuple(idx),
                            tuple(runs[i].params.get(axis) for i in idx))
                  for (m, held), idx in members.items()
                  if len({repr(runs[i].params.get(axis)) for i in idx}) >= 2]
        out[axis] = groups
    return out


def structure_note(study: StudySpec | None, groups: dict[str, list[AxisGroup]]) -> str:
    """Why granulated τ cannot be defined from the sweep's configs ("" when some group can)."""
    if study is None:
        return "no study given: the searched keys are unknown"
    if not groups:
        return "no method searches a key"
    if not isinstance(study.sampler, Grid):
        return (f"not available with sampler {study.sampler.type!r}: its configs never hold the "
                "other searched keys exactly fixed; a grid study (`sampler: grid`) answers it "
                "(docs/analysis.md)")
    if not any(groups.values()):
        return ("no two configs of a method differ in one searched key with its other keys "
                "exactly fixed")
    return ""


def granulated_tau(x: Sequence[float], y: Sequence[float], groups: dict[str, list[AxisGroup]],
                   n_resamples: int = N_RESAMPLES, seed: int = SEED) -> Granulated:
    """Ψ and each ψ_i of one diagnostic (`x`) vs the target (`y`), one value per run (NaN where
    missing), over `groups` from `axis_groups`."""
    xa, ya = np.asarray(x, float), np.asarray(y, float)
    by_axis: dict[str, Correlation] = {}
    dists, counted, pairs = [], set(), 0
    for k, (axis, gs) in enumerate(sorted(groups.items())):
        members = []
        for g in gs:
            keep = [j for j, i in enumerate(g.runs) if math.isfinite(xa[i]) and math.isfinite(ya[i])]
            idx, values = [g.runs[j] for j in keep], [g.values[j] for j in keep]
            if len({repr(v) for v in values}) >= 2 \
                    and tau_b(*config_means(xa[idx], ya[idx], values)) is not None:
                members.append((idx, values))
        c, dist = grouped_tau([(xa[idx], ya[idx], values) for idx, values in members],
                              n_resamples, [seed, k])
        if c.defined:
            by_axis[axis] = c
            dists.append(dist)
            counted.update(i for idx, _ in members for i in idx)
            pairs += sum(math.comb(len({repr(v) for v in values}), 2) for _, values in members)
    if not by_axis:
        why = ("no group varies a searched key with the diagnostic and the target finite and "
               "not constant") if any(groups.values()) else "no group varies a searched key"
        return Granulated(UNDEFINED, {}, why)
    lo, hi, dropped = percentile_ci(mean_of_resamples(dists))
    lo, hi, no_interval = checked_interval(lo, hi, len(counted))
    psi = float(np.mean([c.tau for c in by_axis.values()]))
    return Granulated(Correlation(len(counted), psi, lo, hi, math.nan, dropped, len(by_axis),
                                  no_interval), by_axis, pairs=pairs)
