"""Search efficiency: how much compute TPE + ASHA saves on the demo problem, and whether it finds
the grid's winner (a tabular benchmark, as HPOBench / NAS-Bench do).

1. Table: every config of a rho x m grid of SAM on the demo setting (Fashion-MNIST, 2,000 training
   images with 40 % label noise, small CNN, 40 epochs; `search_spaces/fashion_label_noise.yaml`)
   is trained once (seed 0) with `samtrain.loop.run_training`, two configs at a time in separate
   one-thread processes, keeping every epoch's `val_acc`, `epoch_seconds` and `grad_evals` and
   the last epoch's `test_acc`. The table is cached as JSON (`--table`); training resumes (configs
   already in the file are skipped); `--retrain` starts it afresh.
2. Search: grid, random search, TPE and TPE + ASHA look their trials up in the table
   (`benchmarks.tabular_search`), one trial after another, at equal trial budgets over several
   search seeds. Printed per searcher and budget (mean ± std over the seeds): compute spent
   (grad evals as % of the whole grid's, training minutes), trials pruned, compute until a
   completed trial is within 0.5 point of the grid's best `val_acc`, the pick's (best completed
   trial's) `val_acc` and `test_acc`, and how often the pick is the grid's best config.

    python -m benchmarks.search_efficiency [--table PATH] [--retrain] [--budgets 6,12,24]
        [--seeds 3] [--plot docs/search_efficiency.png]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime
import json
import multiprocessing
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.tabular_search import SEARCHERS, Curve, Table, Trial, grid_best, run_search, summarize, trace

Runs = tuple[list[Trial], dict[str, Any]]  # one search's trials and its `summarize` figures
TOLERANCE = 0.005

HERE = Path(__file__).resolve().parent
DEFAULT_TABLE = HERE / "search_efficiency_table.json"
DEFAULT_PLOT = HERE.parent / "docs" / "search_efficiency.png"
BASE: dict[str, Any] = dict(
    dataset="fashion_mnist", train_subset=2000, val_size=2000, label_noise=0.4, model="small_cnn",
    epochs=40, batch_size=128, lr=0.05, momentum=0.9, weight_decay=5e-4, schedule="cosine",
    perturbation="ascent")
RHOS = [0.02, 0.0381, 0.0725, 0.138, 0.263, 0.5]  # 6 log-spaced values over [0.02, 0.5]
MS = [16, 32, 64, 128]


def config_key(rho: float, m: int) -> str:
    """The table key of one grid config."""
    return f"rho={rho:g},m={m}"


def train_one(rho: float, m: int, seed: int = 0) -> dict[str, Any]:
    """Train one grid config in this process (1 thread); return its learning curves."""
    import torch

    from samtrain.config import TrainConfig
    from samtrain.loop import run_training
    from samtrain.worker_context import LocalContext

    torch.set_num_threads(1)
    cfg = TrainConfig(**BASE, rho=rho, perturb_batch_size=m, seed=seed)
    ctx = LocalContext()
    t0 = time.time()
    final = run_training(cfg, ctx, threads=1)
    hist = ctx.history
    return {"rho": rho, "m": m, "seed": seed, "status": final["status"],
            "val_acc": [h["val_acc"] for h in hist],
            "epoch_seconds": [round(h["epoch_seconds"], 3) for h in hist],
            "grad_evals": [int(h["grad_evals"]) for h in hist],
            "test_acc": final.get("test_acc"), "wall_seconds": round(time.time() - t0, 1)}


def load_table(path: Path) -> dict[str, Any]:
    """The cached table at `path` (an empty one if the file does not exist)."""
    if path.exists():
        return json.loads(path.read_text())
    return {"setting": BASE, "grid": {"rho": RHOS, "m": MS}, "entries": {}}


def save_table(table: dict[str, Any], path: Path) -> None:
    """Write the table (entries sorted by rho, then m) atomically."""
    table["entries"] = dict(sorted(table["entries"].items(),
                                   key=lambda kv: (kv[1]["rho"], kv[1]["m"])))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(table, indent=1) + "\n")
    tmp.replace(path)


def train_table(path: Path, retrain: bool = False, workers: int = 2) -> dict[str, Any]:
    """Train every grid config missing from the table at `path` (`workers` processes at a time,
    'spawn'), saving after each; return the table."""
    table = {"setting": BASE, "grid": {"rho": RHOS, "m": MS}, "entries": {}} if retrain \
        else load_table(path)
    todo = [(r, m) for r in RHOS for m in MS if config_key(r, m) not in table["entries"]]
    if not todo:
        return table
    print(f"training {len(todo)} grid configs, {workers} at a time ...", flush=True)
    t0 = time.time()
    table.setdefault("machine", machine())
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        futures = {pool.submit(train_one, r, m): (r, m) for r, m in todo}
        for fut in cf.as_completed(futures):
            entry = fut.result()
            table["entries"][config_key(entry["rho"], entry["m"])] = entry
            save_table(table, path)
            print(f"  [{time.time() - t0:6.0f} s] {config_key(entry['rho'], entry['m'])}: "
                  f"val {entry['val_acc'][-1]:.4f} test {entry['test_acc']:.4f} "
                  f"({entry['wall_seconds']:.0f} s)", flush=True)
    table["grid_wall_seconds"] = round(table.get("grid_wall_seconds", 0.0) + time.time() - t0, 1)
    save_table(table, path)
    return table


def machine() -> str:
    """A one-line description of this machine."""
    import os

    import torch

    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    if info.exists():
        names = [ln.split(":", 1)[1].strip() for ln in info.read_text().splitlines()
                 if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    return (f"{cpu}, {os.cpu_count()} CPUs, "
            f"torch {torch.__version__}, {datetime.date.today().isoformat()}")


def as_table(table: dict[str, Any]) -> Table:
    """The JSON table's entries as a `tabular_search.Table`."""
    return {(e["rho"], e["m"]): Curve(tuple(e["val_acc"]), tuple(e["epoch_seconds"]),
                                      tuple(e["grad_evals"]), e["test_acc"])
            for e in table["entries"].values() if e["status"] == "completed"}


