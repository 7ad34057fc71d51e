"""Measured cost of the efficient SAM variants against SGD: step time and logged gradient
evaluations per step, in one run.

Each method trains its own copy of a model on a cycle of 8 fixed synthetic batches (B = 128):
SGD; SAM; SAM every 5th step; SAM with probability 0.2; AE-SAM (the paper's c from 1 to -1
over a 640-step run, decay 0.9); LookSAM (k = 5, alpha = 0.7); Momentum-SAM (rho = 0.3). After
`--warmup` untimed steps each, the methods take turns: in a turn each takes `--block` timed steps
(default 5: one LookSAM cycle), interleaved one step at a time, so that load from other processes
hits all alike. Per turn, a method's time over SGD's in the same turn is one ratio; the figure is
the median over turns.
"grad evals / step" is what `SAM.last_step` logged over the timed steps (SGD: 1 a step).

The issue's targets: LookSAM k=5 logs 1.2 +- 0.05 gradient evaluations a step and its step costs
within 10 % of that (SGD = 1); Momentum-SAM logs 1.0 and costs <= 1.05 SGD steps.

Run: `python -m benchmarks.efficient_cost [--turns 30] [--block 5] [--warmup 5] [--threads 1]
[--model small_cnn|resnet20]`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch
from torch import nn

from benchmarks.step_overhead import machine
from samtrain.models import build_model
from samtrain.optim import SAM

B = 128
RUN_STEPS = 640
METHODS: list[tuple[str, dict[str, Any] | None]] = [
    ("SGD", None),
    ("SAM", {"rho": 0.05}),
    ("SAM every 5", {"rho": 0.05, "perturb_policy": "every", "perturb_every": 5}),
    ("SAM p=0.2", {"rho": 0.05, "perturb_policy": "prob", "perturb_prob": 0.2}),
    ("AE-SAM", {"rho": 0.05, "perturb_policy": "aesam", "total_steps": RUN_STEPS}),
    ("LookSAM k=5", {"rho": 0.05, "perturb_policy": "looksam", "perturb_every": 5,
                     "looksam_alpha": 0.7}),
    ("MSAM", {"rho": 0.3, "perturbation": "momentum"}),
]
SHAPES = {"small_cnn": (1, 28, 28), "resnet20": (3, 32, 32)}
TARGETS = {"LookSAM k=5": (1.2, 0.05, 0.10), "MSAM": (1.0, 0.0, 0.05)}


class Trainer:
    """One method's model and optimizer on the cycle of batches."""

    def __init__(self, kw: dict[str, Any] | None, model_name: str) -> None:
        shape = SHAPES[model_name]
        torch.manual_seed(0)
        self.model = build_model(model_name, num_classes=10, in_channels=shape[0],
                                 image_size=shape[1])
        self.base = torch.optim.SGD(self.model.parameters(), lr=0.05, momentum=0.9,
                                    weight_decay=5e-4)
        self.sam = SAM(self.base, **kw) if kw is not None else None
        g = torch.Generator().manual_seed(1)
        self.batches = [(torch.randn(B, *shape, generator=g), torch.randint(0, 10, (B,), generator=g))
                        for _ in range(8)]
        self.loss_fn = nn.CrossEntropyLoss()
        self.t = 0
        self.grad_evals = 0.0

    def step(self) -> float:
        """One optimizer step; returns the gradient evaluations it logged."""
        x, y = self.batches[self.t % len(self.batches)]
        self.t += 1
        if self.sam is not None:
            self.sam.backward(self.model, x, y, self.loss_fn)
            self.sam.step()
            self.sam.zero_grad()
            return self.sam.last_step.grad_evals
        self.loss_fn(self.model(x), y).backward()
        self.base.step()
        self.base.zero_grad(set_to_none=True)
        return 1.0

    def block(self, n: int) -> tuple[float, float]:
        """(seconds, gradient evaluations) of `n` steps."""
        start, evals = time.perf_counter(), 0.0
        for _ in range(n):
            evals += self.step()
        return time.perf_counter() - start, evals


def measure(model_name: str, turns: int, block: int, warmup: int) -> list[dict[str, Any]]:
    """Per method: median over turns of its turn time / SGD's, step ms, grad evals a step. In a
    turn every method takes `block` steps, interleaved one step at a time."""
    trainers = [(label, Trainer(kw, model_name)) for label, kw in METHODS]
    for _, tr in trainers:
        for _ in range(warmup):
            tr.step()
    secs: dict[str, list[float]] = {label: [] for label, _ in trainers}
    evals = dict.fromkeys(secs, 0.0)
    for turn in range(turns):
        order = trainers if turn % 2 == 0 else trainers[::-1]  # alternate who goes first
        spent = dict.fromkeys(secs, 0.0)
        for _ in range(block):
            for label, tr in order:
                s, e = tr.block(1)
                spent[label] += s
                evals[label] += e
        for label in secs:
            secs[label].append(spent[label])
        if (turn + 1) % 5 == 0:
            print(f"  turn {turn + 1}/{turns}", flush=True)
    rows = []
    for label, _ in trainers:
        per_turn = [a / b for a, b in zip(secs[label], secs["SGD"], strict=True)]
        rows.append({"method": label, "step_ms": 1e3 * statistics.median(secs[label]) / block,
                     "cost": statistics.median(per_turn),
                     "evals": evals[label] / (turns * block)})
    return rows


def report(rows: list[dict[str, Any]], title: str) -> str:
    lines = [f"### {title}", "", "| method | step (ms) | step / SGD (median of turns) | "
             "grad evals / step (logged) | cost / logged evals |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['step_ms']:.1f} | {r['cost']:.3f} | "
                     f"{r['evals']:.3f} | {r['cost'] / r['evals']:.3f} |")
    lines.append("")
    by = {r["method"]: r for r in rows}
    for label, (evals, evals_tol, cost_tol) in TARGETS.items():
        r = by[label]
        logged_ok = abs(r["evals"] - evals) <= evals_tol + 1e-9
        if label == "MSAM":
            cost_ok, goal = r["cost"] <= 1 + cost_tol, f"step <= {1 + cost_tol:.2f} SGD steps"
        else:
            cost_ok = abs(r["cost"] / r["evals"] - 1) <= cost_tol
            goal = f"step within {cost_tol:.0%} of the logged evals"
        lines.append(f"- {label}: logs {r['evals']:.3f} grad evals a step (target {evals} +- "
                     f"{evals_tol}: {'met' if logged_ok else 'MISSED'}); costs {r['cost']:.3f} "
                     f"SGD steps ({goal}: {'met' if cost_ok else 'MISSED'})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[str]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--turns", type=int, default=30, help="timed turns")
    p.add_argument("--block", type=int, default=5, help="timed steps per method and turn")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps per method first")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--model", choices=sorted(SHAPES), default=None,
                   help="one model (default: small_cnn, the demo's, then resnet20)")
    args, _ = p.parse_known_args(argv)  # `python -m benchmarks` passes every section's options
    torch.set_num_threads(args.threads)
    print(f"machine: {machine()}", flush=True)
    reports = []
    for model_name in [args.model] if args.model else ["small_cnn", "resnet20"]:
        title = (f"{model_name}, B={B}, cpu, {args.threads} thread(s), {args.turns} turns of "
                 f"{args.block} interleaved steps")
        print(f"measuring {title} ...", flush=True)
        reports.append(report(measure(model_name, args.turns, args.block, args.warmup), title))
        print(reports[-1], flush=True)
    return reports


if __name__ == "__main__":
    main()
