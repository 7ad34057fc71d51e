"""The MLflow schema of a sweep, written once: tag names, roles, phases, statuses, metrics.

Experiment = sweep name. One parent run per sweep, found by the tag `sweep.id` (a uuid stored in
the sweep's `sweep.json`, never by name alone); one child run per trial:

- parent: tags `sweep.name`, `sweep.id`, `sweep.role=parent`; the study file as an artifact,
  the report under `report/`;
- child: tags `mlflow.parentRunId`, `sweep.name`, `sweep.id`, `sweep.role=child`, `method`,
  `group_key` (config hash without the seed), `trial_id`, `phase`, `status`, `node_id` (and
  `worker_node_ids` for multi-worker trials); params =
  `TrainConfig.flat_params()` plus the run parameters the loop reports (`run_params`); metrics =
  every numeric value of every reported result except Tune's bookkeeping, with step = epoch.

Example:
    >>> tag_filter({Tag.ROLE: Role.CHILD, Tag.PHASE: Phase.SEARCH})
    "tags.`sweep.role` = 'child' and tags.`phase` = 'search'"
    >>> sorted(result_metrics({"epoch": 2, "val_acc": 0.9, "status": "running", "pid": 7}))
    ['epoch', 'val_acc']
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

from samtrain.run_status import FINAL_STATUSES, RunStatus

__all__ = ["Tag", "Role", "Phase", "RunStatus", "FINAL_STATUSES", "MLFLOW_STATE",
           "RUN_PARAMS", "tag_filter", "result_metrics"]


class _Str(str, Enum):
    def __str__(self) -> str:
        return self.value

    __format__ = str.__format__


class Tag(_Str):
    PARENT = "mlflow.parentRunId"
    SWEEP = "sweep.name"
    SWEEP_ID = "sweep.id"
    ROLE = "sweep.role"
    METHOD = "method"
    GROUP_KEY = "group_key"
    TRIAL_ID = "trial_id"
    PHASE = "phase"
    STATUS = "status"
    NODE_ID = "node_id"
    WORKER_NODE_IDS = "worker_node_ids"  # multi-worker trials: every rank's node, rank order


class Role(_Str):
    PARENT = "parent"
    CHILD = "child"
    SINGLE = "single"  # a `sweep train` run: no parent


class Phase(_Str):
    SEARCH = "search"
    CONFIRM = "confirm"
    TRAIN = "train"


# MLflow's own run state for each final status
MLFLOW_STATE = {RunStatus.COMPLETED: "FINISHED", RunStatus.PRUNED: "FINISHED",
                RunStatus.DIVERGED: "FINISHED", RunStatus.FAILED: "FAILED"}

RUN_PARAMS = "run_params"  # result key: a dict of values the run records once as params

# Keys Tune (and Ray Train's report callback) add to every result: not the run's metrics.
_TUNE_KEYS = frozenset({
    "training_iteration", "time_total_s", "time_this_iter_s", "time_since_restore",
    "iterations_since_restore", "timesteps_total", "timesteps_since_restore", "episodes_total",
    "timestamp", "date", "pid", "hostname", "node_ip", "done", "trial_id", "experiment_id",
    "experiment_tag", "should_checkpoint", "checkpoint_dir_name", "config", "checkpoint_path",
})


def tag_filter(tags: Mapping[str, str]) -> str:
    """An MLflow `filter_string` matching every `tag = value` of `tags` (values quoted)."""
    parts = []
    for k, v in tags.items():
        value = str(v).replace("'", "\\'")
        parts.append(f"tags.`{k}` = '{value}'")
    return " and ".join(parts)


def result_metrics(result: Mapping[str, Any]) -> dict[str, float]:
    """Every numeric (non-bool) value of a reported result that is not Tune's bookkeeping."""
    return {k: float(v) for k, v in result.items()
            if k not in _TUNE_KEYS and isinstance(v, int | float) and not isinstance(v, bool)}
