"""`sweep plan STUDY`: what a study will cost and what it can show, before it runs.

Cost per method comes from one of two measurements:

- a calibration run (default): `configs` configs (4) per method, spread over its search space
  (a Latin hypercube: `calibration_configs`), each trained `epochs` epochs (2) here by
  samtrain's local loop (`samtrain.engine.loop.run_training` with a `LocalContext`: no Ray,
  nothing tracked or written to the sweep storage), the first config one epoch more to end its
  run: the typical epoch's seconds (not the first, which carries start-up), averaged over the
  configs, the end-of-run work spread over the planned epochs, and the gradient evaluations
  per epoch, on this machine's device (`calibrate`; malloc set as in a trial: `allocator`);
- an earlier sweep of the same problem (`--from NAME`): its runs' device-seconds and gradient
  evaluations per epoch reached; also the paired spread of its confirm seeds.

The cost and power arithmetic is `sweeps.results.power_plan`'s; this module measures and prints
one Markdown table per question (cost, Δ vs baseline, Kendall τ) and trains nothing else.

Example::

    plan = make_plan(load_study("search_spaces/tiny.yaml"), PlanInputs(cpus=2, gpus=0, seeds=5))
    print(plan_text(plan))
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sweeps.errors import SweepError
from sweeps.results.asha_cost import asha_expected_epochs
from sweeps.results.power_plan import (
    EpochCost,
    StudyCost,
    configs_for_tau,
    cost_span,
    delta_halfwidth,
    epoch_cost_of,
    paired_sd,
    seeds_for_effect,
    slots_for,
    study_cost,
    tau_halfwidth,
)
from sweeps.results.rows import metric_on_test_split
from sweeps.store.schema import RunRecord
from sweeps.study.spec import StudySpec, build_train_config
from sweeps.study.strategy import ASHA, Grid, grace_period

__all__ = ["PlanInputs", "Plan", "calibrate", "calibration_configs", "make_plan", "plan_text",
           "planned_epochs", "plan_inputs", "run_plan"]


@dataclass(frozen=True)
class PlanInputs:
    """What the user asked: the resources, the confirm seeds, the effect, the τ half-width."""

    cpus: float
    gpus: float
    seeds: int
    effect: float = 0.01
    tau_width: float = 0.2
    sd: float | None = None          # an assumed SD of paired differences (no --from)
    calibration_epochs: int = 2
    calibration_configs: int = 4


@dataclass
class Plan:
    study: StudySpec
    inputs: PlanInputs
    source: str                                  # where the per-epoch costs come from
    per_epoch: dict[str, EpochCost]
    costs: dict[str, StudyCost]
    slots: int
    spreads: dict[str, tuple[float, int, str]] = field(default_factory=dict)  # sd, pairs, from
    spans: dict[str, tuple[float, float]] = field(default_factory=dict)  # cheapest, dearest


def calibration_configs(study: StudySpec, method: str, n: int) -> list[dict[str, Any]]:
    """`n` configs of `method`'s searched keys spread over its search space: each key's range
    cut into `n` equally likely strata and the middle of each tried once, the keys' strata
    paired at random (a centred Latin hypercube: `scipy.stats.qmc.LatinHypercube(scramble=False)`
    seeded by the study's seed, mapped through each key's distribution). A choice of `n` options
    gets every option once; `n` = 1 is every key at the middle of its range. Under `sampler:
    grid` a key takes its grid points (the strata are over them); a method that searches
    nothing has one config.

    >>> from sweeps.study.study_file import parse_study
    >>> s = parse_study("name: c\\nmetric: val_acc\\nmethods:\\n  sam: {space: "
    ...                 "{perturb_batch_size: {choice: [16, 32, 64, 128]}}}\\n")
    >>> sorted(c["perturb_batch_size"] for c in calibration_configs(s, "sam", 4))
    [16, 32, 64, 128]
    >>> calibration_configs(s, "sam", 1)
    [{'perturb_batch_size': 64}]
    """
    from scipy.stats import qmc

    space = study.methods[method].sampled
    keys = sorted(space)
    if not keys:
        return [{}]
    grid = isinstance(study.sampler, Grid)

    def value(key: str, u: float) -> Any:
        points = space[key].grid_values() if grid else None
        return points[min(len(points) - 1, math.floor(u * len(points)))] if points else \
            space[key].from_unit(u)

    units = qmc.LatinHypercube(d=len(keys), scramble=False, rng=study.seed).random(n)
    return [{k: value(k, float(u)) for k, u in zip(keys, row, strict=True)} for row in units]


def _calibrate_config(study: StudySpec, method: str, params: dict[str, Any], epochs: int,
                      full: bool) -> tuple[float, float, float | None]:
    """Train `method` with `params` here (see `calibrate`): its gradient evaluations an epoch,
    its typical epoch's seconds, and (`full`: the run ends) the end-of-run work's seconds; else
    None (the run is stopped before its end, whose work never starts)."""
    from samtrain.config.train_config import TrainConfig
    from samtrain.engine.allocator import hold_freed_memory
    from samtrain.engine.loop import run_training
    from samtrain.engine.worker_context import LocalContext

    hold_freed_memory()  # as a sweep's trial process does
    cfg = build_train_config(study, method, params, seed=study.seed)
    planned, workers, n = cfg.epochs, cfg.num_workers, min(epochs, cfg.epochs) if full else epochs
    cfg = TrainConfig(**{**cfg.model_dump(), "epochs": n + 1 if full else max(planned, n + 1),
                         "num_workers": 1, "grad_accum_steps": cfg.grad_accum_steps * workers})
    ctx = LocalContext()
    run_training(cfg, ctx, threads=max(1, int(study.resources.cpus_per_worker)),
                 stop_after_epoch=None if full else n)
    seconds = [float(h["epoch_seconds"]) for h in ctx.history]
    last = ctx.history[-1]
    typical = statistics.median(seconds[1:len(seconds) - full] or seconds[:1])
    return (float(last["grad_evals"]) / float(last["epoch"]), typical,
            max(0.0, seconds[-1] - typical) if full else None)


def calibrate(study: StudySpec, epochs: int = 2, slots: int = 1,
              configs: int = 4) -> dict[str, EpochCost]:
    """Each method's cost per epoch of the run the study plans, measured here on `configs`
    configs spread over its search space (`calibration_configs`; one for a method that searches
    nothing): what an epoch costs depends on the config (a smaller `perturb_batch_size`, more
    m-sharpness passes), and the search and the confirm seeds train whichever configs the
    sampler and the selection pick.

    Each config trains `epochs` epochs (stopped there); the first config one more, ending the
    run. The typical epoch is the median of a config's epochs after its first (which carries
    start-up; the first one's own when `epochs` is 1), the method's the mean over its configs;
    the last epoch's excess over it (the end-of-run work: the test split, the sharpness
    measures, shifted sets; once per run) is spread over the method's planned epochs. A study
    of W workers is calibrated in one process that does all W workers' work (W times the
    gradient accumulation, so a step holds one worker's micro-batch in memory): its seconds are
    the epoch's device-seconds, and an epoch's wall time is taken as 1/W of them (ideal scaling;
    gradient all-reduce not counted).

    The sweep runs `slots` trials at once, sharing the machine's memory bandwidth and caches:
    with `slots` > 1 the configs train that many at a time, in separate processes (the list
    padded with repeats so the last ones do not run alone)."""
    if configs < 1:
        raise ValueError(f"configs: value {configs} must be >= 1")
    spread = {m: calibration_configs(study, m, configs) for m in study.methods}
    tasks = [(m, spread[m][i], i == 0) for i in range(configs) for m in study.methods
             if i < len(spread[m])]
    if slots <= 1 or not tasks:
        measured = [_calibrate_config(study, m, p, epochs, full) for m, p, full in tasks]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        padded = tasks + [tasks[-1 - i % len(tasks)] for i in range(-len(tasks) % slots)]
        with ProcessPoolExecutor(slots, mp_context=multiprocessing.get_context("spawn")) as pool:
            measured = list(pool.map(_calibrate_config, *zip(*[(study, m, p, epochs, full)
                                                               for m, p, full in padded],
                                                             strict=True)))
    out = {}
    for m in study.methods:
        mine = [r for (tm, _, _), r in zip(tasks, measured[:len(tasks)], strict=True) if tm == m]
        ends = [e for _, _, e in mine if e is not None]
        end = (statistics.fmean(ends) if ends else 0.0) / planned_epochs(study, m)
        secs = statistics.fmean(t for _, t, _ in mine) + end
        workers = build_train_config(study, m, {}).num_workers
        typical = [t for _, t, _ in mine]
        out[m] = EpochCost(statistics.fmean(g for g, _, _ in mine), secs, secs / workers,
                           (min(typical) + end, max(typical) + end))
    return out


def planned_epochs(study: StudySpec, method: str) -> int:
    """The epochs the plan counts for a run of `method`: a searched `epochs` at its middle."""
    middle = {k: d.from_unit(0.5) for k, d in study.methods[method].sampled.items()}
    return build_train_config(study, method, middle).epochs


def _epoch_range(study: StudySpec, method: str) -> tuple[int, int]:
    """The fewest and the most epochs a run of `method` can train: a searched `epochs`' bounds
    (its grid points under `sampler: grid`), else its planned epochs."""
    d = study.methods[method].sampled.get("epochs")
    if d is None:
        return (planned_epochs(study, method),) * 2
    values = (d.grid_values() if isinstance(study.sampler, Grid) else None) or d.extremes()
    return int(min(values)), int(max(values))


def _search_epochs(study: StudySpec, method: str) -> float:
    """The epochs a search trial of `method` trains in expectation: under ASHA fewer than its
    planned epochs (`sweeps.results.asha_cost`); under any other scheduler all of them."""
    epochs = planned_epochs(study, method)
    if not isinstance(study.scheduler, ASHA):
        return float(epochs)
    max_t = study.max_epochs(method)
    return asha_expected_epochs(study.trials_of(method), epochs,
                                grace_period(study.scheduler, max_t),
                                study.scheduler.reduction_factor, max_t=max_t)


def _slots(study: StudySpec, inputs: PlanInputs) -> int:
    r = study.resources
    return slots_for(inputs.cpus, inputs.gpus, r.workers, r.cpus_per_worker, r.gpus_per_worker,
                     r.max_concurrent_trials)


def make_plan(study: StudySpec, inputs: PlanInputs,
              earlier: Sequence[RunRecord] | None = None, earlier_name: str = "") -> Plan:
    """The plan: per-epoch costs (from `earlier` records, else a calibration run), the study's
    cost on `inputs`' resources, and the paired spreads for the power table."""
    res = study.resources
    if earlier is not None:
        per = {m: c for m in study.methods
               if (c := epoch_cost_of(earlier, m, res.workers)) is not None}
        source = f"sweep {earlier_name!r}: its configs' mean cost per epoch reached"
    else:
        per = calibrate(study, inputs.calibration_epochs, _slots(study, inputs),
                        inputs.calibration_configs)
        source = (f"calibration: {inputs.calibration_configs} configs per method spread over "
                  f"its search space (a Latin hypercube), {inputs.calibration_epochs} epochs "
                  "each on this machine, the first config one more to end its run (samtrain's "
                  "local loop: the mean of the configs' typical epochs, and the end-of-run work "
                  "spread over the planned epochs), as many at a time as the sweep runs trials")
    costs = {m: study_cost(per[m], study.trials_of(m), inputs.seeds,
                           planned_epochs(study, m), _search_epochs(study, m))
             for m in study.methods if m in per}
    spans = {m: cost_span(per[m], study.trials_of(m), inputs.seeds, planned_epochs(study, m),
                          _epoch_range(study, m), _search_epochs(study, m)) for m in costs}
    slots = _slots(study, inputs)
    spreads = {}
    tmetric, _ = metric_on_test_split(study.metric)
    for m in study.methods:
        if study.baseline is None or m == study.baseline:
            continue
        if earlier is not None:
            sd, pairs = paired_sd(earlier, m, study.baseline, tmetric)
            if not math.isnan(sd):
                spreads[m] = (sd, pairs, f"{pairs} paired confirm seeds of {earlier_name!r}")
                continue
        if inputs.sd is not None:
            spreads[m] = (inputs.sd, 0, "--sd")
    return Plan(study, inputs, source, per, costs, slots, spreads, spans)


