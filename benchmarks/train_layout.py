"""Cost of a training epoch with `channels_last: true` vs the default layout, on the demo's setting.

Setting: `search_spaces/fashion_label_noise.yaml`'s base (Fashion-MNIST, 2,000 training images,
small_cnn, B = 128) on CPU with `--threads` torch threads (default 1, as a demo trial runs); SGD
and SAM with perturbation batch sizes 128 and 32. Each config is a real `build_run` +
`train_one_epoch`; the two layouts take turns epoch by epoch (so load from other processes hits
both alike) and the figure is the median epoch. Also the end-of-run sharpness measures.
Prints default / channels-last per method.

    python -m benchmarks.train_layout [--threads 1] [--epochs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch

from samtrain.config.train_config import TrainConfig
from samtrain.engine.epoch import train_one_epoch
from samtrain.engine.loop import measure_sharpness_of, seed_everything
from samtrain.engine.run_setup import build_run
from samtrain.engine.worker_context import LocalContext

BASE: dict[str, Any] = dict(dataset="fashion_mnist", train_subset=2000, val_size=2000,
                            label_noise=0.4, model="small_cnn", epochs=40, batch_size=128,
                            lr=0.05, momentum=0.9, sharpness_every=40, sharpness_examples=256)
METHODS: dict[str, dict[str, Any]] = {
    "sgd": {"perturbation": "none"},
    "sam m=128": {"perturbation": "ascent", "rho": 0.05, "perturb_batch_size": 128},
    "sam m=32": {"perturbation": "ascent", "rho": 0.05, "perturb_batch_size": 32},
}


def _timed(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def measure(threads: int = 1, epochs: int = 5) -> dict[str, dict[str, float]]:
    """Median epoch and sharpness seconds per method and layout."""
    torch.set_num_threads(threads)
    out: dict[str, dict[str, float]] = {}
    for name, knobs in METHODS.items():
        runs = {}
        for layout in (False, True):
            seed_everything(0)
            runs[layout] = build_run(TrainConfig(**BASE, **knobs, channels_last=layout),
                                     LocalContext())
        times: dict[bool, list[float]] = {False: [], True: []}
        sharp: dict[bool, list[float]] = {False: [], True: []}
        for epoch in range(1, epochs + 2):  # the first epoch of each: warm-up, not counted
            for layout, run in runs.items():
                t = _timed(lambda run=run, epoch=epoch: train_one_epoch(run, epoch))
                if epoch > 1:
                    times[layout].append(t)
        for _ in range(2):
            for layout, run in runs.items():
                sharp[layout].append(_timed(lambda run=run: measure_sharpness_of(run)))
        out[name] = {"default": statistics.median(times[False]),
                     "channels_last": statistics.median(times[True]),
                     "sharpness_default": min(sharp[False]),
                     "sharpness_channels_last": min(sharp[True])}
    return out


def main(argv: list[str] | None = None) -> list[str]:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.train_layout",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=5)
    args, _ = ap.parse_known_args(argv)
    lines = [f"threads={args.threads}, median of {args.epochs} epochs per layout", "",
             "| method | epoch default (s) | epoch channels-last (s) | ratio | sharpness, default "
             "run (s) | sharpness, channels-last run (s) | ratio |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, t in measure(args.threads, args.epochs).items():
        lines.append(f"| {name} | {t['default']:.2f} | {t['channels_last']:.2f} | "
                     f"{t['default'] / t['channels_last']:.2f}x | {t['sharpness_default']:.2f} | "
                     f"{t['sharpness_channels_last']:.2f} | "
                     f"{t['sharpness_default'] / t['sharpness_channels_last']:.2f}x |")
    block = "\n".join(lines)
    print(block, flush=True)
    return [block]


if __name__ == "__main__":
    main()
