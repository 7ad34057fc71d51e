"""Search efficiency: which sampler and early-stopping scheduler `sweep run` should use by default,
measured on tables of learning curves (a tabular benchmark, as HPOBench / NAS-Bench do).

1. Tables (`benchmarks.landscapes`): two 24-config grids of SAM on the demo setting, each config
   trained once with every epoch's `val_acc`, `epoch_seconds`, `grad_evals` and the last epoch's
   `test_acc`: `demo` (rho x m, the demo's own space; flat top) and `lr` (rho x learning rate;
   a sharper top). Missing configs are trained first (`--workers` processes; resumable).
2. Searches (`benchmarks.replay`): every sampler (tpe, random, grid, qmc) with every scheduler
   setting in `SCHEDULERS` (no stopping, ASHA, async HyperBand, median stopping), driven through
   the Optuna and Ray classes themselves, 1 and 2 trials at a time, over `--seeds` search seeds.
   Each scheduler setting gets the trial budget at which random search spends `--share` of the
   grid's gradient evaluations on average (`calibrate`); every sampler uses that budget.
3. Scores (`benchmarks.search_stats`), report and figure (`benchmarks.search_report`): compute
   share, pick = validation winner (95 % CI), pick within 0.5 / 1 SE, validation regret, pick test
   accuracy; paired differences against the current default (TPE + ASHA 5/3); the default chosen
   from both landscapes by `search_stats.choose_default`.

    python -m benchmarks.search_efficiency [--landscape demo|lr|all] [--table PATH] [--seeds 200]
        [--first-seed 0] [--share 0.333] [--workers 1,2] [--jobs 2] [--json PATH]
        [--plot docs/search_efficiency.png] [--quick]

`--quick` replays a few strategies on a small synthetic table (seconds; what the tests run).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import random
import time
from pathlib import Path
from typing import Any

from benchmarks.landscapes import LANDSCAPES, Axis, Landscape, train_table
from benchmarks.replay import SAMPLERS, SchedulerSpec, replay
from benchmarks.search_stats import Outcome, score
from benchmarks.tabular_search import Curve, Table

HERE = Path(__file__).resolve().parent
DEFAULT_PLOT = HERE.parent / "docs" / "search_efficiency.png"
CURRENT = "tpe + ASHA 5/3"  # the default before this benchmark (search_spaces/*.yaml)
SCHEDULERS = (SchedulerSpec("none"), SchedulerSpec("asha", 5, 3), SchedulerSpec("asha", 10, 3),
              SchedulerSpec("asha", 10, 4), SchedulerSpec("asha", 20, 2),
              SchedulerSpec("hyperband", 5, 3, brackets=3), SchedulerSpec("hyperband", 10, 3, 2),
              SchedulerSpec("median", 5, min_samples=3), SchedulerSpec("median", 10, min_samples=3))
Results = dict[str, dict[int, dict[str, list[Outcome]]]]  # landscape -> workers -> strategy -> runs


def strategy(sampler: str, spec: SchedulerSpec) -> str:
    """A strategy's name, e.g. `tpe + ASHA 5/3`."""
    return f"{sampler} + {spec.label}"


def as_table(raw: dict[str, Any], land: Landscape) -> Table:
    """A JSON table's completed entries as a `tabular_search.Table` keyed by grid point."""
    return {land.point(e): Curve(tuple(e["val_acc"]), tuple(e["epoch_seconds"]),
                                 tuple(e["grad_evals"]), e["test_acc"])
            for e in raw["entries"].values() if e["status"] == "completed"}


def synthetic(epochs: int = 12, seed: int = 1) -> tuple[Landscape, Table]:
    """A small 4 x 3 landscape of linear learning curves whose early ranks differ from the final
    ones (for `--quick` and the tests)."""
    rng = random.Random(seed)
    axes = (Axis("rho", (0.02, 0.05, 0.1, 0.2), True), Axis("perturb_batch_size", (16, 32, 64), None))
    land = Landscape("synthetic", "synthetic 4 x 3", {"val_size": 2000}, axes, HERE / "none.json")
    table = {}
    for rho in axes[0].values:
        for m in axes[1].values:
            final, early = 0.5 + 0.3 * rng.random(), 0.1 + 0.3 * rng.random()
            val = tuple(early + (final - early) * e / (epochs - 1) for e in range(epochs))
            table[(rho, m)] = Curve(val, (0.05 * m,) * epochs,
                                    tuple(30 * (e + 1) for e in range(epochs)), final + 0.2)
    return land, table


