"""Cost of scoring a split in channels-last vs the default layout (`samtrain.engine.epoch.evaluate`).

Setting: the demo's `small_cnn` (1 x 28 x 28 inputs, 10 classes) scoring 2,000 synthetic images
in batches of 128 with `--threads` torch threads (default 1, as a sweep trial runs), and one
training epoch over 2,000 images (SGD, B = 128) for scale. The two layouts take turns; medians.
Prints evaluate(default) / evaluate(channels-last) and the validation pass's share of an epoch
(training + one validation pass) before and after.

    python -m benchmarks.eval_layout [--threads 1] [--repeats 7]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from samtrain.config.train_config import TrainConfig
from samtrain.engine import epoch
from samtrain.models import build_model

N, B = 2000, 128


@contextlib.contextmanager
def _default_layout(model: nn.Module):
    yield False


def _loader() -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(N, 1, 28, 28, generator=g), torch.randint(0, 10, (N,), generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=B)


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _train_epoch(model: nn.Module, loader: DataLoader, opt: torch.optim.Optimizer) -> None:
    model.train()
    for x, y in loader:
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def measure(threads: int = 1, repeats: int = 7) -> dict[str, float]:
    """Median seconds of a validation pass in each layout and of a training epoch."""
    torch.set_num_threads(threads)
    model = build_model("small_cnn", num_classes=10, in_channels=1, image_size=28)
    loader, cfg, cpu = _loader(), TrainConfig(), torch.device("cpu")
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    score = lambda: epoch.evaluate(model, loader, nn.functional.cross_entropy, cfg, cpu)  # noqa: E731
    times: dict[str, list[float]] = {"channels_last": [], "default": [], "train_epoch": []}
    score()  # warm-up
    original = epoch.eval_layout
    for _ in range(repeats):
        times["channels_last"].append(_timed(score))
        epoch.eval_layout = _default_layout
        try:
            times["default"].append(_timed(score))
        finally:
            epoch.eval_layout = original
        times["train_epoch"].append(_timed(lambda: _train_epoch(model, loader, opt)))
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv: list[str] | None = None) -> list[str]:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.eval_layout")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=7)
    args, _ = ap.parse_known_args(argv)
    t = measure(args.threads, args.repeats)
    share = lambda ev: ev / (ev + t["train_epoch"])  # noqa: E731
    block = (f"threads {args.threads}: validation pass default {t['default']:.3f} s, channels-last "
             f"{t['channels_last']:.3f} s: ratio {t['default'] / t['channels_last']:.2f}x; "
             f"SGD training epoch {t['train_epoch']:.3f} s; validation share of an epoch "
             f"{share(t['default']):.1%} -> {share(t['channels_last']):.1%}")
    print(block, flush=True)
    return [block]


if __name__ == "__main__":
    main()
