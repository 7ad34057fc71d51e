"""The sweeps in a store: `list_sweeps` (name, state, trials done of planned, best value) and
`delete_sweep` (its folder and its MLflow runs).

`list_sweeps` reads each sweep's folder and Optuna study only (no MLflow request): it is quick
even when the tracking server is far away. A sweep is `running` while a driver holds its lease
(`sweeps.store.lease`), `finished` when every planned trial ended, else `stopped` (resume it).

Example:
    >>> import tempfile
    >>> list_sweeps(tempfile.mkdtemp())
    []
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass

from sweeps.api.checks import checked_storage, resolve_tracking_uri
from sweeps.errors import SweepError
from sweeps.store.lease import check_free, read_lease
from sweeps.store.sweep_dir import SweepDir, open_sweep, sweep_names
from sweeps.store.tracking_uri import redact
from sweeps.study.spec import StudySpec

__all__ = ["SweepSummary", "list_sweeps", "delete_sweep", "summary_table"]

_ENDED = ("COMPLETE", "PRUNED", "FAIL")


@dataclass(frozen=True)
class SweepSummary:
    """One line of `sweep list`: `best` is the best search trial's value of `metric` (None
    before any trial completed); `state` is running, finished, stopped or damaged (`problem`
    says why)."""

    name: str
    state: str
    trials_done: int
    trials_total: int
    metric: str = ""
    best: float | None = None
    problem: str = ""


def _optuna_counts(study: StudySpec, d: SweepDir) -> tuple[int, int, float | None]:
    """(trials ended, trials planned, best value of the first objective) from `optuna.db`."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not (d.root / "optuna.db").is_file():
        return 0, study.n_trials, None
    trials = optuna.load_study(study_name=study.name, storage=d.optuna_url).get_trials(deepcopy=False)
    done = sum(t.state.name in _ENDED for t in trials)
    values = [t.values[0] for t in trials if t.state.name == "COMPLETE" and t.values
              and math.isfinite(t.values[0])]
    best = (max if study.mode == "max" else min)(values) if values else None
    return done, max(study.n_trials, len(trials)), best


def _summary(name: str, storage: str) -> SweepSummary:
    try:
        study, _, d = open_sweep(name, storage)
    except SweepError as e:
        return SweepSummary(name, "damaged", 0, 0, problem=str(e))
    done, total, best = _optuna_counts(study, d)
    lease = read_lease(d)
    if lease is not None and lease.held():
        state = "running"
    else:
        state = "finished" if done >= total else "stopped"
    return SweepSummary(name, state, done, total, study.metric, best)


def list_sweeps(storage: str | None = None) -> list[SweepSummary]:
    """Every sweep in `storage` (None: `$SWEEP_STORAGE`, else `runs`), by name."""
    where = checked_storage(storage)
    return [_summary(name, where) for name in sweep_names(where)]


def _delete_runs(uri: str, name: str, sweep_id: str) -> list[str]:
    """Delete the sweep's MLflow runs (those tagged with its id); say what was done and left."""
    from mlflow.tracking import MlflowClient

    from sweeps.store.schema import Tag, tag_filter

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(name)
    if exp is None:
        return [f"MLflow: no experiment {name!r} at {uri}: nothing to delete there"]
    mine = client.search_runs([exp.experiment_id], tag_filter({Tag.SWEEP_ID: sweep_id}),
                              max_results=50000)
    for run in mine:
        client.delete_run(run.info.run_id)
    others = len(client.search_runs([exp.experiment_id], max_results=50000))
    return [f"MLflow: deleted {len(mine)} run(s) of experiment {name!r} at {uri} (MLflow keeps "
            f"deleted runs until `mlflow gc --backend-store-uri {uri}` removes them)",
            f"left: the MLflow experiment {name!r} ({others} other run(s); a new sweep named "
            f"{name!r} adds its runs there)"]


def delete_sweep(name: str, storage: str | None = None, keep_runs: bool = False,
                 force: bool = False) -> list[str]:
    """Delete sweep `name`: its MLflow runs (unless `keep_runs`), then its folder. Refused while
    a driver runs it (a stale lease: only with `force`). Returns what was removed and left."""
    where = checked_storage(storage)
    _, meta, d = open_sweep(name, where)
    check_free(d, name, force)
    said = [] if keep_runs else _delete_runs(resolve_tracking_uri(None, meta), name, meta.sweep_id)
    if keep_runs:
        said.append(f"left: the sweep's MLflow runs (experiment {name!r}, tag sweep.id="
                    f"{meta.sweep_id}, at {redact(meta.tracking_uri)})")
    if d.mirror is not None:
        d.mirror.fs.delete_dir(d.mirror.path)
    shutil.rmtree(d.root, ignore_errors=d.mirror is not None)
    return [f"removed: the sweep's folder {d.location}", *said]


def summary_table(rows: list[SweepSummary]) -> str:
    """`sweep list`'s table (one line per sweep).

    >>> print(summary_table([SweepSummary("tiny", "finished", 3, 3, "val_acc", 0.9511)]))
    NAME  STATE     TRIALS  BEST
    tiny  finished  3/3     val_acc=0.9511
    """
    cells = [("NAME", "STATE", "TRIALS", "BEST")]
    for r in rows:
        best = f"{r.metric}={r.best:.4f}" if r.best is not None else "-"
        cells.append((r.name, r.state, f"{r.trials_done}/{r.trials_total}",
                      r.problem[:120] if r.problem else best))
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in cells)
