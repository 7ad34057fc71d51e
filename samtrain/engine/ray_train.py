"""The Ray Train adapter, the only module that imports `ray.train`: a `TorchTrainer` for a
`TrainConfig`, the entry point its workers run, and the `WorkerContext` they run it with.

Each worker runs `train_loop_per_worker` (the loop of `samtrain.engine.loop` against a
`RayTrainContext`); the run checkpoints into `storage_path/name`, so starting a trainer again with
the same name and storage resumes it.

Example::

    trainer = make_torch_trainer(cfg, "digits-ddp", "/tmp/train", cpus_per_worker=1.0)
    result = trainer.fit()
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from samtrain.config.train_config import TrainConfig
from samtrain.engine.worker_context import WorkerContext, checkpoint_as_dir, node_id

HEALTH_CHECK_ENV, HEALTH_CHECK_INTERVAL_S = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.5"


def make_torch_trainer(cfg: TrainConfig, name: str, storage_path: str, *,
                       cpus_per_worker: float = 1.0, gpus_per_worker: float = 0.0,
                       threads: int = 1, callbacks: list[Any] | None = None,
                       keep_checkpoints: int = 2, started_at: float | None = None,
                       stop_after_epoch: int | None = None, checkpoint_interval_s: float = 0.0,
                       max_failures: int = 0) -> Any:
    """A `TorchTrainer` of `cfg.num_workers` workers, each asking for `cpus_per_worker` CPUs and
    `gpus_per_worker` GPUs and training with `threads` torch threads.

    `stop_after_epoch` ends the run cleanly after that epoch (a later restart continues it).
    `max_failures`: worker-group restarts (from the last checkpoint) after a worker died.
    """
    import ray.train
    from ray.train.torch import TorchTrainer

    # Ray Train's controller polls its workers every 2 s by default, so a run ends up to 2 s after
    # its last report and notices a dead worker as late; 0.5 s unless the user set it (Ray passes
    # it on from here to the controller)
    os.environ.setdefault(HEALTH_CHECK_ENV, HEALTH_CHECK_INTERVAL_S)
    resources = {"CPU": cpus_per_worker}
    if gpus_per_worker:
        resources["GPU"] = gpus_per_worker
    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"train_config": cfg.model_dump(mode="json"), "threads": threads,
                           "started_at": started_at, "stop_after_epoch": stop_after_epoch,
                           "checkpoint_interval_s": checkpoint_interval_s},
        scaling_config=ray.train.ScalingConfig(num_workers=cfg.num_workers, use_gpu=cfg.use_gpu,
                                               resources_per_worker=resources),
        run_config=ray.train.RunConfig(
            name=name, storage_path=storage_path, callbacks=callbacks or [],
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=keep_checkpoints),
            failure_config=ray.train.FailureConfig(max_failures=max_failures)),
    )


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Ray Train entry point: `{"train_config": TrainConfig dict, "threads", "started_at",
    "stop_after_epoch", "checkpoint_interval_s"}` (see `samtrain.engine.loop.run_training`)."""
    from samtrain.engine.allocator import hold_freed_memory
    from samtrain.engine.loop import run_training

    hold_freed_memory()  # Ray Train runs this in a thread of its own: keep its heap (glibc)
    run_training(TrainConfig(**config["train_config"]), RayTrainContext(), config.get("threads"),
                 config.get("started_at"), config.get("stop_after_epoch"),
                 config.get("checkpoint_interval_s", 0.0))


class RayTrainContext(WorkerContext):
    """Inside a `ray.train.torch.TorchTrainer` worker: every rank calls `report` (it is a barrier)."""

    def __init__(self) -> None:
        import ray.train

        ctx = ray.train.get_context()
        self.world_rank = ctx.get_world_rank()
        self.world_size = ctx.get_world_size()
        self.local_rank = ctx.get_local_rank()

    def device(self, use_gpu: bool) -> torch.device:
        if use_gpu:
            import ray.train.torch

            return ray.train.torch.get_device()
        return torch.device("cpu")

    def prepare_model(self, model: nn.Module, device: torch.device) -> nn.Module:
        import ray.train.torch

        if self.world_size == 1:
            return model.to(device)
        return ray.train.torch.prepare_model(model, move_to_device=device)

    def resume_dir(self) -> contextlib.AbstractContextManager[Path | None]:
        import ray.train

        return checkpoint_as_dir(ray.train.get_checkpoint())

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        import ray.train

        ckpt = ray.train.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
        ray.train.report({**metrics, "node_id": node_id()}, checkpoint=ckpt)
