"""Suites from Python: several workloads sharing methods and protocol, run as one command.

`run_suite` validates the suite file and everything every workload needs (storage, tracking
URI, Ray address, data, no clash with another study) before it starts anything; then, per
workload in the file's order, it runs the sweep `SUITE__ID` as `sweep run`, `sweep confirm` and
`sweep report` would, nests that sweep's MLflow parent run under the suite's run
(`sweeps.store.suite_store`), and records the workload as finished. Running it again skips the
finished workloads (same study) and resumes an interrupted one. Last, the suite report
(`sweeps.report.suite_report`) goes to `STORAGE/SUITE/report/` and the suite's MLflow run.

Example (starts Ray)::

    from sweeps.api.suite import run_suite
    outcome = run_suite("search_spaces/suites/two_workloads.yaml", storage="runs")
    outcome.report_dir, outcome.table
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sweeps.api.checks import check_cluster, check_loads, checked_storage, resolve_tracking_uri
from sweeps.api.sweep import Outcome, Sweep, run_study
from sweeps.errors import SweepError
from sweeps.store.suite_store import SuiteRuns, SuiteState
from sweeps.store.sweep_dir import SweepDir, open_sweep, sweep_dir
from sweeps.study.suite_file import SuiteSpec, load_suite

__all__ = ["SuiteOutcome", "run_suite", "suite_report", "check_suite"]


@dataclass(frozen=True)
class SuiteOutcome:
    """What `run_suite` did: the workloads it ran and skipped, the outcome that stopped it
    (`failed`: a workload whose trials failed; the rest did not start), the report."""

    suite: SuiteSpec
    ran: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    failed: Outcome | None = None
    table: str = ""
    report_dir: Path | None = None
    suite_run_id: str = ""
    workload_runs: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failed is None


def _suite_dir(suite: SuiteSpec, storage: str) -> SweepDir:
    d = sweep_dir(storage, suite.name)
    if d.meta_file.exists():
        raise SweepError(f"suite: value {suite.name!r} is the name of a sweep in {storage}; "
                         "give the suite another `suite:` name")
    return d


def check_suite(suite: SuiteSpec, storage: str, address: str | None) -> set[str]:
    """Everything a run of `suite` needs, checked before anything starts; returns the finished
    workloads (skipped). A workload's sweep that exists must hold the same study."""
    d = _suite_dir(suite, storage)
    finished = SuiteState.load_or_new(d.root, suite.name, "").finished
    done = set()
    for wid, study in suite.workloads.items():
        if sweep_dir(storage, study.name).meta_file.exists():
            have, _, _ = open_sweep(study.name, storage)
            if have.source_sha256 != study.source_sha256:
                raise SweepError(f"workloads: id {wid!r}: sweep {study.name!r} in {storage} was "
                                 "run from another study; give the suite another name, or "
                                 f"`sweep delete {study.name}`")
            if finished.get(wid) == study.source_sha256:
                done.add(wid)
                continue
        check_loads(study, address)
    return done


def _search(study_name: str, suite: SuiteSpec, wid: str, storage: str, uri: str,
            address: str | None) -> tuple[Sweep, Outcome | None]:
    """The workload's search: run, resumed when interrupted, or kept when finished."""
    from sweeps.execution.search_phase import unfinished

    study = suite.workloads[wid]
    if not sweep_dir(storage, study_name).meta_file.exists():
        outcome = run_study(study, storage, uri, address)
        return outcome.sweep, outcome
    sweep = Sweep.open(study_name, storage, uri)
    latest = sweep.dir.experiments("search")
    if not latest or unfinished(sweep.dir.at(latest[-1])):
        return sweep, sweep.resume(address)
    return sweep, None


def run_suite(path: str | Path, storage: str | None = None, tracking_uri: str | None = None,
              address: str | None = None) -> SuiteOutcome:
    """Run every unfinished workload of the suite file `path` (search, confirm, report), then
    write the suite report. Bad input raises a one-line `UserError` before anything starts."""
    suite = load_suite(path)
    where = checked_storage(storage)
    uri = resolve_tracking_uri(tracking_uri)
    check_cluster(address)
    done = check_suite(suite, where, address)
    d = _suite_dir(suite, where)
    state = SuiteState.load_or_new(d.root, suite.name, uri)
    state.save(d.root, suite.source_text)
    d.push()
    runs = SuiteRuns(uri, state)
    run_id = runs.open()
    ran, nested = [], {}
    for wid, study in suite.workloads.items():
        if wid in done:
            print(f"suite {suite.name!r}: workload {wid!r} finished earlier (sweep "
                  f"{study.name!r}): skipped")
            nested[wid] = runs.nest(run_id, study.name, Sweep.open(study.name, where).meta.sweep_id,
                                    wid)
            continue
        print(f"suite {suite.name!r}: workload {wid!r} (sweep {study.name!r})")
        sweep, outcome = _search(study.name, suite, wid, where, uri, address)
        if outcome is not None and not outcome.ok:
            runs.finish(run_id, [], "FAILED")
            return SuiteOutcome(suite, tuple(ran), tuple(sorted(done)), outcome, suite_run_id=run_id)
        confirmed = sweep.confirm(address=address)
        if not confirmed.ok:
            runs.finish(run_id, [], "FAILED")
            return SuiteOutcome(suite, tuple(ran), tuple(sorted(done)), confirmed,
                                suite_run_id=run_id)
        sweep.report()
        nested[wid] = runs.nest(run_id, study.name, sweep.meta.sweep_id, wid)
        state.finished[wid] = study.source_sha256
        state.save(d.root, suite.source_text)
        d.push()
        ran.append(wid)
    table, files = suite_report(suite, where, uri)
    runs.finish(run_id, files)
    d.push()
    return SuiteOutcome(suite, tuple(ran), tuple(sorted(done)), None, table, d.root / "report",
                        run_id, nested)


def suite_report(suite: SuiteSpec, storage: str, tracking_uri: str | None = None,
                 out: Path | None = None) -> tuple[str, list[Path]]:
    """Write the suite report of `suite`'s workloads (each read back from MLflow) into `out`
    (default `STORAGE/SUITE/report`); return its aggregate table and files."""
    from sweeps.report.suite_report import write_suite_report
    from sweeps.results.suite_aggregate import aggregate_suite
    from sweeps.store.records import read_sweep

    workloads, reports = {}, {}
    for wid, study in suite.workloads.items():
        sweep = read_sweep(study.name, storage, tracking_uri, history=False)
        workloads[wid] = (sweep.study, sweep.records)
        reports[wid] = str(sweep.dir.root / "report" / "report.md")
    agg = aggregate_suite(workloads)
    out_dir = out or sweep_dir(storage, suite.name).root / "report"
    return write_suite_report(agg, suite.name, out_dir, reports)
