"""What one trial asks of the cluster: resource requests that can actually fit.

On a 2-core machine a Tune trial's default 1 CPU plus 2 workers x 1 CPU never fits and Train V2
then retries forever; `plan_resources` computes requests from the study's `resources` and the
cluster and raises `ResourceError` at once when they cannot fit. A single-worker trial trains in
the Tune trial's own process, which asks for the worker's resources; a multi-worker trial asks
for `TRIAL_CPU` itself and runs a Ray Train worker group.

Example:
    >>> plan = plan_resources(num_workers=2, cpus_per_worker=1, gpus_per_worker=0,
    ...                       cluster={"CPU": 2.0})
    >>> plan.trial_cpus, plan.worker_cpus, plan.threads, plan.max_concurrent
    (0.01, 0.995, 1, 1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sweeps.errors import ResourceError
from sweeps.study.spec import Resources

__all__ = ["TRIAL_CPU", "ResourcePlan", "plan_resources", "trial_plan", "concurrency"]

TRIAL_CPU = 0.01  # what the Tune trial process itself asks for when it only supervises Train workers


@dataclass(frozen=True)
class ResourcePlan:
    worker_cpus: float          # per Train worker (or the in-process trial)
    worker_gpus: float
    trial_cpus: float           # the Tune trial process itself (0: it is the worker)
    threads: int                # torch threads per worker
    max_concurrent: int         # trials that fit side by side


def plan_resources(num_workers: int, cpus_per_worker: float, gpus_per_worker: float,
                   cluster: dict[str, float], in_process: bool = False) -> ResourcePlan:
    """Requests for one trial of `num_workers` workers on `cluster` (`ray.cluster_resources()`).

    `in_process`: the (single-worker) loop runs inside the Tune trial itself, which then asks for
    the worker's resources. Otherwise the trial asks for `TRIAL_CPU` and each worker for
    `cpus_per_worker` less its share of that, so the whole trial needs exactly
    `num_workers * cpus_per_worker` CPUs.
    """
    if cpus_per_worker <= 0:
        raise ResourceError(f"resources.cpus_per_worker: value {cpus_per_worker} is invalid: "
                            "must be > 0")
    if in_process and num_workers != 1:
        raise ResourceError(f"resources.workers: value {num_workers} is invalid: only "
                            "single-worker runs can run in-process")
    have_cpu, have_gpu = cluster.get("CPU", 0.0), cluster.get("GPU", 0.0)
    need_cpu, need_gpu = num_workers * cpus_per_worker, num_workers * gpus_per_worker
    if need_cpu > have_cpu + 1e-9 or need_gpu > have_gpu + 1e-9:
        raise ResourceError(
            f"one run needs {need_cpu:g} CPUs and {need_gpu:g} GPUs ({num_workers} workers x "
            f"{cpus_per_worker:g} CPU, {gpus_per_worker:g} GPU) but the cluster has {have_cpu:g} CPUs "
            f"and {have_gpu:g} GPUs; lower num_workers or resources.cpus_per_worker")
    trial_cpus, worker_cpus = 0.0, cpus_per_worker
    if not in_process:
        trial_cpus = TRIAL_CPU
        worker_cpus = cpus_per_worker - TRIAL_CPU / num_workers
    fits = [math.floor((have_cpu + 1e-9) / need_cpu)]
    if need_gpu > 0:
        fits.append(math.floor((have_gpu + 1e-9) / need_gpu))
    return ResourcePlan(worker_cpus=worker_cpus, worker_gpus=gpus_per_worker,
                        trial_cpus=trial_cpus, threads=max(1, round(cpus_per_worker)),
                        max_concurrent=max(1, min(fits)))


def trial_plan(resources: Resources, cluster: dict[str, float], in_process: bool | None = None
               ) -> tuple[ResourcePlan, bool]:
    """The resource plan of one trial and whether it runs in the trial's own process
    (default: when it has one worker)."""
    if in_process is None:
        in_process = resources.workers == 1
    plan = plan_resources(resources.workers, resources.cpus_per_worker, resources.gpus_per_worker,
                          cluster, in_process=in_process)
    return plan, in_process


def concurrency(resources: Resources, plan: ResourcePlan) -> int:
    """Trials at once: all that fit, or fewer if the study says so."""
    limit = resources.max_concurrent_trials
    return min(plan.max_concurrent, limit) if limit else plan.max_concurrent
