"""The landscapes of the search-efficiency benchmark: grids of SAM configs on the demo setting,
each config trained once (seed 0) with full per-epoch learning curves, cached as JSON tables.

- `demo`: rho x m (perturbation batch size), the demo's own SAM space
  (`search_spaces/fashion_label_noise.yaml`): 6 log-spaced rho in [0.02, 0.5] x m in
  {16, 32, 64, 128}; `benchmarks/search_efficiency_table.json`. Its top is flat: 12 of the 24
  configs lie within one binomial SE (~1.1 points) of the best validation accuracy.
- `lr`: rho x learning rate at m = 32 on the same setting: the same 6 rho x 4 log-spaced lr in
  [0.0125, 0.2]; `benchmarks/search_table_rho_lr.json`. The learning rate has a sharp optimum,
  so this landscape's top is less flat, and its learning curves cross (a large lr leads early,
  a smaller one late), which is where early stopping can mislead.

A table entry holds a config's `val_acc`, `epoch_seconds` and cumulative `grad_evals` per epoch
and its last epoch's `test_acc`. Training resumes (configs already in the file are skipped).

Example:
    >>> LANDSCAPES["lr"].axes[1].values
    (0.0125, 0.0315, 0.0794, 0.2)
    >>> LANDSCAPES["demo"].key({"rho": 0.02, "perturb_batch_size": 16})
    'rho=0.02,m=16'
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime
import itertools
import json
import multiprocessing
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RHOS = (0.02, 0.0381, 0.0725, 0.138, 0.263, 0.5)  # 6 log-spaced values over [0.02, 0.5]
DEMO_BASE: dict[str, Any] = dict(
    dataset="fashion_mnist", train_subset=2000, val_size=2000, label_noise=0.4, model="small_cnn",
    epochs=40, batch_size=128, lr=0.05, momentum=0.9, weight_decay=5e-4, schedule="cosine",
    perturbation="ascent")


@dataclass(frozen=True)
class Axis:
    """One searched key: its grid values and how the sweep samples it.

    `log`: True for a log-uniform float over [min, max] of the values (the sweep's `loguniform`),
    None for a categorical choice of the values. `field`: the key's name in the table's entries.
    """

    key: str
    values: tuple[Any, ...]
    log: bool | None
    field: str = ""

    @property
    def name(self) -> str:
        """The key's name in the table's entries."""
        return self.field or self.key


@dataclass(frozen=True)
class Landscape:
    """A grid of configs of one method over two axes, trained into the table at `path`."""

    name: str
    title: str
    base: dict[str, Any]
    axes: tuple[Axis, ...]
    path: Path
    method: str = "sam"

    def configs(self) -> list[dict[str, Any]]:
        """Every grid config as `{key: value}`."""
        return [dict(zip([a.key for a in self.axes], vs, strict=True))
                for vs in itertools.product(*(a.values for a in self.axes))]

    def key(self, config: dict[str, Any]) -> str:
        """The table key of one config."""
        return ",".join(f"{a.name}={config[a.key]:g}" for a in self.axes)

    def point(self, entry: dict[str, Any]) -> tuple[Any, ...]:
        """An entry's config as a tuple in axis order."""
        return tuple(entry[a.name] for a in self.axes)


LANDSCAPES: dict[str, Landscape] = {
    "demo": Landscape(
        "demo", "rho x m, SAM on the demo setting", DEMO_BASE,
        (Axis("rho", RHOS, True), Axis("perturb_batch_size", (16, 32, 64, 128), None, "m")),
        HERE / "search_efficiency_table.json"),
    "lr": Landscape(
        "lr", "rho x lr, SAM (m = 32) on the demo setting", {**DEMO_BASE, "perturb_batch_size": 32},
        (Axis("rho", RHOS, True), Axis("lr", (0.0125, 0.0315, 0.0794, 0.2), True)),
        HERE / "search_table_rho_lr.json"),
}


def train_one(land: Landscape, config: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """Train one grid config in this process (1 thread); return its table entry."""
    import torch

    from samtrain.config.train_config import TrainConfig
    from samtrain.engine.loop import run_training
    from samtrain.engine.worker_context import LocalContext

    torch.set_num_threads(1)
    cfg = TrainConfig(**{**land.base, **config, "seed": seed})
    ctx = LocalContext()
    t0 = time.time()
    final = run_training(cfg, ctx, threads=1)
    hist = ctx.history
    return {**{a.name: config[a.key] for a in land.axes}, "seed": seed, "status": final["status"],
            "val_acc": [h["val_acc"] for h in hist],
            "epoch_seconds": [round(h["epoch_seconds"], 3) for h in hist],
            "grad_evals": [int(h["grad_evals"]) for h in hist],
            "test_acc": final.get("test_acc"), "wall_seconds": round(time.time() - t0, 1)}


def empty_table(land: Landscape) -> dict[str, Any]:
    """A table with no entries yet."""
    return {"setting": {k: v for k, v in land.base.items()},
            "grid": {a.name: list(a.values) for a in land.axes}, "entries": {}}


def load_table(path: Path, land: Landscape) -> dict[str, Any]:
    """The cached table at `path` (an empty one if the file does not exist)."""
    return json.loads(path.read_text()) if path.exists() else empty_table(land)


def save_table(table: dict[str, Any], path: Path, land: Landscape) -> None:
    """Write the table (entries sorted in axis order) atomically."""
    table["entries"] = dict(sorted(table["entries"].items(), key=lambda kv: land.point(kv[1])))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(table, indent=1) + "\n")
    tmp.replace(path)


def train_table(land: Landscape, path: Path | None = None, retrain: bool = False,
                workers: int = 2) -> dict[str, Any]:
    """Train every grid config missing from the table (`workers` one-thread processes at a time,
    'spawn'), saving after each; return the table."""
    path = path or land.path
    table = empty_table(land) if retrain else load_table(path, land)
    todo = [c for c in land.configs() if land.key(c) not in table["entries"]]
    if not todo:
        return table
    print(f"{land.name}: training {len(todo)} grid configs, {workers} at a time ...", flush=True)
    t0 = time.time()
    table.setdefault("machine", machine())
    now = datetime.datetime.now(datetime.timezone.utc)
    table.setdefault("trained", []).append(now.isoformat("T", "minutes"))
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        futures = [pool.submit(train_one, land, c) for c in todo]
        for fut in cf.as_completed(futures):
            entry = fut.result()
            table["entries"][land.key({a.key: entry[a.name] for a in land.axes})] = entry
            table["grid_wall_seconds"] = round(table.get("grid_wall_seconds", 0.0)
                                               + time.time() - t0, 1)
            t0 = time.time()
            save_table(table, path, land)
            print(f"  {land.point(entry)}: val {entry['val_acc'][-1]:.4f} test "
                  f"{entry['test_acc']:.4f} ({entry['wall_seconds']:.0f} s, {entry['status']})",
                  flush=True)
    return table


def machine() -> str:
    """A one-line description of this machine."""
    import torch

    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    if info.exists():
        names = [ln.split(":", 1)[1].strip() for ln in info.read_text().splitlines()
                 if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    return f"{cpu}, {os.cpu_count()} CPUs, torch {torch.__version__}"


def main(argv: list[str] | None = None) -> None:
    """`python -m benchmarks.landscapes LANDSCAPE [--workers N] [--retrain]`: train a table."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m benchmarks.landscapes")
    p.add_argument("landscape", choices=sorted(LANDSCAPES))
    p.add_argument("--table", type=Path, default=None, help="the table (JSON); default: its own")
    p.add_argument("--workers", type=int, default=2, help="training processes at a time")
    p.add_argument("--retrain", action="store_true", help="train the whole grid afresh")
    args = p.parse_args(argv)
    train_table(LANDSCAPES[args.landscape], args.table, args.retrain, args.workers)


if __name__ == "__main__":
    main()
