"""The MLflow schema of a sweep, written once: tag names, roles, phases, statuses, metrics.

Experiment = sweep name. One parent run per sweep, found by the tag `sweep.id` (a uuid stored in
the sweep's `sweep.json`, never by name alone); one child run per trial:

- parent: tags `sweep.name`, `sweep.id`, `sweep.role=parent`; the study file as an artifact,
  the report under `report/`;
- child: tags `mlflow.parentRunId`, `sweep.name`, `sweep.id`, `sweep.role=child`, `method`,
  `group_key` (config hash without the seed), `trial_id`, `phase`, `status`, `node_id` (and
  `worker_node_ids` for multi-worker trials); params = `method` and the `TrainConfig` fields
  that act on the run (`TrainConfig.applied_params`: no `rho` on plain SGD) plus the run
  parameters the loop reports (`run_params`: the m-sharpness path, and the training process's
  torch, CUDA and device); artifact `config.json` = the whole resolved `TrainConfig`; metrics =
  every numeric value of every reported result except Tune's bookkeeping, with step = epoch;
- every run (parent, child, and a `sweep train` run, `sweep.role=single`): tags
  `mlflow.source.git.commit` and `git_dirty` (the user's project, else samsweep's checkout),
  `mlflow.source.name`, `mlflow.user`, `samsweep.version` (and `samsweep.git_commit`,
  `samsweep.git_dirty` from a checkout) and the artifact `environment.json`, measured by the
  driver that created it (`sweeps.store.provenance`).

`status` is the precise outcome; MLflow's own run state follows it (`MLFLOW_STATE`): completed
-> FINISHED, pruned -> KILLED, diverged and failed -> FAILED. A child run read back is a
`RunRecord` (its params typed again by `parse_params`, the fields not logged filled with their
defaults by `with_defaults`).

Example:
    >>> tag_filter({Tag.ROLE: Role.CHILD, Tag.PHASE: Phase.SEARCH})
    "tags.`sweep.role` = 'child' and tags.`phase` = 'search'"
    >>> sorted(result_metrics({"epoch": 2, "val_acc": 0.9, "status": "running", "pid": 7}))
    ['epoch', 'val_acc']
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from samtrain.config import TrainConfig
from samtrain.run_status import FINAL_STATUSES, RunStatus

__all__ = ["Tag", "Role", "Phase", "RunStatus", "FINAL_STATUSES", "MLFLOW_STATE",
           "ENVIRONMENT_ARTIFACT", "CONFIG_ARTIFACT", "RUN_PARAMS", "tag_filter", "result_metrics",
           "RunRecord", "parse_params", "with_defaults", "train_config_of"]


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
    GIT_COMMIT = "mlflow.source.git.commit"  # MLflow's standard tag: the launching code's commit
    GIT_DIRTY = "git_dirty"  # "true" when tracked files differed from that commit
    SOURCE_NAME = "mlflow.source.name"  # the study file, inside its repository
    USER = "mlflow.user"
    PACKAGE_VERSION = "samsweep.version"  # the installed samsweep
    PACKAGE_COMMIT = "samsweep.git_commit"  # samsweep's checkout, when it runs from one
    PACKAGE_DIRTY = "samsweep.git_dirty"


class Role(_Str):
    PARENT = "parent"
    CHILD = "child"
    SINGLE = "single"  # a `sweep train` run: no parent


class Phase(_Str):
    SEARCH = "search"
    SELECT = "select"    # `confirm --top K > 1`: seeds that choose among a method's K configs
    CONFIRM = "confirm"  # fresh seeds that report the chosen config's test score
    TRAIN = "train"
    TRANSFER = "transfer"        # `sweep transfer`: a confirmed checkpoint fine-tuned on a target
    TRANSFER_LR = "transfer-lr"  # its lr searched once on the target's validation split


# MLflow's own run state for each final status (the `status` tag keeps the precise word)
MLFLOW_STATE = {RunStatus.COMPLETED: "FINISHED", RunStatus.PRUNED: "KILLED",
                RunStatus.DIVERGED: "FAILED", RunStatus.FAILED: "FAILED"}

ENVIRONMENT_ARTIFACT = "environment.json"  # every run: the launching driver's environment
CONFIG_ARTIFACT = "config.json"  # every child and single run: its whole resolved TrainConfig

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


@dataclass
class RunRecord:
    """One trial run: tags, typed params, last metric values and per-epoch history."""

    run_id: str
    method: str
    phase: str
    status: str
    group_key: str
    seed: int | None
    params: dict[str, Any]
    final: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    device_seconds: float = 0.0
    grad_evals: float = 0.0
    trial_id: str = ""
    start_time: int = 0
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def full_length(self) -> bool:
        """Completed all its configured epochs."""
        return (self.status == RunStatus.COMPLETED
                and int(self.final.get("epoch", -1)) == int(self.params.get("epochs", -2)))


@cache
def _adapter(name: str) -> TypeAdapter[Any]:
    return TypeAdapter(TrainConfig.model_fields[name].annotation)


def parse_params(raw: dict[str, str]) -> dict[str, Any]:
    """MLflow's string params -> Python values, typed by the `TrainConfig` field of each name.

    Unknown names are parsed as YAML scalars; `"None"` is None; mappings were written as JSON.

    >>> parse_params({"rho": "0.05", "perturb_batch_size": "None", "model": "small_cnn",
    ...               "model_kwargs": '{"eps": 1e-05}'})
    {'rho': 0.05, 'perturb_batch_size': None, 'model': 'small_cnn', 'model_kwargs': {'eps': 1e-05}}
    """
    out: dict[str, Any] = {}
    for k, s in raw.items():
        if s == "None":
            out[k] = None
            continue
        try:
            loaded = yaml.safe_load(s)
        except yaml.YAMLError:
            loaded = s
        if k not in TrainConfig.model_fields:
            out[k] = loaded
            continue
        for candidate in (s, _json(s), loaded):  # "small_cnn" as str; mappings JSON; "[3, 32, 32]"
            try:
                out[k] = _adapter(k).validate_python(candidate)
                break
            except ValidationError:
                continue
        else:
            out[k] = loaded
    return out


def _json(s: str) -> Any:
    """`s` read as JSON (how mappings are written: YAML would read `1e-05` as a string), else
    `s`."""
    try:
        return json.loads(s)
    except ValueError:
        return s


def with_defaults(params: dict[str, Any]) -> dict[str, Any]:
    """`params` plus the default of every `TrainConfig` field it lacks (a field that did not act
    on the run is not logged: `TrainConfig.applied_params`).

    >>> p = with_defaults({"perturbation": "none", "msharp_path": "loop"})
    >>> p["rho"], p["perturbation"], p["msharp_path"], p["synthetic_shape"]
    (0.05, 'none', 'loop', (3, 32, 32))
    """
    defaults = {k: f.get_default(call_default_factory=True)
                for k, f in TrainConfig.model_fields.items() if k not in params}
    return {**defaults, **params}


def train_config_of(params: dict[str, Any]) -> TrainConfig:
    """The `TrainConfig` of a run's params (extra run parameters such as `msharp_path` dropped;
    fields not logged take their defaults)."""
    return TrainConfig.build({k: v for k, v in params.items() if k in TrainConfig.model_fields})
