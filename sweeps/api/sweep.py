"""A sweep from Python: start one from a study, open one by name, run more of it, read it back.

`run_study` validates everything first (storage, tracking URI, Ray address, the user's own
model/data/loss), then runs the search phase on Ray Tune and returns an `Outcome` holding a
`Sweep`. A `Sweep` resumes, extends and confirms itself, and reads its MLflow runs as
`RunRecord`s or a pandas DataFrame, the report's rows (`MethodRow`s), the winner per method and
the report files. One driver at a time: every operation that runs trials holds the sweep's lease
(`sweeps.store.lease`; `force=True` takes over a stale one).

Example (starts Ray; the test of docs/python_api.md runs it)::

    from sweeps import Sweep, run_study, study_from_file
    outcome = run_study(study_from_file("study.yaml"), storage="runs")
    sweep = Sweep.open("tiny", storage="runs")
    sweep.runs_dataframe()[["method", "status", "metrics.val_acc"]]
    sweep.winners()["sam"].score
    sweep.transfer()   # with a `transfer:` block, after `confirm` (docs/transfer.md)
"""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweeps.api.checks import (
    check_cluster,
    check_components,
    check_loads,
    check_transfer_target,
    checked_storage,
    positive,
    resolve_tracking_uri,
)
from sweeps.errors import SweepError
from sweeps.execution.console import result_outcome
from sweeps.store.lease import hold_lease
from sweeps.store.sweep_dir import SweepDir, SweepMeta, open_sweep, sweep_dir
from sweeps.study.spec import StudySpec, check_name, component_configs

if TYPE_CHECKING:
    import pandas

    from sweeps.results.rows import MethodRow
    from sweeps.results.selection import ConfigScore
    from sweeps.store.schema import RunRecord

__all__ = ["Sweep", "Outcome", "run_study"]


