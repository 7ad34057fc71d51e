"""`SAM(batched="auto")`: time both m-sharpness paths on the first real steps and keep the faster.

The loop and the batched (vmap) path compute the same SAM gradient, so probing steps are ordinary
training steps. Per key (`probe_key`: model class and parameter shapes, device, autocast dtype, m,
input shape, SAM variant) the steps follow `PROBE`: one untimed warm-up step per path (first-call costs), then
two timed steps per path, alternating so that machine load hits both alike; the lower mean time
wins (the loop on a tie: it needs less memory). On CUDA the device is synchronized around each
timed step. Decisions are cached per process (`DECISIONS`), so a later run with the same key (a
reused Tune trial actor) takes the chosen path at once.

Example:
    >>> chooser, key = PathChooser(), ("Net", (), "cpu", None, 4, (16, 3))
    >>> for seconds in (0.9, 0.5, 0.3, 0.2, 0.3, 0.2):  # batched, loop, batched, loop, ...
    ...     path, probing = chooser.path(key)
    ...     chooser.record(key, path, seconds)
    >>> chooser.choice
    {'msharp_path': 'loop', 'msharp_loop_ms': 200.0, 'msharp_batched_ms': 300.0}
    >>> chooser.path(key)
    ('loop', False)
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

PROBE = ("batched", "loop", "batched", "loop", "batched", "loop")  # batched first: fails early
WARMUP = 2  # the first step on each path is not timed
DECISIONS: dict[tuple, dict[str, Any]] = {}  # per process: key -> choice
clock = time.perf_counter  # seconds; replaceable in tests

Key = tuple


def probe_key(module: nn.Module, inputs: Tensor, m: int, variant: tuple = ()) -> Key:
    """What the relative speed of the two paths depends on, as plain (picklable) values;
    `variant`: the SAM settings that change the work per chunk (perturbation, ASAM, GSAM)."""
    dev = inputs.device
    amp = str(torch.get_autocast_dtype(dev.type)) if torch.is_autocast_enabled(dev.type) else None
    cls = type(module)
    shapes = tuple((tuple(p.shape), str(p.dtype)) for p in module.parameters())
    return (f"{cls.__module__}.{cls.__qualname__}", shapes, str(dev), amp, m, tuple(inputs.shape),
            variant)


def clear_decisions() -> None:
    """Forget this process's decisions (the next `batched="auto"` run probes again)."""
    DECISIONS.clear()


def tic(device: torch.device) -> float:
    """Start a timed step (waits for queued CUDA work first)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return clock()


def toc(device: torch.device, start: float) -> float:
    """Seconds since `tic` (after the step's CUDA work has finished)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return clock() - start


class PathChooser:
    """The path decisions of one `SAM`: `path(key)` says which path the next step takes,
    `record(key, path, seconds)` reports a probing step, `failed(key)` a batched failure.

    `choice` is the first decision, `{"msharp_path": "loop" | "batched", "msharp_loop_ms": float,
    "msharp_batched_ms": float}` (mean timed step, ms; NaN when not measured), None before.
    """

    def __init__(self) -> None:
        self.choice: dict[str, Any] | None = None
        self.decisions: dict[Key, dict[str, Any]] = {}
        self._steps: dict[Key, list[tuple[str, float]]] = {}

    def path(self, key: Key) -> tuple[str, bool]:
        """(path of the next step with `key`, whether that step is a probing step)."""
        decided = self.decisions.get(key) or DECISIONS.get(key)
        if decided is not None:
            self._settle(key, decided)
            return decided["msharp_path"], False
        return PROBE[len(self._steps.setdefault(key, []))], True

    def record(self, key: Key, path: str, seconds: float) -> None:
        """Report the time of a probing step; the last one of `PROBE` decides."""
        if key in self.decisions:
            return
        steps = self._steps[key]
        steps.append((path, seconds))
        if len(steps) < len(PROBE):
            return
        ms = {p: 1e3 * statistics.mean(s for q, s in steps[WARMUP:] if q == p)
              for p in ("loop", "batched")}
        self._settle(key, {"msharp_path": "batched" if ms["batched"] < ms["loop"] else "loop",
                           "msharp_loop_ms": ms["loop"], "msharp_batched_ms": ms["batched"]})

    def failed(self, key: Key) -> None:
        """The batched path failed: the loop it is, also for later runs in this process."""
        DECISIONS[key] = {"msharp_path": "loop", "msharp_loop_ms": float("nan"),
                          "msharp_batched_ms": float("nan")}
        self._settle(key, DECISIONS[key])

    def _settle(self, key: Key, choice: dict[str, Any]) -> None:
        self.decisions[key] = choice
        DECISIONS.setdefault(key, choice)
        self._steps.pop(key, None)
        if self.choice is None:
            self.choice = dict(choice)

    def state(self) -> list[tuple[Key, dict[str, Any]]]:
        """The decisions, first one first (for `SAM.state_dict`)."""
        return [(k, dict(v)) for k, v in self.decisions.items()]

    def load(self, state: Iterable[tuple[Key, dict[str, Any]]]) -> None:
        """Take over saved decisions (a resumed run keeps its path and its `choice`)."""
        for key, choice in state:
            self.decisions[tuple(key)] = dict(choice)
            if self.choice is None:
                self.choice = dict(choice)
