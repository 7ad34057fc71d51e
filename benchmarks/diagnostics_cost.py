"""Cost of the training diagnostics (`samtrain.diagnostics`) on the demo setting.

Setting: `small_cnn` (1 x 28 x 28 inputs, 10 classes), 2,000 synthetic training images, B = 128,
SGD (lr 0.05, momentum 0.9) alone or inside SAM (rho 0.05), `--threads` torch threads (default 1,
as a sweep trial runs).

(a) Per-step overhead of the per-step diagnostics: `correct = logits.argmax(1) == y`,
`ForgettingTracker.record` and (SAM) `PerturbedAccumulator.record`, plus both `end_epoch` calls
spread over the epoch's 16 steps. "direct": those calls timed alone (median of many) over the
median bare step; "in step": median instrumented step over median bare step, the two taking turns
(noisier: a few percent of machine noise). Until `SAM.backward` returns `perturb_logits`, the
clean logits stand in for them (same cost).

(b) `measure_sharpness` on 256 training examples (m = 128, rho = 0.002, 10 ascent steps, <= 20 power
iterations with relative tolerance 1e-3, 20 Hutchinson samples), each measure timed on its own
(the others' counts set to 0), after one training epoch, as a ratio to one training epoch.

    python -m benchmarks.diagnostics_cost [--threads 1] [--steps 20] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from samtrain.diagnostics import ForgettingTracker, PerturbedAccumulator, measure_sharpness
from samtrain.models import build_model
from samtrain.optim import SAM

N_TRAIN, B, N_SHARP, M_SHARP = 2000, 128, 256, 128
SHARPNESS = {"sharpness_adaptive": dict(steps=10, hessian_iters=0, trace_samples=0),
             "hessian_top_eig": dict(steps=0, hessian_iters=20, trace_samples=0),
             "hessian_trace": dict(steps=0, hessian_iters=0, trace_samples=20)}


class Trainer:
    """small_cnn with SGD (`sam=False`) or SAM; `step` returns (clean logits, perturbed logits)."""

    def __init__(self, sam: bool) -> None:
        torch.manual_seed(0)
        self.model = build_model("small_cnn", num_classes=10, in_channels=1, image_size=28)
        self.base = torch.optim.SGD(self.model.parameters(), lr=0.05, momentum=0.9)
        self.sam = SAM(self.base, rho=0.05) if sam else None
        self.loss_fn = nn.CrossEntropyLoss()

    def step(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor | None]:
        if self.sam is not None:
            out = self.sam.backward(self.model, x, y, self.loss_fn)
            logits, perturb = out.logits, getattr(out, "perturb_logits", out.logits)
        else:
            logits = self.model(x)
            self.loss_fn(logits, y).backward()
            logits, perturb = logits.detach(), None
        self.base.step()
        self.base.zero_grad(set_to_none=True)
        return logits, perturb


def data() -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(N_TRAIN, 1, 28, 28, generator=g), torch.randint(0, 10, (N_TRAIN,), generator=g)


def record(tracker: ForgettingTracker, acc: PerturbedAccumulator, idx: Tensor, y: Tensor,
           logits: Tensor, perturb: Tensor | None) -> None:
    """The per-step diagnostics the training loop would add."""
    tracker.record(idx, logits.argmax(1) == y)
    if perturb is not None:
        acc.record(logits, perturb, y)


def median_s(fn: Callable[[], Any], n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def step_overhead(sam: bool, x: Tensor, y: Tensor, steps: int) -> dict[str, float]:
    """Bare vs instrumented step medians (taking turns) and the diagnostics timed alone."""
    trainer = Trainer(sam)
    tracker, acc = ForgettingTracker(N_TRAIN, "cpu"), PerturbedAccumulator("cpu")
    batches = [(i, x[i], y[i]) for i in torch.randperm(N_TRAIN, generator=torch.Generator().manual_seed(1))
               .split(B)[: N_TRAIN // B]]
    times: dict[bool, list[float]] = {False: [], True: []}
    for k in range(2 * (3 + steps)):
        idx, xb, yb = batches[k // 2 % len(batches)]
        instrumented = k % 2 == (k // 2) % 2  # alternate which of the pair goes first
        t = time.perf_counter()
        logits, perturb = trainer.step(xb, yb)
        if instrumented:
            record(tracker, acc, idx, yb, logits, perturb)
        if k >= 6:
            times[instrumented].append(time.perf_counter() - t)
    bare, inst = times[False], times[True]
    step_s = statistics.median(bare)
    direct = median_s(lambda: record(tracker, acc, idx, yb, logits, perturb), 500)
    epoch_end = median_s(lambda: (tracker.end_epoch(), acc.end_epoch()), 20)
    per_step = direct + epoch_end / -(-N_TRAIN // B)
    return {"step_s": step_s, "diag_s": per_step, "direct": per_step / step_s,
            "in_step": statistics.median(inst) / step_s - 1.0}


def epoch_s(trainer: Trainer, x: Tensor, y: Tensor) -> float:
    """One training epoch over the 2,000 images (shuffled, last batch partial)."""
    t = time.perf_counter()
    trainer.model.train()
    for idx in torch.randperm(N_TRAIN).split(B):
        trainer.step(x[idx], y[idx])
    return time.perf_counter() - t


def sharpness_cost(x: Tensor, y: Tensor, repeats: int, rho: float) -> tuple[dict[str, float], dict]:
    """Median seconds per measure (after one SAM epoch) and one epoch's seconds for SGD and SAM."""
    epochs = {}
    for name, sam in (("SGD", False), ("SAM", True)):
        trainer = Trainer(sam)
        epoch_s(trainer, x, y)  # warm-up, and weights past initialisation
        epochs[name] = statistics.median(epoch_s(trainer, x, y) for _ in range(repeats))
    model, xs, ys = trainer.model, x[:N_SHARP], y[:N_SHARP]
    secs, values = {}, {}
    for key, counts in SHARPNESS.items():
        def run(counts: dict[str, int] = counts) -> None:
            values.update(measure_sharpness(model, nn.functional.cross_entropy, xs, ys, m=M_SHARP,
                                            rho=rho, **counts))
        secs[key] = median_s(run, repeats)
    secs["total"] = sum(secs.values())
    return {**{f"epoch {k}": v for k, v in epochs.items()}, **secs}, values


