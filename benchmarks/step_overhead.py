"""Step overhead of the SAM family against SGD (P1), the cost of m-sharpness (P2) and of the
automatic m-sharpness path choice (`SAM(batched="auto")`).

One optimizer step (`SAM.backward` + `step` + `zero_grad`; for SGD forward + backward + step) on a
fixed synthetic CIFAR batch (B = 128, 3 x 32 x 32, 10 classes) with CIFAR ResNet-20 on CPU, and
ResNet-18 with bf16 autocast on CUDA when present. After `--warmup` untimed steps each, the
methods take turns (`--block` timed steps per turn, default 1) so that load from other processes
hits all of them alike; the figure is the median of the `--steps` timed steps.

Peak memory: CPU: the bytes alive at the start of the step (parameters, buffers, optimizer state,
gradients, batch; counted from the tensors) plus the highest running sum of the allocator events
that `torch.profiler(profile_memory=True)` records during one extra step. CUDA:
`torch.cuda.max_memory_allocated` over one step after `reset_peak_memory_stats`.

Probe cost (`probe_report`): on fresh processes' decisions, the `PROBE` steps of an "auto" SAM
minus as many steps on the path it chose (median of later steps), against a 640-step run (40
epochs of 16 steps); small_cnn on 1x28x28 inputs (the Fashion-MNIST demo) and ResNet-20.

Run: `python -m benchmarks.step_overhead [--steps 20] [--warmup 3] [--block 1] [--threads N]
[--probe-only]`. CPU figures
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
from samtrain.optim import SAM, path_choice

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
    ("SAM m=16 auto", {"rho": 0.05, "perturb_batch_size": 16}),  # probe finished in the warm-up
]
RUN_STEPS = 640  # the demo: 40 epochs of 16 steps


@dataclass
class Row:
    method: str
    step_s: float
    peak_bytes: int
    param_bytes: int


class Runner:
    """One model + optimizer; `step()` does one full optimizer step on the fixed batch."""

    def __init__(self, kw: dict[str, Any] | None, model_name: str, device: torch.device,
                 amp: bool, shape: tuple[int, int, int] = (3, 32, 32)) -> None:
        torch.manual_seed(0)
        self.model = build_model(model_name, num_classes=10, in_channels=shape[0],
                                 image_size=shape[1]).to(device)
        self.base = torch.optim.SGD(self.model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        self.sam = SAM(self.base, **kw) if kw is not None else None
        g = torch.Generator().manual_seed(1)
        self.x = torch.randn(B, *shape, generator=g).to(device)
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

    def probing(self) -> bool:
        """Whether the next step is still part of a `batched="auto"` probe."""
        sam = self.sam
        m = sam.perturb_batch_size if sam is not None else None
        return (sam is not None and sam.batched == "auto" and m is not None and m < B
                and sam.msharp_choice is None)

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
        while runner.probing():
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
    for path in ("loop", "batched", "auto"):
        out[f"P2 {path} = step(m=16)/step(m=128)"] = t[f"SAM m=16 {path}"] / t["SAM"]
    out["P5 SAM peak memory - SGD's (param sizes)"] = (
        (by["SAM"].peak_bytes - by["SGD"].peak_bytes) / by["SAM"].param_bytes)
    return out


def targets(device: torch.device) -> dict[str, float]:
    """The issue's targets; P2 is judged on the path the default `batched="auto"` takes."""
    return {"P1 SAM/SGD": 2.0, "P1 RandSAM/SGD": 1.5,
            "P2 auto = step(m=16)/step(m=128)": 1.3 if device.type == "cuda" else 1.15,
            "P5 SAM peak memory - SGD's (param sizes)": 2.0}


def probe_cost(model_name: str, shape: tuple[int, int, int], m: int, steady: int = 10
               ) -> dict[str, Any]:
    """Seconds the `batched="auto"` probe costs on top of `len(PROBE)` steps on the chosen path,
    and that as a share of a `RUN_STEPS`-step run; with the choice made."""
    path_choice.clear_decisions()  # as in a fresh process
    Runner(None, model_name, torch.device("cpu"), False, shape).step()  # torch's own first-step costs
    runner = Runner({"rho": 0.05, "perturb_batch_size": m}, model_name, torch.device("cpu"), False,
                    shape)
    probe = [timed(runner) for _ in path_choice.PROBE]
    after = statistics.median(timed(runner) for _ in range(steady))
    extra = sum(probe) - len(probe) * after
    return {"model": model_name, "m": m, **runner.sam.msharp_choice, "step_ms": 1e3 * after,
            "extra_s": extra, "share": extra / (RUN_STEPS * after)}


def probe_report(log: Callable[[str], None] = print) -> str:
    """The probe's cost on the demo setting (small_cnn, 1x28x28, B=128) and on ResNet-20."""
    cases = [("small_cnn", (1, 28, 28), m) for m in (16, 32, 64)] + [("resnet20", (3, 32, 32), 16)]
    lines = [f"### batched=\"auto\" probe, B={B}, {torch.get_num_threads()} threads", "",
             "| model | m | chosen | loop (ms) | batched (ms) | step after (ms) | probe extra (s) "
             f"| / {RUN_STEPS}-step run |", "|---|---:|---|---:|---:|---:|---:|---:|"]
    for model_name, shape, m in cases:
        log(f"  probe {model_name} m={m} ...")
        r = probe_cost(model_name, shape, m)
        lines.append(f"| {model_name} | {m} | {r['msharp_path']} | {r['msharp_loop_ms']:.1f} | "
                     f"{r['msharp_batched_ms']:.1f} | {r['step_ms']:.1f} | {r['extra_s']:.3f} | "
                     f"{100 * r['share']:.2f} % |")
    return "\n".join(lines)


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
    p.add_argument("--probe-only", action="store_true", help="only the batched='auto' probe cost")
    args, _ = p.parse_known_args(argv)  # `python -m benchmarks` passes every section's options
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {machine()}", flush=True)
    if args.probe_only:
        reports = [probe_report()]
        print(reports[0], flush=True)
        return reports
    configs = [("resnet20", torch.device("cpu"), False)]
    if torch.cuda.is_available():
        configs.append(("resnet18", torch.device("cuda"), True))
    reports = []
    for model_name, device, amp in configs:
        title = (f"{model_name}, B={B}, {device.type}{', bf16 autocast' if amp else ''}, "
                 f"{torch.get_num_threads()} threads, median of {args.steps} steps")
        print(f"measuring {title} ...", flush=True)
        rows = measure(model_name, device, amp, args.steps, args.warmup, args.block)
        reports.append(report(rows, title, device))
        print(reports[-1], flush=True)
    reports.append(probe_report())
    print(reports[-1], flush=True)
    return reports


if __name__ == "__main__":
    main()