def run_all(table: Table, budgets: list[int], seeds: int) -> dict[tuple[str, int], list[Runs]]:
    """Every searcher at every budget over `seeds` search seeds: its trials and summary."""
    return {(s, b): [(ts := run_search(table, s, b, seed), summarize(table, ts, TOLERANCE))
                     for seed in range(seeds)]
            for b in budgets for s in SEARCHERS}


def pm(xs: list[float], fmt: str) -> str:
    """`mean ± std` (population std) of `xs` in `fmt`."""
    return f"{format(statistics.fmean(xs), fmt)} ± {format(statistics.pstdev(xs), fmt)}"


def table_row(searcher: str, budget: int, runs: list[Runs], table: Table) -> str:
    """One markdown row: compute spent, compute to reach the target, the pick's accuracies."""
    full = sum(c.cost(c.epochs)[0] for c in table.values())
    sums = [s for _, s in runs]
    reached = [s for s in sums if s["reach_grad_evals"] is not None]
    to_reach = "not reached" if not reached else (
        f"{pm([100 * s['reach_grad_evals'] / full for s in reached], '.0f')} % / "
        f"{pm([s['reach_seconds'] / 60 for s in reached], '.1f')} min")
    spent = (f"{pm([100 * s['grad_evals'] / full for s in sums], '.0f')} % / "
             f"{pm([s['seconds'] / 60 for s in sums], '.1f')} min")
    same = sum(s["pick"] == grid_best(table)[0] for s in sums)
    cells = [searcher, str(budget), spent, pm([s["pruned"] for s in sums], ".1f"),
             f"{len(reached)}/{len(sums)}", to_reach, pm([100 * s["pick_val"] for s in sums], ".2f"),
             pm([100 * s["pick_test"] for s in sums], ".2f"), f"{same}/{len(sums)}"]
    return "| " + " | ".join(cells) + " |"


