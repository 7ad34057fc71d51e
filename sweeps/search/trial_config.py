"""One trial-config shape from search to trainable, built once and read everywhere.

A Tune trial's config is `{"trial": {"method", "phase", "train_config", "group_key"}}`, plus
`"optuna_trial"` (the Optuna trial number) for searched trials: `train_config` is the whole
`TrainConfig` as JSON and `group_key` its hash without the seed. Searched trials (the
define-by-run function, `sweeps.search.sampling`) and fixed ones (confirm runs, `sweep train`)
share it; the trainable, the scheduler, the searcher, the orphan check and the MLflow callback
read it with `read_trial`, none of them needs the study.

Example:
    >>> from samtrain.config.train_config import TrainConfig
    >>> config = trial_config("sam", "search", TrainConfig(rho=0.1), optuna_trial=4)
    >>> t = read_trial(config)
    >>> t.method, t.phase, t.train_config["rho"], t.optuna_trial
    ('sam', 'search', 0.1, 4)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from samtrain.config.train_config import TrainConfig

__all__ = ["KEY", "TrialSpec", "trial_entry", "trial_config", "read_trial", "trial_method"]

KEY = "trial"  # a trial config's one key (Ray adds the captured Optuna values beside it)


@dataclass(frozen=True)
class TrialSpec:
    """What a trial runs: its method, phase, `TrainConfig` (as JSON) and group key."""

    method: str
    phase: str
    train_config: dict[str, Any]
    group_key: str
    optuna_trial: int | None = None

    def config(self) -> TrainConfig:
        """The `TrainConfig` (validated again: the JSON came through Tune's storage)."""
        return TrainConfig(**self.train_config)


def trial_entry(method: str, phase: str, cfg: TrainConfig,
                optuna_trial: int | None = None) -> dict[str, Any]:
    """The value under `KEY`: what `tune.grid_search` gets for fixed configs."""
    entry: dict[str, Any] = {"method": method, "phase": phase,
                             "train_config": cfg.model_dump(mode="json"),
                             "group_key": cfg.group_key()}
    if optuna_trial is not None:
        entry["optuna_trial"] = optuna_trial
    return entry


def trial_config(method: str, phase: str, cfg: TrainConfig,
                 optuna_trial: int | None = None) -> dict[str, Any]:
    """A whole trial config: `{"trial": trial_entry(...)}`."""
    return {KEY: trial_entry(method, phase, cfg, optuna_trial)}


def read_trial(config: Mapping[str, Any]) -> TrialSpec:
    """The `TrialSpec` of a Tune trial config (`trial.config`, or the trainable's `config`)."""
    e = config[KEY]
    return TrialSpec(e["method"], e["phase"], dict(e["train_config"]), e["group_key"],
                     e.get("optuna_trial"))


def trial_method(config: Mapping[str, Any]) -> str:
    """The method of a trial config ("" when it has none, e.g. a trial built by hand)."""
    return str(config.get(KEY, {}).get("method", ""))
