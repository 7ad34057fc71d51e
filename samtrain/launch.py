"""Run one training on Ray Train: a `TorchTrainer` for a `TrainConfig`.

Each worker runs `samtrain.loop.train_loop_per_worker`; the run checkpoints into
`storage_path/name`, so starting a trainer again with the same name and storage resumes it.

Example::

    trainer = make_torch_trainer(cfg, "digits-ddp", "/tmp/train", cpus_per_worker=1.0)
    result = trainer.fit()
"""

from __future__ import annotations

from typing import Any

from samtrain.config import TrainConfig


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

    from samtrain.loop import train_loop_per_worker

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
