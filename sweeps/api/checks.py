"""What every sweep operation checks before it starts Ray or writes anything: where sweeps are
stored, which MLflow tracking URI, which Ray cluster, and the user's own model/data/loss.

Example:
    >>> import os
    >>> os.environ.pop("SWEEP_STORAGE", None) and None
    >>> resolve_storage(None), resolve_storage("/data/runs")
    ('runs', '/data/runs')
"""

from __future__ import annotations

import os
from typing import Any

from sweeps.errors import SweepError
from sweeps.execution.ray_cluster import check_address
from sweeps.store.sweep_dir import SweepMeta, check_storage
from sweeps.store.tracking_uri import (
    absolute_tracking_uri,
    check_tracking_uri,
    default_tracking_uri,
    refuse_secrets,
)
from sweeps.study.spec import StudySpec, build_train_config, component_configs

__all__ = ["DEFAULT_STORAGE", "STORAGE_ENV", "resolve_storage", "resolve_tracking_uri",
           "check_cluster", "check_components", "check_loads", "check_transfer_target",
           "positive"]

DEFAULT_STORAGE = "runs"
STORAGE_ENV = "SWEEP_STORAGE"


def resolve_storage(storage: str | None) -> str:
    """`storage` if given, else `$SWEEP_STORAGE`, else `runs` (under the working directory)."""
    if storage is not None:
        return str(storage)
    return os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


def checked_storage(storage: str | None) -> str:
    """`resolve_storage`, checked (`sweeps.store.sweep_dir.check_storage`); an unusable
    `$SWEEP_STORAGE` is named as such."""
    where = resolve_storage(storage)
    try:
        check_storage(where)
    except SweepError as e:
        if storage is None and os.environ.get(STORAGE_ENV):
            raise SweepError(str(e).replace("--storage", f"{STORAGE_ENV} (environment)", 1)) from None
        raise
    return where


def positive(name: str, value: int | None) -> None:
    """Raise `SweepError` naming `name` unless `value` is None or >= 1."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise SweepError(f"{name}: value {value!r} is invalid: must be an integer >= 1")


def resolve_tracking_uri(uri: str | None, meta: SweepMeta | None = None) -> str:
    """`uri`, else the sweep's (from its sweep.json: it wins over the environment), else
    `$MLFLOW_TRACKING_URI`, else sqlite:///$PWD/mlflow.db; checked, sqlite paths absolute.

    A URI holding a password is refused, naming where the password goes instead
    (`sweeps.store.tracking_uri.refuse_secrets`)."""
    key = "--tracking-uri"
    if uri is not None:
        refuse_secrets(uri, key)
    if meta is not None:
        if uri is not None and meta.tracking_uri not in (uri, absolute_tracking_uri(uri)):
            raise SweepError(f"--tracking-uri: value {uri!r} differs from the tracking URI of "
                             f"sweep {meta.name!r} ({meta.tracking_uri}, in its sweep.json); "
                             "omit it")
        if uri is None:
            uri, key = meta.tracking_uri, f"tracking_uri of sweep {meta.name!r} (its sweep.json)"
    elif uri is None:
        uri, key = default_tracking_uri()
    uri = absolute_tracking_uri(uri)
    check_tracking_uri(uri, key=key)
    return uri


def check_cluster(address: str | None) -> None:
    """A Ray address that answers (None: a local Ray will be started)."""
    if address is not None:
        check_address(address)


def check_components(cfgs: list[Any], address: str | None) -> None:
    """Model, dataset and loss of every config: imported, and (on a local cluster, whose files
    are this machine's) built and tried on two examples (`samtrain.engine.preflight`). Configs of
    built-ins alone are skipped: nothing of the user's to check, and no torch import in the
    driver."""
    from samtrain.config.registry import KINDS, is_builtin

    cfgs = [c for c in cfgs if not all(is_builtin(k, getattr(c, k)) for k in KINDS)
            or c.model_kwargs or c.dataset_kwargs or c.loss_kwargs or c.eval_sets or c.init_from]
    if not cfgs:
        return
    from samtrain.engine.preflight import check_components as try_components
    from samtrain.engine.preflight import resolve_components

    if address is None:
        try_components(cfgs)
    else:
        for cfg in cfgs:
            resolve_components(cfg)


def check_loads(study: StudySpec, address: str | None) -> None:
    """On a local cluster (whose files are this machine's) the data is there; the user's own
    model, data and loss build and run on two examples."""
    from samtrain.data import check_dataset

    if address is None:
        for m in study.methods:
            check_dataset(build_train_config(study, m, {}))
    check_components(component_configs(study), address)


def check_transfer_target(cfg: Any, address: str | None) -> None:
    """A transfer target (`cfg`: a transfer run's config) has at least 2 classes and, on a local
    cluster, its files are there."""
    from samtrain.config.registry import is_builtin, resolve
    from samtrain.data import check_dataset
    from samtrain.data.build import builtin_shapes, load_source
    from samtrain.errors import ConfigError

    if is_builtin("dataset", cfg.dataset):
        classes = builtin_shapes(cfg)[0]
    elif address is None:
        try:  # an import that fails, a builder returning one class: named as the target's
            resolve("dataset", cfg.dataset)
            classes = load_source(cfg).num_classes
        except ConfigError as e:
            raise SweepError(f"transfer.target: {e}") from None
    else:
        return
    if classes < 2:
        raise SweepError(f"transfer.target.dataset: value {cfg.dataset!r} gives {classes} "
                         "class(es); a transfer target needs at least 2 (its head has one "
                         "output per class)")
    if address is None:
        check_dataset(cfg)
