"""The cost unit of the equal-compute arms: a forward-only pass against a forward + backward pass.

`sweeps.study.compute` counts a forward + backward pass over a batch as 1 gradient evaluation
and a forward-only pass (`torch.no_grad`, RandSAM's clean pass) as 1/3, from FLOPs (a backward
pass costs about twice the forward's). This measures the wall-clock ratio the unit stands for,
on CPU: the demo's small CNN (1 x 28 x 28, B = 128) and CIFAR ResNet-20 (3 x 32 x 32, B = 128).
The two passes take turns (one timed pass each per turn, after `--warmup` untimed turns), and
the figure is the median over `--steps` turns.

Run: `python -m benchmarks.pass_cost [--steps 30] [--warmup 3] [--threads N]
[--models small_cnn resnet20]`.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time

import torch
from torch import nn

from samtrain.models import build_model

B = 128
MODELS = [("small_cnn", (1, 28, 28)), ("resnet20", (3, 32, 32))]


def _forward_only(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    with torch.no_grad():
        nn.functional.cross_entropy(model(x), y)


def _forward_backward(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    nn.functional.cross_entropy(model(x), y).backward()
    model.zero_grad(set_to_none=True)


def ratio(name: str, shape: tuple[int, int, int], steps: int, warmup: int) -> tuple[float, float]:
    """Median seconds of (forward only, forward + backward) on one model, interleaved."""
    torch.manual_seed(0)
    model = build_model(name, num_classes=10, in_channels=shape[0], image_size=shape[1])
    x, y = torch.randn(B, *shape), torch.randint(0, 10, (B,))
    times: dict[str, list[float]] = {"fwd": [], "fwdbwd": []}
    for i in range(warmup + steps):
        for key, fn in (("fwd", _forward_only), ("fwdbwd", _forward_backward)):
            t0 = time.perf_counter()
            fn(model, x, y)
            if i >= warmup:
                times[key].append(time.perf_counter() - t0)
    return statistics.median(times["fwd"]), statistics.median(times["fwdbwd"])


def main(argv: list[str] | None = None) -> list[str]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--models", nargs="+", default=[m for m, _ in MODELS],
                   choices=[m for m, _ in MODELS])
    args, _ = p.parse_known_args(argv)  # `python -m benchmarks` passes every section the same argv
    if args.threads:
        torch.set_num_threads(args.threads)
    now = datetime.datetime.now(datetime.UTC)
    lines = [f"{now:%Y-%m-%d %H:%M} UTC, {platform.machine()}, torch {torch.__version__}, "
             f"{torch.get_num_threads()} thread(s), B = {B}, median of {args.steps}", "",
             "| model | forward only (ms) | forward + backward (ms) | ratio (unit: 0.33) | "
             "RandSAM's two passes / one forward + backward (unit: 1.33) |",
             "|---|---:|---:|---:|---:|"]
    for name, shape in [(m, shape) for m, shape in MODELS if m in args.models]:
        fwd, both = ratio(name, shape, args.steps, args.warmup)
        lines.append(f"| {name} | {1e3 * fwd:.1f} | {1e3 * both:.1f} | {fwd / both:.2f} | "
                     f"{(fwd + both) / both:.2f} |")
    print("\n".join(lines))
    return ["\n".join(lines)]


if __name__ == "__main__":
    main()
