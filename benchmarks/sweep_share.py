"""P3: how much of a sweep's wall time is spent training, and what starting a trial costs.

Runs a small Fashion-MNIST sweep (SAM + OBF, `--budget` trials each, single-worker trials of
about `--trial-seconds`, two at a time on two cores)
through the real launcher (Ray Tune + Optuna + MLflow) and prints, measured in this one run:

- share = sum of all trials' training-epoch seconds / (sweep wall seconds x concurrent trials),
  for `Tuner.fit` alone and including Ray's start;
- trial start-up (trial start -> first training step) of in-process trials (the default for one
  worker) and of one trial forced through a Ray Train worker group (the multi-worker path).

    python -m benchmarks.sweep_share [--trial-seconds 60] [--budget 4] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

EPOCH_ESTIMATE_S = 7.0  # one small-CNN SAM epoch on 4,000 images (+1,000 scored), 2 trials on 2 cores


def study_text(epochs: int, budget: int) -> str:
    return f"""
name: p3
budget: {budget}
scheduler: none
resources: {{workers: 1, cpus_per_worker: 1.0}}
base: {{dataset: fashion_mnist, train_subset: 4000, val_subset: 1000, model: small_cnn,
        epochs: {epochs}, batch_size: 128, lr: 0.05}}
methods:
  sam:
    fixed: {{perturbation: ascent}}
    space: {{rho: {{loguniform: [0.02, 0.2]}}}}
  obf:
    fixed: {{perturbation: obf}}
    space: {{rho: {{loguniform: [0.02, 0.2]}}}}
"""


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sweep_share")
    parser.add_argument("--trial-seconds", type=float, default=60.0)
    parser.add_argument("--budget", type=int, default=4, help="trials per method (2 methods)")
    parser.add_argument("--quick", action="store_true", help="~15 s trials (a smoke run)")
    args, _ = parser.parse_known_args(argv)
    seconds = 15.0 if args.quick else args.trial_seconds
    epochs = max(2, round(seconds / EPOCH_ESTIMATE_S))

    from samtrain.config import TrainConfig
    from sweeps.records import load_records
    from sweeps.runner import connect_ray, run_configs, run_sweep
    from sweeps.space import Resources, parse_study

    root = Path(tempfile.mkdtemp(prefix="p3-"))
    uri = f"sqlite:///{root / 'mlflow.db'}"
    study = parse_study(study_text(epochs, args.budget), source="p3")
    t0 = time.perf_counter()
    cluster = connect_ray()
    t1 = time.perf_counter()
    run_sweep(study, root / "runs", uri)
    t2 = time.perf_counter()
    _, records = load_records(uri, "p3")
    training = sum(r.device_seconds for r in records)
    concurrency = min(int(cluster.get("CPU", 1)), study.n_trials)
    share_fit = training / ((t2 - t1) * concurrency)
    share_all = training / ((t2 - t0) * concurrency)
    startups = [r.final["startup_seconds"] for r in records if "startup_seconds" in r.final]
    trial_s = statistics.mean(r.device_seconds for r in records)

    cfg = TrainConfig(dataset="digits", epochs=1, batch_size=64)
    grid = run_configs("p3-train", "train", root / "runs", uri, [("train", cfg, "train")],
                       Resources(workers=1), parent=False, in_process=False)
    train_startup = grid[0].metrics.get("startup_seconds", float("nan"))

    lines = [
        "| quantity | value |", "|---|---|",
        f"| trials x mean training time | {len(records)} x {trial_s:.1f} s ({epochs} epochs) |",
        f"| concurrent trials | {concurrency} |",
        f"| Ray start | {t1 - t0:.1f} s |",
        f"| sweep wall time (Tuner.fit) | {t2 - t1:.1f} s |",
        f"| **P3 share of wall time in training epochs (Tuner.fit)** | **{share_fit:.3f}** |",
        f"| P3 share including Ray start | {share_all:.3f} |",
        f"| trial start -> first step, in-process (mean of {len(startups)}) | "
        f"{statistics.mean(startups):.2f} s |",
        f"| trial start -> first step, Ray Train worker group | {train_startup:.2f} s |",
    ]
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
