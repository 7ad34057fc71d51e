"""Step overhead of the SAM family against SGD (P1) and the cost of m-sharpness (P2).

One optimizer step (`SAM.backward` + `step` + `zero_grad`; for SGD forward + backward + step) on a
fixed synthetic CIFAR batch (B = 128, 3 x 32 x 32, 10 classes) with CIFAR ResNet-20 on CPU, and
ResNet-18 with bf16 autocast on CUDA when present. After `--warmup` untimed steps each, the
methods take turns (`--block` timed steps per turn, default 1) so that load from other processes
hits all of them alike; the figure is the median of the `--steps` timed steps.

Peak memory: CPU: the bytes alive at the start of the step (parameters, buffers, optimizer state,
gradients, batch; counted from the tensors) plus the highest running sum of the allocator events
that `torch.profiler(profile_memory=True)` records during one extra step. CUDA:
`torch.cuda.max_memory_allocated` over one step after `reset_peak_memory_stats`.

Run: `python -m benchmarks.step_overhead [--steps 20] [--warmup 3] [--block 1] [--threads N]`. CPU figures
need an otherwise idle machine: with more runnable threads than cores, OpenMP synchronisation
slows many-small-kernel steps (the m-sharpness loop) far more than others.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from samtrain.models import build_model
from samtrain.optim import SAM
from samtrain.optim.sam import BATCHED_DEVICES

B = 128
# (label, SAM kwargs or None for plain SGD)
METHODS: list[tuple[str, dict[str, Any] | None]] = [
    ("SGD", None),
    ("SAM", {"rho": 0.05}),
    ("OBF", {"rho": 0.05, "perturbation": "obf", "obf_C": 10.0, "obf_gamma": 1e-12}),
    ("GSAM", {"rho": 0.05, "gsam_alpha": 0.4}),
    ("ASAM", {"rho": 0.8, "adaptive": "before"}),
    ("RandSAM", {"rho": 0.05, "perturbation": "random"}),
    ("SAM m=16 loop", {"rho": 0.05, "perturb_batch_size": 16, "batched": False}),
    ("SAM m=16 batched", {"rho": 0.05, "perturb_batch_size": 16, "batched": True}),
    ("SAM m=32 loop", {"rho": 0.05, "perturb_batch_size": 32, "batched": False}),
    ("SAM m=32 batched", {"rho": 0.05, "perturb_batch_size": 32, "batched": True}),
]


@dataclass
class Row:
    method: str
    step_s: float
    peak_bytes: int
    param_bytes: int


class Runner:
    """One model + optimizer; `step()` does one full optimizer step on the fixed batch."""

    def __init__(self, kw: dict[str, Any] | None, model_name: str, device: torch.device,
                 amp: bool) -> None:
        torch.manual_seed(0)
        self.model = build_model(model_name, num_classes=10, in_channels=3, image_size=32).to(device)
        self.base = torch.optim.SGD(self.model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        self.sam = SAM(self.base, **kw) if kw is not None else None
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(B, 3, 32, 32, generator=g).to(device)
        self.y = torch.randint(0, 10, (B,), generator=g).to(device)
        self.loss_fn = nn.CrossEntropyLoss()
        self.device, self.amp = device, amp

    def step(self) -> None:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            if self.sam is not None:
                self.sam.backward(self.model, self.x, self.y, self.loss_fn)
            else:
                self.loss_fn(self.model(self.x), self.y).backward()
        self.base.step()
        self.base.zero_grad(set_to_none=True)

    def resident_bytes(self) -> int:
        ts = [*self.model.parameters(), *self.model.buffers(), self.x, self.y]
        ts += [p.grad for p in self.model.parameters() if p.grad is not None]
        ts += [v for s in self.base.state.values() for v in s.values() if torch.is_tensor(v)]
        return sum(t.numel() * t.element_size() for t in ts)

    def param_bytes(self) -> int:
        return sum(p.numel() * p.element_size() for p in self.model.parameters())


def timed(runner: Runner) -> float:
    if runner.device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    runner.step()
    if runner.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def peak_bytes(runner: Runner) -> int:
    """Peak bytes alive during one step (see the module docstring for the method)."""
    if runner.device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        runner.step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated()
    start = runner.resident_bytes()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                profile_memory=True) as prof:
        runner.step()
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                    if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU)
    live = high = 0
    for _, n in events:
        live += n
        high = max(high, live)
    return start + high


def measure(model_name: str, device: torch.device, amp: bool, steps: int, warmup: int,
            block: int = 1, methods: list[tuple[str, dict[str, Any] | None]] = METHODS,
            log: Callable[[str], None] = print) -> list[Row]:
    """Median step time per method: `warmup` untimed steps each, then turns of `block` timed
    steps per method until every method has `steps`."""
    runners = [(label, Runner(kw, model_name, device, amp)) for label, kw in methods]
    times: dict[str, list[float]] = {label: [] for label, _ in runners}
    for _, runner in runners:
        for _ in range(warmup):
            runner.step()
    turn = 0
    while any(len(t) < steps for t in times.values()):
        for label, runner in runners:
            for _ in range(min(block, steps - len(times[label]))):
                times[label].append(timed(runner))
        turn += 1
        if turn % 5 == 0:
            log(f"  {min(len(t) for t in times.values())}/{steps} steps")
    return [Row(label, statistics.median(times[label]), peak_bytes(runner), runner.param_bytes())
            for label, runner in runners]


def table(rows: list[Row]) -> str:
    sgd = next(r for r in rows if r.method == "SGD")
    lines = ["| method | step (ms) | / SGD | peak memory (MB) | / SGD | extra vs SGD (param sizes) |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.method} | {1e3 * r.step_s:.1f} | {r.step_s / sgd.step_s:.2f} | "
                     f"{r.peak_bytes / 2**20:.1f} | {r.peak_bytes / sgd.peak_bytes:.2f} | "
                     f"{(r.peak_bytes - sgd.peak_bytes) / r.param_bytes:+.2f} |")
    return "\n".join(lines)


def ratios(rows: list[Row]) -> dict[str, float]:
    """P1 (step vs SGD), P2 (m-sharpness, both paths) and P5 (peak memory) figures, by name."""
    t = {r.method: r.step_s for r in rows}
    by = {r.method: r for r in rows}
    out = {f"P1 {m}/SGD": t[m] / t["SGD"] for m in ("SAM", "OBF", "GSAM", "ASAM", "RandSAM")}
    for path in ("loop", "batched"):
        out[f"P2 {path} = step(m=16)/step(m=128)"] = t[f"SAM m=16 {path}"] / t["SAM"]
    out["P5 SAM peak memory - SGD's (param sizes)"] = (
        (by["SAM"].peak_bytes - by["SGD"].peak_bytes) / by["SAM"].param_bytes)
    return out


def targets(device: torch.device) -> dict[str, float]:
    """The issue's targets; P2 is judged on the path `batched=None` takes on this device."""
    p2 = "batched" if device.type in BATCHED_DEVICES else "loop"
    return {"P1 SAM/SGD": 2.0, "P1 RandSAM/SGD": 1.5,
            f"P2 {p2} = step(m=16)/step(m=128)": 1.3 if device.type == "cuda" else 1.15,
            "P5 SAM peak memory - SGD's (param sizes)": 2.0}


