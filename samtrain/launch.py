"""Run one training on Ray Train (`TorchTrainer`), with resource requests that can actually fit.

On a 2-core machine a Tune trial's default 1 CPU plus 2 workers x 1 CPU never fits and Train V2
then retries forever; `plan_resources` computes requests from the config and the cluster and
raises `ResourceError` at once when they cannot fit.

Example:
    >>> plan = plan_resources(num_workers=2, cpus_per_worker=1, gpus_per_worker=0,
    ...                       cluster={"CPU": 2.0}, in_tune_trial=True)
    >>> plan.trial_cpus, plan.worker_cpus, plan.threads, plan.max_concurrent
    (0.01, 0.995, 1, 1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from samtrain.config import TrainConfig

TRIAL_CPU = 0.01  # what the Tune trial process itself asks for when it only supervises Train workers


class ResourceError(RuntimeError):
    """The requested resources cannot fit on the cluster; the message says what and why."""


@dataclass(frozen=True)
class ResourcePlan:
    worker_cpus: float          # per Train worker (or the in-process trial)
    worker_gpus: float
    trial_cpus: float           # the Tune trial process itself
    threads: int                # torch threads per worker
    max_concurrent: int         # trials that fit side by side


def plan_resources(num_workers: int, cpus_per_worker: float, gpus_per_worker: float,
                   cluster: dict[str, float], in_tune_trial: bool,
                   in_process: bool = False) -> ResourcePlan:
    """Resource requests for one run of `num_workers` workers on `cluster` (`ray.cluster_resources()`).

    `in_process`: the (single-worker) loop runs inside the Tune trial itself, which then asks for
    the worker's resources. Otherwise the trial asks for `TRIAL_CPU` and each worker for
    `cpus_per_worker` less that share, so that the whole trial needs exactly
    `num_workers * cpus_per_worker` CPUs.
    """
    if cpus_per_worker <= 0:
        raise ResourceError(f"cpus_per_worker={cpus_per_worker} must be > 0")
    if in_process and num_workers != 1:
        raise ResourceError(f"num_workers={num_workers}: only single-worker runs can run in-process")
    have_cpu, have_gpu = cluster.get("CPU", 0.0), cluster.get("GPU", 0.0)
    need_cpu, need_gpu = num_workers * cpus_per_worker, num_workers * gpus_per_worker
    if need_cpu > have_cpu + 1e-9 or need_gpu > have_gpu + 1e-9:
        raise ResourceError(
            f"one run needs {need_cpu:g} CPUs and {need_gpu:g} GPUs ({num_workers} workers x "
            f"{cpus_per_worker:g} CPU, {gpus_per_worker:g} GPU) but the cluster has {have_cpu:g} CPUs "
            f"and {have_gpu:g} GPUs; lower num_workers or resources.cpus_per_worker")
    trial_cpus = 0.0
    worker_cpus = cpus_per_worker
    if in_tune_trial and not in_process:
        trial_cpus = TRIAL_CPU
        worker_cpus = cpus_per_worker - TRIAL_CPU / num_workers
    fits = [math.floor((have_cpu + 1e-9) / need_cpu)]
    if need_gpu > 0:
        fits.append(math.floor((have_gpu + 1e-9) / need_gpu))
    return ResourcePlan(worker_cpus=worker_cpus, worker_gpus=gpus_per_worker,
                        trial_cpus=trial_cpus, threads=max(1, round(cpus_per_worker)),
                        max_concurrent=max(1, min(fits)))


def make_torch_trainer(cfg: TrainConfig, name: str, storage_path: str, plan: ResourcePlan,
                       callbacks: list[Any] | None = None, keep_checkpoints: int = 2,
                       started_at: float | None = None, stop_after_epoch: int | None = None,
                       checkpoint_interval_s: float = 0.0, max_failures: int = 0) -> Any:
    """A `TorchTrainer` for `cfg`; restarting it with the same name and storage resumes the run.

    `stop_after_epoch` ends the run cleanly after that epoch (a later restart continues it).
    `max_failures`: worker-group restarts (from the last checkpoint) after a worker died.
    """
    import ray.train
    from ray.train.torch import TorchTrainer

    from samtrain.loop import train_loop_per_worker

    resources = {"CPU": plan.worker_cpus}
    if plan.worker_gpus:
        resources["GPU"] = plan.worker_gpus
    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"train_config": cfg.model_dump(mode="json"), "threads": plan.threads,
                           "started_at": started_at, "stop_after_epoch": stop_after_epoch,
                           "checkpoint_interval_s": checkpoint_interval_s},
        scaling_config=ray.train.ScalingConfig(num_workers=cfg.num_workers, use_gpu=cfg.use_gpu,
                                               resources_per_worker=resources),
        run_config=ray.train.RunConfig(
            name=name, storage_path=storage_path, callbacks=callbacks or [],
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=keep_checkpoints),
            failure_config=ray.train.FailureConfig(max_failures=max_failures)),
    )