def _num(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def _cost_lines(p: Plan) -> list[str]:
    total = sum(p.costs.values(), StudyCost(0, 0.0, 0.0, 0.0))
    asha = isinstance(p.study.scheduler, ASHA)
    lines = ["| method | search trials | confirm seeds | epochs | search epochs a trial"
             + (" (ASHA, expected)" if asha else "") + " | grad evals | device-seconds | "
             "cheapest – dearest |", "|---|---|---|---|---|---|---|---|"]
    searched = []
    for m, c in p.costs.items():
        lo, hi = _epoch_range(p.study, m)
        if lo != hi:
            searched.append(f"{m} {lo}–{hi}")
        epochs = f"{planned_epochs(p.study, m)}" + (f" ({lo}–{hi})" if lo != hi else "")
        lines.append(f"| {m} | {p.study.trials_of(m)} | {p.inputs.seeds} | {epochs} | "
                     f"{_search_epochs(p.study, m):.1f} | {_num(c.grad_evals)} | "
                     f"{_num(c.device_seconds)} | {_span(p.spans[m])} |")
    span = (sum(s[0] for s in p.spans.values()), sum(s[1] for s in p.spans.values()))
    lines.append(f"| total | {sum(p.study.trials_of(m) for m in p.costs)} | "
                 f"{p.inputs.seeds * len(p.costs)} | | | {_num(total.grad_evals)} | "
                 f"{_num(total.device_seconds)} | {_span(span)} |")
    missing = [m for m in p.study.methods if m not in p.costs]
    wall = total.run_seconds / p.slots
    return lines + ["", f"Wall time ≈ {_num(wall)} s ({wall / 3600:.2f} h) on {p.slots} "
                    f"concurrent trial slot(s) ({p.inputs.cpus:g} CPUs, {p.inputs.gpus:g} GPUs); "
                    + ("search trials at the epochs ASHA lets them train in expectation; "
                       if asha else "every trial at its full epochs (an upper bound if a "
                       "scheduler stops trials early); ")
                    + "Ray start-up not included."
                    + (f" No cost measured for: {', '.join(missing)}." if missing else ""),
                    "", "Device-seconds are the expected cost over the search space (the "
                    "configs' mean" + (", a searched `epochs` at its middle" if searched else "")
                    + "); which configs train is the search's draws and the selection's pick: "
                    f"{_span(span)} if every run is its method's cheapest / dearest config "
                    "measured, at the fewest / most epochs it can train"
                    + (f" (`epochs` searched: {', '.join(searched)})" if searched else "") + "."]


def _span(lo_hi: tuple[float, float]) -> str:
    return f"{_num(lo_hi[0])}–{_num(lo_hi[1])}"


def _power_lines(p: Plan) -> list[str]:
    i, base = p.inputs, p.study.baseline
    if base is None:
        return ["No baseline in the study: no Δ to size."]
    if not p.spreads:
        return [f"Δ vs {base}: no paired spread known; give --from NAME (a pilot or earlier "
                "sweep with confirm seeds) or --sd."]
    lines = [f"| method vs {base} | SD of paired Δ (from) | 95% CI ± at {i.seeds} seeds | "
             f"seeds for Δ = {i.effect:g} (α 0.05, power 0.8) |", "|---|---|---|---|"]
    for m, (sd, _, src) in p.spreads.items():
        lines.append(f"| {m} | {sd:.4f} ({src}) | {delta_halfwidth(sd, i.seeds):.4f} | "
                     f"{seeds_for_effect(sd, i.effect)} |")
    return lines


def _tau_lines(p: Plan) -> list[str]:
    w = p.inputs.tau_width
    lines = ["| method | configs planned | τ 95% CI ± at τ = 0 | configs for ±"
             f"{w:g} at τ = 0 | at τ = 0.5 |", "|---|---|---|---|---|"]
    for m in p.study.methods:
        n = p.study.trials_of(m)
        hw = tau_halfwidth(n, 0.0)
        width = ("n/a (≤ 4 configs)" if math.isnan(hw) else
                 f"{hw:.2f} (no useful interval)" if hw >= 1 else f"{hw:.2f}")
        lines.append(f"| {m} | {n} | {width} | "
                     f"{configs_for_tau(w, 0.0)} | {configs_for_tau(w, 0.5)} |")
    grid = isinstance(p.study.sampler, Grid)
    return lines + ["", "Independent configs (seeds of one config count once); approximation: "
                    "Fisher z with Fieller et al.'s (1957) variance 0.437/(n − 4). Granulated τ "
                    + ("(this study is a grid): every searched key is held exactly fixed; "
                       + "; ".join(_grid_groups(p.study)) + "." if grid
                       else "needs `sampler: grid` (docs/analysis.md).")]


def _grid_groups(study: StudySpec) -> list[str]:
    """Per method and searched key of a grid: its groups (settings of the other keys), values
    per group and pairs of configs compared."""
    out = []
    for m, spec in study.methods.items():
        sizes = {k: len(d.grid_values() or ()) for k, d in sorted(spec.sampled.items())}
        for k, v in sizes.items():
            groups = math.prod(n for j, n in sizes.items() if j != k)
            out.append(f"{m}.{k}: {groups} group(s) of {v} values, "
                       f"{groups * math.comb(v, 2)} pairs")
    return out or ["no method searches a key"]


def plan_text(p: Plan) -> str:
    """The plan as Markdown: cost, Δ vs the baseline, Kendall τ."""
    return "\n".join([f"# Plan: {p.study.name}", "", f"Cost per epoch from {p.source}.", "",
                      *_cost_lines(p), "", "## Power: Δ vs the baseline (test split, paired "
                      "t-interval)", "", *_power_lines(p), "", "## Kendall τ (sweep analyze)",
                      "", *_tau_lines(p)]) + "\n"


def _check(key: str, value: float | None, ok: bool, allowed: str) -> None:
    if value is not None and not ok:
        raise SweepError(f"{key}: value {value:g} is invalid: must be {allowed}")


def plan_inputs(args: Any, study: StudySpec) -> PlanInputs:
    """`sweep plan`'s numbers, each checked (one-line `SweepError` naming key, value, rule)."""
    import os

    _check("--seeds", args.seeds, args.seeds is None or args.seeds >= 2, ">= 2 (a paired interval)")
    _check("--effect", args.effect, args.effect > 0, "> 0")
    _check("--sd", args.sd, args.sd is None or args.sd > 0, "> 0")
    _check("--tau-width", args.tau_width, 0 < args.tau_width < 1, "in (0, 1)")
    _check("--cpus", args.cpus, args.cpus is None or args.cpus > 0, "> 0")
    _check("--gpus", args.gpus, args.gpus >= 0, ">= 0")
    _check("--calibration-epochs", args.calibration_epochs, args.calibration_epochs >= 1, ">= 1")
    _check("--calibration-configs", args.calibration_configs, args.calibration_configs >= 1, ">= 1")
    seeds = args.seeds or (study.confirm_seeds if study.confirm_seeds >= 2 else 3)
    return PlanInputs(args.cpus or float(os.cpu_count() or 1), args.gpus, seeds, args.effect,
                      args.tau_width, args.sd, args.calibration_epochs, args.calibration_configs)


def run_plan(args: Any) -> str:
    """`sweep plan`: check everything, measure (calibration, or `--from` records), the text."""
    from sweeps.study.study_file import load_study

    study = load_study(args.space)
    inputs = plan_inputs(args, study)
    if args.from_sweep is not None:
        from sweeps.store.sweep_access import read_sweep

        sweep = read_sweep(args.from_sweep, args.storage, args.tracking_uri, history=False,
                           deliver_timeout=10)
        return plan_text(make_plan(study, inputs, sweep.records, args.from_sweep))
    from samtrain.data import check_dataset

    for m in study.methods:
        check_dataset(build_train_config(study, m, {}))
    return plan_text(make_plan(study, inputs))
