"""Epoch time in a sweep's trials with glibc's malloc defaults vs `hold_freed_memory`.

Rounds alternate the two arms. A round is one Tune experiment (`sweeps.execution.runner.
run_configs`, in a fresh process with its own Ray) of two concurrent trials of the demo study's
`--method` (`sgd`; seeds 1 and 2, `--epochs` epochs, as a sweep's search trials run on two
cores). The "defaults" arm sets `SAMTRAIN_MALLOC_DEFAULTS=1`, which turns
`samtrain.engine.allocator` off in the trial processes. A trial's typical epoch is the median
of its epochs after the first and before the last; the last one's excess over it is the
end-of-run work. Prints one row per round and the ratio of the arms' medians, measured in this
run.

    python -m benchmarks.trial_heap [--rounds 4] [--epochs 12] [--study PATH] [--method sgd]
                                    [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from samtrain.engine.allocator import DEFAULTS_ENV


def one_round(study_path: str, epochs: int, method: str = "sgd") -> dict[str, list[float]]:
    """Two concurrent trials of `method` (its fixed config: the study's base values) of `epochs`
    epochs: each one's typical epoch and end-of-run work."""
    from samtrain.config.train_config import TrainConfig
    from sweeps.execution.runner import run_configs
    from sweeps.study.spec import build_train_config
    from sweeps.study.study_file import load_study

    study = load_study(study_path)
    trials = [(method, TrainConfig(**{**build_train_config(study, method, {}, seed=seed).model_dump(),
                                      "epochs": epochs}), "search") for seed in (1, 2)]
    root = Path(tempfile.mkdtemp(prefix="trial-heap-"))
    grid = run_configs("heap", "heap", str(root / "runs"), f"sqlite:///{root / 'mlflow.db'}",
                       trials, study.resources, sweep_id="heap")
    typical, end = [], []
    for result in grid:
        seconds = list(result.metrics_dataframe["epoch_seconds"])
        typical.append(statistics.median(seconds[1:-1]))
        end.append(seconds[-1] - typical[-1])
    return {"typical": typical, "end": end}


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.trial_heap")
    parser.add_argument("--rounds", type=int, default=4, help="rounds per arm")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--study", default="search_spaces/fashion_label_noise.yaml")
    parser.add_argument("--method", default="sgd", help="a method of the study")
    parser.add_argument("--quick", action="store_true", help="1 round of 4 epochs (a smoke run)")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args(argv)
    if args.quick:
        args.rounds, args.epochs = 1, 4
    if args.one:
        print(json.dumps(one_round(args.study, args.epochs, args.method)))
        return []
    env = {k: v for k, v in os.environ.items() if k != DEFAULTS_ENV}
    arms = {"defaults": {**env, DEFAULTS_ENV: "1"}, "held": env}
    typical: dict[str, list[float]] = {arm: [] for arm in arms}
    lines = ["| round | arm | typical epoch, s (2 trials) | end-of-run work, s |",
             "|---:|---|---|---|"]
    for k in range(args.rounds):
        for arm, arm_env in arms.items():
            out = subprocess.run([sys.executable, "-m", "benchmarks.trial_heap", "--one",
                                  "--epochs", str(args.epochs), "--study", args.study,
                                  "--method", args.method],
                                 env=arm_env, capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            typical[arm] += r["typical"]
            lines.append(f"| {k + 1} | {arm} | {' '.join(f'{t:.3f}' for t in r['typical'])} | "
                         f"{' '.join(f'{e:.2f}' for e in r['end'])} |")
            print(lines[-1], flush=True)
    med = {arm: statistics.median(v) for arm, v in typical.items()}
    lines += ["", f"median typical epoch: defaults {med['defaults']:.3f} s, held "
              f"{med['held']:.3f} s; defaults / held **{med['defaults'] / med['held']:.3f}** "
              f"(spread: defaults {min(typical['defaults']):.3f}-{max(typical['defaults']):.3f}, "
              f"held {min(typical['held']):.3f}-{max(typical['held']):.3f})"]
    print(lines[-1])
    return lines


if __name__ == "__main__":
    main()
