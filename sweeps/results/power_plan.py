"""What a study needs before it runs: its cost from per-epoch measurements, and its power.

Pure math, no I/O: `sweeps.execution.planner` measures (a calibration run, or an earlier
sweep's records) and prints what this module computes.

- Cost: a method's search trials x epochs x the measured per-epoch gradient evaluations and
  device-seconds, plus its confirm seeds x epochs; wall time = the trials' summed run seconds
  over the concurrent trial slots the resources give (an estimate that ignores stragglers and
  Ray's start-up). Search trials under ASHA count the epochs it lets them train in expectation
  (`sweeps.results.asha_cost`); confirm runs train all their epochs. Which configs train is
  the search's draws and the selection's pick: `cost_span` is the cost if every run is the
  cheapest config measured at the fewest epochs, or the dearest at the most.
- Δ of a method vs the baseline over n paired seeds: the Student-t interval's half-width
  t(1 - a/2, n - 1) * sd_d / sqrt(n), sd_d the SD of the paired differences (from a pilot or an
  earlier sweep), and the seeds a chosen effect needs: the smallest n with
  sqrt(n) * effect / sd_d >= t(1 - a/2, n - 1) + t(power, n - 1) (the normal-approximation rule
  n ~ ((z(1 - a/2) + z(power)) * sd_d / effect)^2 with t quantiles).
- Kendall τ over n independent configs: the half-width of the Fisher-z interval with Fieller,
  Hartley & Pearson's (1957) variance 0.437 / (n - 4), z = atanh(τ): about
  z(1 - a/2) * (1 - τ²) * sqrt(0.437 / (n - 4)) on the τ scale; and the configs a chosen
  half-width needs: n = 4 + 0.437 * (z(1 - a/2) * (1 - τ²) / w)². At τ near 0, ±0.2 needs 46
  configs; near 0.5, 28.

Example:
    >>> configs_for_tau(0.2, 0.0), configs_for_tau(0.2, 0.5)
    (46, 28)
    >>> seeds_for_effect(sd_d=0.01, effect=0.01)
    10
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

from sweeps.store.phase import Phase
from sweeps.store.schema import RunRecord

__all__ = ["FIELLER_VAR", "EpochCost", "StudyCost", "study_cost", "slots_for",
           "delta_halfwidth", "seeds_for_effect", "tau_halfwidth", "configs_for_tau",
           "epoch_cost_of", "paired_sd", "cost_span"]

FIELLER_VAR = 0.437      # var(atanh τ) ~ 0.437 / (n - 4) (Fieller, Hartley & Pearson 1957)


@dataclass(frozen=True)
class EpochCost:
    """One method's measured cost of one epoch of one run."""

    grad_evals: float
    device_seconds: float     # epoch seconds x workers
    run_seconds: float        # wall seconds of the run's epoch
    # device-seconds of an epoch of the cheapest and of the dearest config (or run) measured
    device_seconds_range: tuple[float, float] | None = None


@dataclass(frozen=True)
class StudyCost:
    """A method's (or the study's) runs, gradient evaluations, device- and run-seconds."""

    runs: int
    grad_evals: float
    device_seconds: float
    run_seconds: float        # summed over runs; wall = run_seconds / slots

    def __add__(self, other: StudyCost) -> StudyCost:
        return StudyCost(self.runs + other.runs, self.grad_evals + other.grad_evals,
                         self.device_seconds + other.device_seconds,
                         self.run_seconds + other.run_seconds)


def study_cost(per_epoch: EpochCost, trials: int, confirm_seeds: int, epochs: int,
               search_epochs: float | None = None) -> StudyCost:
    """The cost of `trials` search runs of `search_epochs` epochs each (default `epochs`: ASHA
    stops some earlier) and `confirm_seeds` confirm runs of `epochs` epochs.

    >>> study_cost(EpochCost(100.0, 2.0, 1.0), trials=4, confirm_seeds=3, epochs=10)
    StudyCost(runs=7, grad_evals=7000.0, device_seconds=140.0, run_seconds=70.0)
    >>> study_cost(EpochCost(100.0, 2.0, 1.0), trials=4, confirm_seeds=3, epochs=10,
    ...            search_epochs=5).device_seconds
    100.0
    """
    n_epochs = trials * (epochs if search_epochs is None else search_epochs) + confirm_seeds * epochs
    return StudyCost(trials + confirm_seeds, n_epochs * per_epoch.grad_evals,
                     n_epochs * per_epoch.device_seconds, n_epochs * per_epoch.run_seconds)