@dataclass(frozen=True)
class Outcome:
    """What one run of trials did: `trials` started, the `failed` ones (trial name, error) and
    Tune's final status counts (`statuses`: completed, pruned, diverged, ...)."""

    sweep: Sweep
    what: str  # "trials" or "confirm runs"
    trials: int
    failed: tuple[tuple[str, str], ...] = ()
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every trial finished (completed, pruned or diverged: none failed)."""
        return not self.failed


def _outcome(sweep: Sweep, results: Any, what: str = "trials") -> Outcome:
    results = list(results)
    failed = tuple((Path(r.path).name, " ".join(str(r.error).split())[:300])
                   for r in results if r.error)
    statuses = Counter(result_outcome(r) for r in results)
    return Outcome(sweep, what, len(results), failed, dict(statuses))


class Sweep:
    """An existing sweep: `Sweep.open(name, storage)`; its `study`, `meta` and `tracking_uri`.

    `storage` None: `$SWEEP_STORAGE`, else `runs`. `tracking_uri` None: the sweep's own."""

    def __init__(self, name: str, storage: str | None = None, tracking_uri: str | None = None) -> None:
        check_name("NAME", name)
        self.name, self.storage = name, checked_storage(storage)
        study, meta, d = open_sweep(name, self.storage)
        self.study: StudySpec = study
        self.meta: SweepMeta = meta
        self.dir: SweepDir = d
        self._tracking_uri = tracking_uri

    @functools.cached_property
    def tracking_uri(self) -> str:
        """The sweep's MLflow URI (the one given, else its own), checked when first needed: a
        handle to a finished run's sweep needs no live server until it reads or writes runs."""
        return resolve_tracking_uri(self._tracking_uri, self.meta)

    @classmethod
    def open(cls, name: str, storage: str | None = None, tracking_uri: str | None = None) -> Sweep:
        """The sweep `name` in `storage`; a `SweepError` (with a "did you mean") if absent."""
        return cls(name, storage, tracking_uri)

    def __repr__(self) -> str:
        return f"Sweep({self.name!r}, storage={self.storage!r})"

    # ---- running more of it
    def _lease(self, command: str, force: bool) -> Any:
        return hold_lease(self.dir, f"{command} {self.name}", self.name, force)

    def resume(self, address: str | None = None, force: bool = False) -> Outcome:
        """Continue an interrupted search: finished trials stay, unfinished ones resume."""
        from sweeps.execution.search_phase import resume_sweep

        self.tracking_uri  # noqa: B018 - checked (and its server reached) before anything starts
        check_cluster(address)
        check_components(component_configs(self.study), address)
        with self._lease("sweep resume", force):
            return _outcome(self, resume_sweep(self.name, self.storage, address))

    def extend(self, trials: int, address: str | None = None, force: bool = False) -> Outcome:
        """`trials` more search trials for every searched method."""
        from sweeps.execution.search_phase import extend_sweep
        from sweeps.search.plan import plan_extension

        positive("--trials", trials)
        plan_extension(self.study, trials)  # a grid has nothing more to sample
        self.tracking_uri  # noqa: B018 - checked before anything starts
        check_cluster(address)
        with self._lease("sweep extend", force):
            return _outcome(self, extend_sweep(self.name, self.storage, trials, address))

    def confirm(self, top: int = 1, seeds: int | None = None, address: str | None = None,
                force: bool = False) -> Outcome:
        """Re-run the `top` best configs of each method on `seeds` fresh seeds (default: the
        study's `confirm_seeds`, default 5)."""
        from sweeps.execution.confirm import confirm_sweep

        positive("--top", top)
        positive("--seeds", seeds)
        self.tracking_uri  # noqa: B018 - checked before anything starts
        check_cluster(address)
        check_components(component_configs(self.study), address)
        with self._lease("sweep confirm", force):
            results = confirm_sweep(self.name, self.storage, self.tracking_uri, top, seeds, address)
        return _outcome(self, results, "confirm runs")

    def transfer(self, study_file: str | Path | None = None, address: str | None = None,
                 force: bool = False) -> Outcome:
        """Fine-tune every method's confirmed checkpoints on the study's `transfer:` target with
        its one recipe (`lr_grid`: the lr searched once first); `study_file`: take the
        `transfer:` block from that file instead (docs/transfer.md). Everything is checked
        before Ray starts: the block, the confirm runs and their checkpoints, the target (two
        classes or more, its files), the weights against the model."""
        from sweeps.execution.transfer import check_cells, run_transfer, transfer_plan
        from sweeps.study.study_file import load_study

        study = self.study
        if study_file is not None:
            study = dataclasses.replace(study, transfer=load_study(study_file).transfer)
        plan = transfer_plan(study, [], self.dir, check_only=True)  # the block, before MLflow
        check_cluster(address)
        plan = transfer_plan(study, self.records(), self.dir)
        cfgs = check_cells(plan)
        check_transfer_target(cfgs[0], address)
        check_components(cfgs, address)
        with self._lease("sweep transfer", force):
            results = run_transfer(self.name, self.storage, self.tracking_uri, plan,
                                   self.meta.sweep_id, address)
        return _outcome(self, results, "transfer runs")

    # ---- reading it
    def records(self, history: bool = False) -> list[RunRecord]:
        """Every run of the sweep (search, select, confirm), in start order; `history`: with
        per-epoch metrics (one MLflow request per run and metric)."""
        from sweeps.store.sweep_access import read_sweep

        return read_sweep(self.name, self.storage, self.tracking_uri, history=history,
                          deliver_timeout=10).records

    def runs_dataframe(self) -> pandas.DataFrame:
        """One row per run: `run_id`, `method`, `phase`, `status`, `seed`, `group_key`,
        `trial_id`, `grad_evals`, `device_seconds`, then `params.*` and `metrics.*` (the final
        values), like `mlflow.search_runs`."""
        import pandas

        rows = [{"run_id": r.run_id, "method": r.method, "phase": r.phase, "status": r.status,
                 "seed": r.seed, "group_key": r.group_key, "trial_id": r.trial_id,
                 "grad_evals": r.grad_evals, "device_seconds": r.device_seconds,
                 **{f"params.{k}": v for k, v in r.params.items()},
                 **{f"metrics.{k}": v for k, v in r.final.items()}} for r in self.records()]
        return pandas.DataFrame(rows)

    def winners(self) -> dict[str, ConfigScore]:
        """The best search config of each method that has one (`sweeps.results.selection`: the
        mean validation metric over its completed full-length runs)."""
        from sweeps.results.selection import winners

        return {m: s[0] for m, s in winners(self.records(), self.study.metric,
                                             self.study.mode).items()}

    def best_config(self, method: str) -> Any:
        """The `TrainConfig` of `method`'s winner (a `SweepError` if it has none yet)."""
        from sweeps.store.schema import train_config_of

        if method not in self.study.methods:
            raise SweepError(f"method: value {method!r} is unknown; allowed: "
                             f"{', '.join(self.study.methods)}")
        best = self.winners().get(method)
        if best is None:
            raise SweepError(f"method {method!r} of sweep {self.name!r} has no completed "
                             "full-length search run yet")
        return train_config_of(best.params)

    def rows(self) -> dict[str, MethodRow]:
        """The report's rows: per method its winner, confirmed configs, test score over the
        confirm seeds and the comparison with the baseline (`sweeps.results.rows`)."""
        from sweeps.results.rows import method_rows

        return method_rows(self.records(), self.study)

    def status(self) -> str:
        """Trials by state and the best so far per method, as `sweep status` prints it."""
        from sweeps.report.status import format_status

        return format_status(self.study, self.name, self.records())

    def report(self, out: str | Path | None = None, fmt: str = "md") -> str:
        """Write the report (tables, plots; also logged to MLflow) into `out` (default: the
        sweep's `report/`); return its table, verdicts and where the files are."""
        from sweeps.report.document import report_sweep
        from sweeps.store.sweep_dir import check_directory

        if out is not None:
            check_directory("--out", out)
        if fmt not in ("md", "csv", "latex"):
            raise SweepError(f"--format: value {fmt!r} is unknown; allowed: md, csv, latex")
        return report_sweep(self.name, self.storage, self.tracking_uri,
                            None if out is None else str(out), fmt)


def _check_new(study: StudySpec, storage: str) -> None:
    if sweep_dir(storage, study.name).exists():
        raise SweepError(f"sweep {study.name!r} already exists in {storage}; use "
                         f"`sweep resume {study.name}` or another --name")


def run_study(study: StudySpec, storage: str | None = None, tracking_uri: str | None = None,
              address: str | None = None) -> Outcome:
    """Start the sweep `study.name` (its search phase) and run it to the end.

    `storage` None: `$SWEEP_STORAGE`, else `runs`; `tracking_uri` None: `$MLFLOW_TRACKING_URI`,
    else `sqlite:///$PWD/mlflow.db`; `address` None: a local Ray."""
    from sweeps.execution.search_phase import run_sweep

    where = checked_storage(storage)
    _check_new(study, where)
    uri = resolve_tracking_uri(tracking_uri)
    check_cluster(address)
    check_loads(study, address)
    with hold_lease(sweep_dir(where, study.name), f"sweep run {study.name}", study.name):
        results = run_sweep(study, where, uri, address)
    return _outcome(Sweep(study.name, where, uri), results)