def report(rows: list[Row], title: str, device: torch.device) -> str:
    lines = [f"### {title}", "", table(rows), ""]
    goals = targets(device)
    for k, v in ratios(rows).items():
        target = goals.get(k)
        verdict = "" if target is None else f"  (target <= {target}: {'met' if v <= target else 'MISSED'})"
        lines.append(f"- {k}: {v:.2f}{verdict}")
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return (f"{cpu} ({os.cpu_count()} CPUs){gpu}, torch {torch.__version__}, "
            f"{datetime.date.today().isoformat()}")


def main(argv: list[str] | None = None) -> list[str]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20, help="timed steps per method (>= 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per method first")
    p.add_argument("--block", type=int, default=1, help="timed steps per method and turn")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args, _ = p.parse_known_args(argv)  # `python -m benchmarks` passes every section's options
    if args.threads:
        torch.set_num_threads(args.threads)
    configs = [("resnet20", torch.device("cpu"), False)]
    if torch.cuda.is_available():
        configs.append(("resnet18", torch.device("cuda"), True))
    reports = []
    print(f"machine: {machine()}", flush=True)
    for model_name, device, amp in configs:
        title = (f"{model_name}, B={B}, {device.type}{', bf16 autocast' if amp else ''}, "
                 f"{torch.get_num_threads()} threads, median of {args.steps} steps")
        print(f"measuring {title} ...", flush=True)
        rows = measure(model_name, device, amp, args.steps, args.warmup, args.block)
        reports.append(report(rows, title, device))
        print(reports[-1], flush=True)
    return reports


if __name__ == "__main__":
    main()
