"""Cost of the shifted test sets (`eval_sets`): generating the corruptions, and scoring them at
the end of a run, against one training epoch of the worked example (search_spaces/fashion_shift.yaml).

(a) `corrupt` on 1,000 images at each of the 5 severities: grey 1 x 28 x 28 (Fashion-MNIST) and
RGB 3 x 32 x 32 (CIFAR), smooth random images (the content does not change the work).
(b) The example's end-of-run scoring: 55 sets of 1,000 grey images, generated and scored by
`small_cnn` (`samtrain.engine.shift_eval`), over one SGD epoch of 5,000 images at B = 128; both timed in
this run, on `--threads` torch threads (1, as a sweep trial runs).

    python -m benchmarks.shift_cost [--threads 1] [--examples 1000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy import ndimage

from samtrain.config.train_config import TrainConfig
from samtrain.data.corruptions import CORRUPTIONS, corrupt


def _images(n: int, side: int, channels: int) -> np.ndarray:
    x = ndimage.gaussian_filter(np.random.default_rng(0).random((n, side, side, channels)),
                                sigma=(0, 1.5, 1.5, 0))
    return ((x - x.min()) / (x.max() - x.min())).astype(np.float32)


def generation_table(n: int) -> list[str]:
    grey, rgb = _images(n, 28, 1), _images(n, 32, 3)
    lines = [f"| corruption (5 severities, {n} images) | grey 28x28 (s) | RGB 32x32 (s) |",
             "|---|---:|---:|"]
    totals = [0.0, 0.0]
    for name in CORRUPTIONS:
        cells = []
        for i, x in enumerate((grey, rgb)):
            t0 = time.perf_counter()
            for s in range(1, 6):
                corrupt(x, name, s, seed=0)
            cells.append(time.perf_counter() - t0)
            totals[i] += cells[-1]
        lines.append(f"| {name} | {cells[0]:.2f} | {cells[1]:.2f} |")
    lines.append(f"| total | {totals[0]:.2f} | {totals[1]:.2f} |")
    return lines


def scoring_ratio(n: int) -> list[str]:
    from samtrain.engine.epoch import train_one_epoch
    from samtrain.engine.run_setup import build_run
    from samtrain.engine.shift_eval import score_eval_sets
    from samtrain.engine.worker_context import LocalContext

    cfg = TrainConfig(dataset="synthetic", synthetic_shape=(1, 28, 28), synthetic_size=5556,
                      val_size=556, epochs=1, batch_size=128, perturbation="none",
                      eval_sets=[{"corruption": "all", "severity": "all", "examples": n}])
    run = build_run(cfg, LocalContext())
    t0 = time.perf_counter()
    train_one_epoch(run, 1)
    epoch = time.perf_counter() - t0
    t0 = time.perf_counter()
    scored = score_eval_sets(run)
    shift = time.perf_counter() - t0
    sets = sum(k.startswith("shift_acc/") for k in scored) - 1
    return ["| what | seconds | / SGD epoch |", "|---|---:|---:|",
            f"| one SGD epoch, 5,000 images, B = 128 | {epoch:.2f} | 1.00 |",
            f"| {sets} shifted sets x {n} images: generate + score | {shift:.2f} | "
            f"{shift / epoch:.2f} |"]


def main(argv: list[str] | None = None) -> list[str]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.shift_cost")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--examples", type=int, default=1000)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    blocks = ["\n".join(generation_table(args.examples)), "\n".join(scoring_ratio(args.examples))]
    for b in blocks:
        print(b, end="\n\n")
    return blocks


if __name__ == "__main__":
    main()