def calibrate(table: Table, space: tuple[Axis, ...], spec: SchedulerSpec, share: float,
              seeds: int = 100, most: int = 72) -> int:
    """The trial budget at which random search, one trial at a time, spends `share` of the grid's
    gradient evaluations on average (the first n trials of a longer random search are the
    search with budget n: the sampler and the scheduler see only the past)."""
    full = sum(c.cost(c.epochs)[0] for c in table.values())
    sums = [0.0] * most
    for seed in range(seeds):
        spent = 0
        for i, t in enumerate(replay(table, space, "random", spec, most, seed)):
            spent += t.grad_evals
            sums[i] += spent / full
    means = [s / seeds for s in sums]
    return 1 + min(range(most), key=lambda i: abs(means[i] - share))


def _run_chunk(job: tuple[Table, tuple[Axis, ...], str, SchedulerSpec, int, int, range, int]
               ) -> list[Outcome]:
    """One strategy over the search seeds `seeds` (a process-pool task)."""
    table, space, sampler, spec, budget, workers, seeds, n_val = job
    return [score(table, replay(table, space, sampler, spec, budget, seed, workers), n_val)
            for seed in seeds]


def budgets(table: Table, space: tuple[Axis, ...], share: float,
            schedulers: tuple[SchedulerSpec, ...] = SCHEDULERS,
            seeds: int = 100) -> dict[SchedulerSpec, int]:
    """Each scheduler setting's trial budget at `share` of the grid's compute."""
    return {spec: calibrate(table, space, spec, share, seeds, most=2 * len(table))
            for spec in schedulers}


def run_all(tables: dict[str, tuple[Landscape, Table]], budget: dict[str, dict[SchedulerSpec, int]],
            seeds: range, workers: tuple[int, ...], jobs: int = 1,
            samplers: tuple[str, ...] = SAMPLERS) -> Results:
    """Every sampler x scheduler setting on every landscape and worker count, over the search
    seeds `seeds` (the same seeds for every strategy, so that differences are paired)."""
    keys, tasks = [], []
    for name, (land, table) in tables.items():
        n_val = int(land.base.get("val_size", 2000))
        for w in workers:
            for spec, n in budget[name].items():
                for s in samplers:
                    keys.append((name, w, strategy(s, spec)))
                    tasks.append((table, land.axes, s, spec, min(n, len(table)) if s == "grid"
                                  else n, w, seeds, n_val))
    if jobs > 1:
        with cf.ProcessPoolExecutor(jobs) as pool:
            outs = list(pool.map(_run_chunk, tasks))
    else:
        outs = [_run_chunk(t) for t in tasks]
    results: Results = {}
    for (name, w, strat), out in zip(keys, outs, strict=True):
        results.setdefault(name, {}).setdefault(w, {})[strat] = out
    return results


def curves(tables: dict[str, tuple[Landscape, Table]], strategies: list[tuple[str, SchedulerSpec]],
           shares: list[float], seeds: range, workers: int, jobs: int = 1,
           calib: int = 100) -> dict[str, Any]:
    """For the figure: `{landscape: {strategy: [(share aimed at, budget, runs)]}}`, each
    strategy's budget calibrated for each share."""
    specs = tuple(dict.fromkeys(spec for _, spec in strategies))
    samplers = tuple(dict.fromkeys(s for s, _ in strategies))
    out: dict[str, Any] = {}
    for name, (land, table) in tables.items():
        for sh in shares:
            b = budgets(table, land.axes, sh, specs, calib)
            res = run_all({name: (land, table)}, {name: b}, seeds, (workers,), jobs, samplers)
            for s, spec in strategies:
                out.setdefault(name, {}).setdefault(strategy(s, spec), []).append(
                    (sh, b[spec], res[name][workers][strategy(s, spec)]))
    return out


def demo_budget(tables: dict[str, tuple[Landscape, Table]], strategies: list[tuple[str, SchedulerSpec]],
                seeds: range, workers: int, budget: int = 3) -> list[str]:
    """What the strategies spend at the demo's budget (3 trials per method, each method with its
    own scheduler), so that `make demo` keeps its time with the default: one markdown line."""
    parts = []
    for name, (land, table) in tables.items():
        n_val = int(land.base.get("val_size", 2000))
        for s, spec in dict.fromkeys(strategies):
            runs = _run_chunk((table, land.axes, s, spec, budget, workers, seeds, n_val))
            share = sum(r.share for r in runs) / len(runs)
            mins = sum(r.minutes for r in runs) / len(runs)
            parts.append(f"{name}, {strategy(s, spec)}: {100 * share:.1f} % of the grid "
                         f"({mins:.1f} training min)")
    return ["", f"At the demo's budget ({budget} trials per method, {workers} at a time), compute "
                f"per method: " + "; ".join(parts) + "."]


