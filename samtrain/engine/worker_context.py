"""Where the training loop runs: its rank, device, DDP wrapping, checkpoint, and where it reports.

The loop in `samtrain.engine.loop` talks only to a `WorkerContext`: its rank and world size, how
to wrap the model for data parallelism, the checkpoint to resume from, and `report(metrics,
checkpoint_dir)`. `LocalContext` runs the loop in the current process (tests, benchmarks);
`samtrain.engine.ray_train.RayTrainContext` is used inside `TorchTrainer` workers. The sweep
launcher adds its own for in-process Tune trials (`sweeps.execution.trial_context`).

Example:
    >>> ctx = LocalContext()
    >>> ctx.report({"epoch": 1, "val_acc": 0.5}, None)
    >>> ctx.history[-1]["val_acc"]
    0.5
"""

from __future__ import annotations

import contextlib
import platform
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn


class WorkerContext:
    """Single-process defaults; subclasses override what differs."""

    world_rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    def device(self, use_gpu: bool) -> torch.device:
        if use_gpu:
            if not torch.cuda.is_available():
                raise RuntimeError("use_gpu: true, but CUDA is not available on this worker")
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")

    def prepare_model(self, model: nn.Module, device: torch.device) -> nn.Module:
        return model.to(device)

    @contextlib.contextmanager
    def resume_dir(self) -> Iterator[Path | None]:
        """The directory of the checkpoint to resume from, or None for a fresh start."""
        yield None

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        raise NotImplementedError


class LocalContext(WorkerContext):
    """Runs in this process; keeps reported metrics and copies checkpoints to `checkpoint_root`."""

    def __init__(self, checkpoint_root: str | Path | None = None, resume_from: str | Path | None = None):
        self.history: list[dict[str, Any]] = []
        self.checkpoint_root = Path(checkpoint_root) if checkpoint_root else None
        self.latest_checkpoint: Path | None = Path(resume_from) if resume_from else None

    @contextlib.contextmanager
    def resume_dir(self) -> Iterator[Path | None]:
        yield self.latest_checkpoint

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        self.history.append(dict(metrics))
        if checkpoint_dir is not None and self.checkpoint_root is not None:
            dest = self.checkpoint_root / f"checkpoint_{int(metrics.get('epoch', 0)):06d}"
            shutil.copytree(checkpoint_dir, dest, dirs_exist_ok=True)
            self.latest_checkpoint = dest


def runtime_facts(device: torch.device) -> dict[str, Any]:
    """What this process trains with: torch's version and CUDA build ("none" for a CPU build),
    whether CUDA is usable, the device and its name (the GPU's, else the CPU model's). The loop
    reports them once per run as run parameters.

    >>> facts = runtime_facts(torch.device("cpu"))
    >>> sorted(facts), facts["device"], facts["torch_version"] == torch.__version__
    (['cuda_available', 'cuda_version', 'device', 'device_name', 'torch_version'], 'cpu', True)
    """
    cuda = device.type == "cuda"
    return {"torch_version": str(torch.__version__), "cuda_version": str(torch.version.cuda or "none"),
            "cuda_available": torch.cuda.is_available(), "device": str(device),
            "device_name": str(torch.cuda.get_device_name(device)) if cuda else _cpu_name()}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def node_id() -> str:
    """The id of the Ray node this process runs on (reported with every result)."""
    import ray

    return ray.get_runtime_context().get_node_id()


@contextlib.contextmanager
def checkpoint_as_dir(ckpt: Any) -> Iterator[Path | None]:
    """The local directory of a Ray `Checkpoint` (or None for no checkpoint)."""
    if ckpt is None:
        yield None
        return
    with ckpt.as_directory() as d:
        yield Path(d)


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    """A temporary directory for writing one checkpoint before it is reported."""
    d = tempfile.mkdtemp(prefix="samtrain-ckpt-")
    try:
        yield Path(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)