def report(table: Table, results: dict[tuple[str, int], list[Runs]]) -> list[str]:
    """The markdown block: the grid's reference figures, then one row per searcher and budget."""
    best_cfg, best = grid_best(table)
    ge = sum(c.cost(c.epochs)[0] for c in table.values())
    secs = sum(c.cost(c.epochs)[1] for c in table.values())
    oracle_cfg, oracle = max(sorted(table.items()), key=lambda kv: kv[1].test_acc)
    lines = [
        f"Grid: {len(table)} configs, {ge} grad evals, {secs / 60:.1f} min of training epochs "
        f"(1 thread each). Best by validation: rho={best_cfg[0]:g}, m={best_cfg[1]}: val "
        f"{100 * best.val_acc[-1]:.2f} %, test {100 * best.test_acc:.2f} % (best test in the "
        f"grid: {100 * oracle.test_acc:.2f} %, rho={oracle_cfg[0]:g}, m={oracle_cfg[1]}). Target: "
        f"val >= {100 * (best.val_acc[-1] - TOLERANCE):.2f} %.", "",
        "| searcher | trials | compute spent (% of grid / training min) | pruned | reached target "
        "| compute to reach (% of grid / training min) | pick val acc (%) | pick test acc (%) "
        "| pick = grid best |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [table_row(s, b, results[(s, b)], table) for (s, b) in results]
    return lines


COLORS = {"grid": "tab:gray", "random": "tab:blue", "tpe": "tab:orange", "tpe_asha": "tab:green"}


def mean_curve(runs: list[Runs]) -> tuple[list[float], list[float]]:
    """Best-so-far validation accuracy against grad evals spent, mean over the seeds' searches
    (from the compute where every seed has a completed trial)."""
    traces = [trace(ts) for ts, _ in runs]
    xs = sorted({ge for tr in traces for ge, _, _ in tr})
    out_x, out_y = [], []
    for x in xs:
        bests = [max((b for ge, _, b in tr if ge <= x and b is not None), default=None)
                 for tr in traces]
        if all(b is not None for b in bests):
            out_x.append(x)
            out_y.append(statistics.fmean(bests))  # type: ignore[arg-type]
    return out_x, out_y


def plot(table: Table, results: dict[tuple[str, int], list[Runs]], budgets: list[int],
         path: Path) -> None:
    """One panel per budget: mean best-so-far val_acc against grad evals, per searcher."""
    from matplotlib.figure import Figure

    best = grid_best(table)[1].val_acc[-1]
    full = sum(c.cost(c.epochs)[0] for c in table.values())
    fig = Figure(figsize=(4.2 * len(budgets), 3.6), layout="constrained")
    axes = fig.subplots(1, len(budgets), sharey=True, squeeze=False)[0]
    for ax, budget in zip(axes, budgets, strict=True):
        for s in SEARCHERS:
            x, y = mean_curve(results[(s, budget)])
            ax.step([100 * v / full for v in x], [100 * v for v in y], where="post", color=COLORS[s],
                    ls="--" if s == "random" else "-", label=s, marker=".", markersize=3)
        ax.axhline(100 * best, color="k", lw=0.8, ls="--", label="grid best")
        ax.axhline(100 * (best - TOLERANCE), color="k", lw=0.6, ls=":", label="target")
        ax.set_title(f"budget {budget} trials")
        ax.set_xlabel("compute: grad evals, % of the full grid")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("best validation accuracy so far (%)")
    axes[-1].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"Search efficiency on the demo ({len(table)}-config rho x m grid of SAM; "
                 "mean over search seeds)", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> list[str]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.search_efficiency")
    p.add_argument("--table", type=Path, default=DEFAULT_TABLE, help="the cached table (JSON)")
    p.add_argument("--retrain", action="store_true", help="train the whole grid afresh")
    p.add_argument("--train-only", action="store_true", help="train missing configs and stop")
    p.add_argument("--budgets", default="6,12,24", help="trial budgets (comma-separated)")
    p.add_argument("--seeds", type=int, default=3, help="search seeds per searcher and budget")
    p.add_argument("--plot", type=Path, default=DEFAULT_PLOT, help="where to write the figure")
    args, _ = p.parse_known_args(argv)
    raw = train_table(args.table, args.retrain)
    if args.train_only:
        return []
    table = as_table(raw)
    budgets = [int(b) for b in args.budgets.split(",")]
    print(f"table: {args.table} ({len(table)} configs; trained on {raw.get('machine', '?')}; "
          f"grid wall time {raw.get('grid_wall_seconds', 0) / 60:.1f} min)", flush=True)
    results = run_all(table, budgets, args.seeds)
    lines = report(table, results)
    print("\n".join(lines), flush=True)
    plot(table, results, budgets, args.plot)
    print(f"\nplot: {args.plot}", flush=True)
    return lines


if __name__ == "__main__":
    main()
