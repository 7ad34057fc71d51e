"""A sweep's MLflow records as the commands read them: what a crashed or cut-off driver left
undelivered is sent first, then the runs are read; artifacts go to the sweep's parent run.

Example::

    sweep = read_sweep("tiny", "runs")           # study, meta, dir, parent run id, records
    log_to_parent(sweep, files, "report")
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from sweeps.store.schema import RunRecord
from sweeps.store.sweep_dir import SweepDir, SweepMeta, open_sweep
from sweeps.study.spec import StudySpec


@dataclass(frozen=True)
class SweepRecords:
    study: StudySpec
    meta: SweepMeta
    dir: SweepDir
    tracking_uri: str
    parent_run_id: str
    records: list[RunRecord]


def deliver(meta: SweepMeta, d: SweepDir, timeout: float = 60.0) -> int:
    """Send MLflow records an earlier driver could not deliver; return how many are left
    (a running sweep's driver delivers its own: nothing is sent then)."""
    from sweeps.store.outbox import deliver_pending
    from sweeps.store.writer import MLflowTarget

    target = MLflowTarget(meta.tracking_uri, meta.name, meta.sweep_id)
    left = deliver_pending(d.outbox, target.writer, timeout)
    if left:
        print(f"MLflow: {left} record(s) still undelivered ({target.tracking_uri} does not answer); "
              f"they stay in {d.at('outbox')}", file=sys.stderr)
    return left


def read_sweep(name: str, storage: str, tracking_uri: str | None = None, history: bool = True,
               deliver_timeout: float = 60.0) -> SweepRecords:
    """Open sweep `name`, deliver its pending records, read its runs (`history`: per-epoch
    metric histories too, one request per run and metric)."""
    from sweeps.store.mlflow_records import load_records
    from sweeps.store.tracking_uri import refuse_secrets

    study, meta, d = open_sweep(name, storage)
    uri = tracking_uri or meta.tracking_uri
    refuse_secrets(uri, "--tracking-uri" if tracking_uri else
                   f"tracking_uri of sweep {name!r} (its sweep.json)")  # before anything is sent
    deliver(meta, d, deliver_timeout)
    parent_id, records = load_records(uri, name, meta.sweep_id, history=history)
    return SweepRecords(study, meta, d, uri, parent_id, records)


def log_to_parent(sweep: SweepRecords, files: list[Path], artifact_path: str) -> None:
    """Log `files` to the sweep's parent MLflow run under `artifact_path`."""
    from sweeps.store.writer import SweepWriter

    writer = SweepWriter(sweep.tracking_uri, sweep.meta.name, sweep.meta.sweep_id)
    writer.parent_run_id = sweep.parent_run_id
    writer.log_artifacts(files, artifact_path=artifact_path)