def load(names: list[str], table_path: Path | None, train_workers: int) -> dict[str, tuple[Landscape, Table]]:
    """The landscapes' tables (configs missing from a table are trained first)."""
    out = {}
    for name in names:
        land = LANDSCAPES[name]
        raw = train_table(land, table_path, workers=train_workers)
        out[name] = (land, as_table(raw, land))
        print(f"table {name}: {table_path or land.path} ({len(out[name][1])} configs; trained on "
              f"{raw.get('machine', '?')}; wall {raw.get('grid_wall_seconds', 0) / 60:.1f} min)",
              flush=True)
    return out


def main(argv: list[str] | None = None) -> list[str]:
    """Run the benchmark; print and return the markdown report."""
    from benchmarks.search_report import plot, report

    p = argparse.ArgumentParser(prog="python -m benchmarks.search_efficiency")
    p.add_argument("--landscape", default="all", choices=["all", *LANDSCAPES])
    p.add_argument("--table", type=Path, default=None, help="the table (JSON) of one landscape")
    p.add_argument("--seeds", type=int, default=200, help="search seeds per strategy")
    p.add_argument("--first-seed", type=int, default=0, help="the first search seed")
    p.add_argument("--share", type=float, default=1 / 3, help="compute share the budgets aim at")
    p.add_argument("--workers", default="1,2", help="trials at a time (comma-separated)")
    p.add_argument("--jobs", type=int, default=1, help="replay processes")
    p.add_argument("--train-workers", type=int, default=2, help="training processes for a table")
    p.add_argument("--plot", type=Path, default=DEFAULT_PLOT, help="where to write the figure")
    p.add_argument("--json", type=Path, default=None, help="write the summaries as JSON here")
    p.add_argument("--quick", action="store_true", help="a synthetic table, few strategies")
    args, _ = p.parse_known_args(argv)  # `python -m benchmarks` passes every section the same argv
    t0 = time.time()
    workers = tuple(int(w) for w in args.workers.split(","))
    if args.quick:
        land, table = synthetic()
        tables = {"synthetic": (land, table)}
        specs: tuple[SchedulerSpec, ...] = (SchedulerSpec("none"), SchedulerSpec("asha", 2, 3),
                                            SchedulerSpec("median", 3, min_samples=2))
        samplers: tuple[str, ...] = ("tpe", "random")
        current = strategy("tpe", specs[1])
    else:
        if args.table and args.landscape == "all":
            p.error("--table needs one --landscape")
        tables = load(list(LANDSCAPES) if args.landscape == "all" else [args.landscape],
                      args.table, args.train_workers)
        specs, samplers, current = SCHEDULERS, SAMPLERS, CURRENT
    calib = 10 if args.quick else 100
    budget = {name: budgets(table, land.axes, args.share, specs, calib)
              for name, (land, table) in tables.items()}
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    results = run_all(tables, budget, seeds, workers, args.jobs, samplers)
    main_w = max(workers)
    lines, choice = report(tables, budget, results, current, main_w, args.seeds)
    named = {strategy(s, spec): (s, spec) for s in samplers for spec in specs}
    lines += demo_budget(tables, [named[current], named[choice.strategy]], seeds, main_w)
    if not args.quick or args.plot != DEFAULT_PLOT:
        key = list(dict.fromkeys([current, choice.strategy, strategy("tpe", specs[0]),
                                  strategy("random", specs[0])]))
        figs = curves(tables, [named[k] for k in key], [1 / 6, 1 / 3, 1 / 2, 2 / 3],
                      seeds if args.quick else seeds[:max(30, args.seeds // 2)], main_w, args.jobs,
                      calib)
        plot(tables, figs, args.plot)
        lines.append(f"\nplot: {args.plot}")
    if args.json:
        from benchmarks.search_stats import summary

        args.json.write_text(json.dumps(
            {n: {str(w): {s: summary(r) for s, r in rw.items()} for w, rw in rn.items()}
             for n, rn in results.items()}, indent=1) + "\n")
    lines.append(f"\n(replayed in {time.time() - t0:.0f} s)")
    print("\n".join(lines), flush=True)
    return lines


if __name__ == "__main__":
    main()
