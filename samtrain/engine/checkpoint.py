"""Save and restore everything needed to continue a run exactly: model, optimizer, schedule, RNG.

Files are written with `torch.save` and read with `torch.load(..., weights_only=True)`.

Example:
    >>> import tempfile, torch
    >>> m = torch.nn.Linear(2, 2); o = torch.optim.SGD(m.parameters(), lr=0.1)
    >>> s = torch.optim.lr_scheduler.LambdaLR(o, lambda _: 1.0)
    >>> d = tempfile.mkdtemp(); _ = save_checkpoint(d, m, o, s, epoch=3, extra={"grad_evals": 10})
    >>> load_checkpoint(d, m, o, s)["epoch"]
    3
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch
from torch import nn

FILE = "state.pt"


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside DistributedDataParallel (or the model itself)."""
    return getattr(model, "module", model)


def save_checkpoint(directory: str | Path, model: nn.Module, optimizer: Any, scheduler: Any,
                    epoch: int, extra: dict[str, Any] | None = None) -> Path:
    state = {
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": epoch,
        "rng_torch": torch.get_rng_state(),
        "rng_python": random.getstate(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "extra": extra or {},
    }
    path = Path(directory) / FILE
    torch.save(state, path)
    return path


def load_checkpoint(directory: str | Path, model: nn.Module, optimizer: Any,
                    scheduler: Any) -> dict[str, Any]:
    """Restore states in place; return `{"epoch": last finished epoch, "extra": {...}}`."""
    state = torch.load(Path(directory) / FILE, map_location="cpu", weights_only=True)
    unwrap(model).load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng_torch"])
    random.setstate(_as_python_state(state["rng_python"]))
    if state["rng_cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng_cuda"])
    return {"epoch": int(state["epoch"]), "extra": state["extra"]}


def _as_python_state(s: Any) -> tuple:
    version, internal, gauss = s
    return (version, tuple(internal), gauss)