def tables(overhead: dict[str, dict[str, float]], cost: dict[str, float],
           values: dict[str, float]) -> list[str]:
    lines = ["| per-step diagnostics | bare step (ms) | diagnostics (ms/step) | direct | in step |",
             "|---|---:|---:|---:|---:|"]
    for name, r in overhead.items():
        lines.append(f"| {name} | {1e3 * r['step_s']:.1f} | {1e3 * r['diag_s']:.3f} | "
                     f"{100 * r['direct']:.2f} % | {100 * r['in_step']:+.1f} % |")
    lines += ["", f"| measure_sharpness ({N_SHARP} examples, m={M_SHARP}) | seconds | / SGD epoch "
              "| / SAM epoch | value |", "|---|---:|---:|---:|---:|"]
    for key in (*SHARPNESS, "total"):
        value = f"{values[key]:.4g}" if key in values else ""
        lines.append(f"| {key} | {cost[key]:.2f} | {cost[key] / cost['epoch SGD']:.2f} | "
                     f"{cost[key] / cost['epoch SAM']:.2f} | {value} |")
    lines.append(f"\nOne epoch ({N_TRAIN} images, B={B}): SGD {cost['epoch SGD']:.2f} s, "
                 f"SAM {cost['epoch SAM']:.2f} s; {torch.get_num_threads()} thread(s).")
    return lines


def main(argv: list[str] | None = None) -> list[str]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--steps", type=int, default=20, help="timed step pairs per method")
    p.add_argument("--repeats", type=int, default=2, help="timed epochs / sharpness runs (median)")
    p.add_argument("--sharpness-rho", type=float, default=0.002,
                   help="rho of adaptive sharpness (cost does not depend on it)")
    args, _ = p.parse_known_args(argv)  # `python -m benchmarks` passes every section's options
    torch.set_num_threads(args.threads)
    x, y = data()
    print("measuring per-step overhead ...", flush=True)
    overhead = {name: step_overhead(sam, x, y, args.steps) for name, sam in (("SGD", False), ("SAM", True))}
    print("measuring measure_sharpness and epochs ...", flush=True)
    cost, values = sharpness_cost(x, y, args.repeats, args.sharpness_rho)
    lines = tables(overhead, cost, values)
    print("\n".join(lines), flush=True)
    return lines


if __name__ == "__main__":
    main()