def cost_span(per_epoch: EpochCost, trials: int, confirm_seeds: int, epochs: int,
              epochs_range: tuple[int, int], search_epochs: float | None = None
              ) -> tuple[float, float]:
    """Device-seconds of a method's runs (as `study_cost`) if every run is its cheapest config
    measured at the fewest epochs it can train, and if every run is its dearest at the most:
    what the search's draws and the selection's pick can make the method cost. A search trial
    trains the share `search_epochs` / `epochs` (ASHA's expectation) of its epochs.

    >>> cost_span(EpochCost(100.0, 2.0, 2.0, (1.5, 3.0)), trials=3, confirm_seeds=5, epochs=60,
    ...           epochs_range=(40, 80), search_epochs=30)
    (390.0, 1560.0)
    """
    runs = trials * (epochs if search_epochs is None else search_epochs) / epochs + confirm_seeds
    lo, hi = per_epoch.device_seconds_range or (per_epoch.device_seconds,) * 2
    return lo * epochs_range[0] * runs, hi * epochs_range[1] * runs


def slots_for(cpus: float, gpus: float, workers: int, cpus_per_worker: float,
              gpus_per_worker: float, max_concurrent: int | None = None) -> int:
    """Trials that run at once on `cpus` CPUs and `gpus` GPUs (at least 1).

    >>> slots_for(16, 1, workers=1, cpus_per_worker=2, gpus_per_worker=0.25)
    4
    """
    fits = [cpus // (workers * cpus_per_worker)]
    if gpus_per_worker > 0:
        fits.append(gpus // (workers * gpus_per_worker))
    if max_concurrent is not None:
        fits.append(max_concurrent)
    return max(1, int(min(fits)))


def delta_halfwidth(sd_d: float, seeds: int, confidence: float = 0.95) -> float:
    """Half-width of the t-interval of a mean paired difference over `seeds` seeds (NaN < 2).

    >>> round(delta_halfwidth(0.01, 5), 5)
    0.01242
    """
    if seeds < 2:
        return math.nan
    return float(_st.t.ppf(0.5 + confidence / 2, seeds - 1)) * sd_d / math.sqrt(seeds)


def seeds_for_effect(sd_d: float, effect: float, alpha: float = 0.05, power: float = 0.8,
                     most: int = 10_000) -> int:
    """The fewest paired seeds that detect a true difference `effect` with probability `power`
    at level `alpha` (two-sided), t quantiles; `most` + 1 when even `most` seeds do not.

    >>> seeds_for_effect(sd_d=0.02, effect=0.01)
    34
    """
    if effect <= 0 or sd_d < 0:
        raise ValueError(f"effect: value {effect} must be > 0 and sd_d {sd_d} >= 0")
    if sd_d == 0:
        return 2
    for n in range(2, most + 1):
        need = float(_st.t.ppf(1 - alpha / 2, n - 1) + _st.t.ppf(power, n - 1))
        if math.sqrt(n) * effect / sd_d >= need:
            return n
    return most + 1


def _z(confidence: float) -> float:
    return float(_st.norm.ppf(0.5 + confidence / 2))


def tau_halfwidth(n: int, tau: float = 0.0, confidence: float = 0.95) -> float:
    """Approximate half-width of a τ interval over `n` independent configs (NaN for n <= 4).

    >>> round(tau_halfwidth(46, 0.0), 3)
    0.2
    """
    if n <= 4:
        return math.nan
    return _z(confidence) * (1 - tau ** 2) * math.sqrt(FIELLER_VAR / (n - 4))


def configs_for_tau(halfwidth: float, tau: float = 0.0, confidence: float = 0.95) -> int:
    """Independent configs for a τ interval of +-`halfwidth` around `tau`.

    >>> configs_for_tau(0.24, 0.0)
    34
    """
    if halfwidth <= 0:
        raise ValueError(f"halfwidth: value {halfwidth} must be > 0")
    return 4 + math.ceil(FIELLER_VAR * (_z(confidence) * (1 - tau ** 2) / halfwidth) ** 2)


def epoch_cost_of(records: Sequence[RunRecord], method: str, workers: int) -> EpochCost | None:
    """A method's cost per epoch from an earlier sweep's records: for each config (its
    `group_key`), its runs' gradient evaluations and device-seconds divided by the epochs each
    reached, averaged over the config's runs; the method's cost is the mean over its configs,
    each config once (the expected cost over the search space, as a calibration measures it:
    the confirm seeds of the earlier sweep's pick do not outweigh the other configs), and the
    range its configs' costs span; None without any run that trained.

    >>> mk = lambda g, e, s: RunRecord(f"r{g}{s}", "sam", "search", "completed", g, 0, {},
    ...                                {"epoch": e}, device_seconds=s, grad_evals=100.0 * e)
    >>> epoch_cost_of([mk("a", 2.0, 8.0)], "sam", workers=2)
    EpochCost(grad_evals=100.0, device_seconds=4.0, run_seconds=2.0, device_seconds_range=(4.0, 4.0))
    >>> epoch_cost_of([mk("a", 1.0, 2.0), mk("a", 1.0, 2.0), mk("a", 1.0, 2.0), mk("b", 1.0, 6.0)],
    ...               "sam", workers=1).device_seconds   # (2 + 6) / 2, not (2 + 2 + 2 + 6) / 4
    4.0
    """
    by_config: dict[str, list[tuple[float, float]]] = {}
    for r in records:
        e = float(r.final.get("epoch", 0) or 0)
        if r.method == method and r.device_seconds > 0 and e > 0:
            by_config.setdefault(r.group_key, []).append((r.grad_evals / e, r.device_seconds / e))
    if not by_config:
        return None
    configs = [np.mean(v, axis=0) for v in by_config.values()]
    g, d = (float(x) for x in np.mean(configs, axis=0))
    secs = [float(c[1]) for c in configs]
    return EpochCost(g, d, d / workers, (min(secs), max(secs)))


def paired_sd(records: Sequence[RunRecord], method: str, baseline: str,
              metric: str) -> tuple[float, int]:
    """SD of `method` - `baseline` differences of `metric` over the confirm seeds both ran (each
    method's most-confirmed config, a seed's latest run), and how many pairs; (NaN, n) < 2.

    >>> mk = lambda m, s, v, t: RunRecord(f"{m}{s}{t}", m, "confirm", "completed", m, s,
    ...     {"epochs": 1}, {"epoch": 1.0, "test_acc": v}, start_time=t)
    >>> recs = [mk("a", 1, 0.7, 0), mk("a", 2, 0.8, 1), mk("b", 1, 0.6, 2), mk("b", 2, 0.6, 3)]
    >>> round(paired_sd(recs, "a", "b", "test_acc")[0], 4), paired_sd(recs, "a", "b", "test_acc")[1]
    (0.0707, 2)
    """
    def by_seed(m: str) -> dict[int | None, float]:
        runs = [r for r in records if r.method == m and r.phase == Phase.CONFIRM
                and r.full_length and math.isfinite(r.final.get(metric, math.nan))]
        if not runs:
            return {}
        keys = [r.group_key for r in runs]
        top = max(set(keys), key=keys.count)
        return {r.seed: r.final[metric] for r in sorted(runs, key=lambda r: r.start_time)
                if r.group_key == top}

    a, b = by_seed(method), by_seed(baseline)
    d = [a[s] - b[s] for s in a if s in b]
    return (float(np.std(d, ddof=1)) if len(d) >= 2 else math.nan), len(d)
