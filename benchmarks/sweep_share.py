"""P3: how much of a sweep's wall time is spent training, and what starting a trial costs.

Runs a small Fashion-MNIST sweep (`--trials` single-worker trials of about `--trial-seconds`,
searching SAM's rho by default, two at a time on two cores) through the real launcher (Ray Tune +
Optuna + MLflow) and prints, measured in this one run:

- share = sum of all trials' training-epoch seconds / (sweep wall seconds x concurrent trials),
  for `run_sweep` (Optuna, MLflow and Tune set-up included) and including Ray's start;
- where the rest goes: sweep start -> first training step of the first trials (new trial
  processes import torch and load data), trial start -> first step of later trials (reused
  processes), the idle slot at the end, and the start-up of one trial forced through a Ray Train
  worker group (the multi-worker path).

    python -m benchmarks.sweep_share [--trial-seconds 60] [--trials 8] [--methods sam,obf] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

EPOCH_ESTIMATE_S = 4.6  # one small-CNN SAM epoch on 4,000 images (+1,000 scored), 2 trials on 2 cores


METHOD_SPECS = {"sam": "perturbation: ascent", "obf": "perturbation: obf"}


def study_text(epochs: int, budget: int, methods: list[str]) -> str:
    blocks = "".join(f"""
  {m}:
    fixed: {{{METHOD_SPECS[m]}}}
    space: {{rho: {{loguniform: [0.02, 0.2]}}}}""" for m in methods)
    return f"""
name: p3
budget: {budget}
scheduler: none
resources: {{workers: 1, cpus_per_worker: 1.0}}
base: {{dataset: fashion_mnist, train_subset: 4000, val_size: 1000, model: small_cnn,
        epochs: {epochs}, batch_size: 128, lr: 0.05}}
methods:{blocks}
"""


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sweep_share")
    parser.add_argument("--trial-seconds", type=float, default=60.0)
    parser.add_argument("--trials", type=int, default=8, help="trials in all, split over methods")
    parser.add_argument("--methods", default="sam", help="comma-separated: sam, obf (OBF epochs "
                        "are ~5%% slower: a mix leaves one slot idle at the end)")
    parser.add_argument("--quick", action="store_true", help="~15 s trials (a smoke run)")
    args, _ = parser.parse_known_args(argv)
    seconds = 15.0 if args.quick else args.trial_seconds
    epochs = max(2, round(seconds / EPOCH_ESTIMATE_S))
    methods = args.methods.split(",")
    if not set(methods) <= set(METHOD_SPECS) or args.trials < len(methods):
        parser.error(f"--methods={args.methods!r} --trials={args.trials}: methods must be among "
                     f"{sorted(METHOD_SPECS)}, with at least one trial each")

    from samtrain.config.train_config import TrainConfig
    from sweeps.execution.ray_cluster import connect_ray
    from sweeps.execution.runner import run_configs
    from sweeps.execution.search_phase import run_sweep
    from sweeps.store.mlflow_records import load_records
    from sweeps.store.sweep_dir import sweep_dir
    from sweeps.study.spec import Resources
    from sweeps.study.study_file import parse_study

    root = Path(tempfile.mkdtemp(prefix="p3-"))
    uri = f"sqlite:///{root / 'mlflow.db'}"
    study = parse_study(study_text(epochs, args.trials // len(methods), methods), source="p3")
    t0 = time.time()
    cluster = connect_ray()
    t1 = time.time()
    run_sweep(study, str(root / "runs"), uri)
    t2 = time.time()
    meta = sweep_dir(root / "runs", "p3").read_meta()
    _, records = load_records(uri, "p3", meta.sweep_id)
    training = sum(r.device_seconds for r in records)
    concurrency = min(int(cluster.get("CPU", 1)), study.n_trials)
    share_fit = training / ((t2 - t1) * concurrency)
    share_all = training / ((t2 - t0) * concurrency)
    spans = sorted(epoch_spans(uri, r.run_id) for r in records)  # (first step, last epoch end)
    first_wave = [start - t1 for start, _ in spans[:concurrency]]
    ends = sorted(end for _, end in spans)[-concurrency:]
    idle_end = sum(ends[-1] - e for e in ends) / concurrency
    reused = [r.final["startup_seconds"] for r in records[concurrency:] if "startup_seconds" in r.final]
    trial_s = statistics.mean(r.device_seconds for r in records)

    cfg = TrainConfig(dataset="digits", epochs=1, batch_size=64)
    grid = run_configs("p3-train", "train", str(root / "runs"), uri, [("train", cfg, "train")],
                       Resources(workers=1), sweep_id="train:p3-train", parent=False,
                       in_process=False)
    train_startup = grid[0].metrics.get("startup_seconds", float("nan"))

    lines = [
        "| quantity | value |", "|---|---|",
        f"| trials x mean training time | {len(records)} x {trial_s:.1f} s ({epochs} epochs) |",
        f"| concurrent trials | {concurrency} |",
        f"| Ray start | {t1 - t0:.1f} s |",
        f"| sweep wall time (`run_sweep`) | {t2 - t1:.1f} s |",
        f"| **P3 share of wall time in training epochs (`run_sweep`)** | **{share_fit:.3f}** |",
        f"| P3 share including Ray start | {share_all:.3f} |",
        f"| sweep start -> first training step, first trials (new processes) | "
        f"{statistics.mean(first_wave):.2f} s |",
        f"| trial start -> first step, later trials (reused processes, mean of {len(reused)}) | "
        f"{statistics.mean(reused) if reused else float('nan'):.2f} s |",
        f"| idle at the end (mean per slot, waiting for the last trial) | {idle_end:.1f} s |",
        f"| trial start -> first step, Ray Train worker group | {train_startup:.2f} s |",
    ]
    print("\n".join(lines))
    return lines


def epoch_spans(uri: str, run_id: str) -> tuple[float, float]:
    """(start of the first epoch, end of the last epoch) of a run, from MLflow metric times."""
    from mlflow.tracking import MlflowClient

    history = MlflowClient(uri).get_metric_history(run_id, "epoch_seconds")
    first = min(history, key=lambda m: m.step)
    last = max(history, key=lambda m: m.step)
    return first.timestamp / 1000 - first.value, last.timestamp / 1000


if __name__ == "__main__":
    main()
