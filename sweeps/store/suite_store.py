"""A suite's folder and MLflow run: `STORAGE/SUITE/` holds `suite.yaml` (the file as given),
`suite.json` (`SuiteState`: the suite id, its tracking URI, the finished workloads) and
`report/`; MLflow holds one suite run (experiment SUITE, tags `suite.name`, `suite.id`,
`sweep.role=suite`) and each workload's sweep parent run is nested under it (tag
`mlflow.parentRunId` = the suite run, plus `suite.name`, `suite.id`, `suite.workload`). The
workload's own runs stay in its sweep's experiment, under its parent, as for any sweep.

Example::

    state = SuiteState.load_or_new(folder, "two_workloads", uri)
    run_id = SuiteRuns(uri, state).open()
    SuiteRuns(uri, state).nest("two_workloads__digits_cnn", sweep_id, "digits_cnn")
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sweeps.store.schema import Role, Tag, tag_filter
from sweeps.store.tracking_uri import connect_uri, public_uri
from sweeps.store.writer import sqlite_artifact_root

__all__ = ["SuiteState", "SuiteRuns", "SuiteTag", "SUITE_ROLE"]

SUITE_ROLE = "suite"


class SuiteTag:
    NAME = "suite.name"
    ID = "suite.id"
    WORKLOAD = "suite.workload"


@dataclass
class SuiteState:
    """What `suite.json` records: the suite id (finds its MLflow run), the tracking URI (never
    with a password) and each finished workload with the sha256 of the study it finished."""

    name: str
    suite_id: str
    tracking_uri: str
    finished: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def file(folder: Path) -> Path:
        return Path(folder) / "suite.json"

    @classmethod
    def load_or_new(cls, folder: Path, name: str, tracking_uri: str) -> SuiteState:
        """The suite's state from `folder` (not written here), else a new one."""
        path = cls.file(folder)
        if path.is_file():
            return cls(**json.loads(path.read_text()))
        return cls(name, uuid.uuid4().hex, public_uri(tracking_uri))

    def save(self, folder: Path, source_text: str) -> None:
        """Write `suite.json` and `suite.yaml` (the suite file as last run) into `folder`."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = self.file(folder).with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(self.file(folder))
        (folder / "suite.yaml").write_text(source_text)


class SuiteRuns:
    """The suite's MLflow run and the nesting of its workloads' sweep parent runs."""

    def __init__(self, tracking_uri: str, state: SuiteState) -> None:
        from mlflow.tracking import MlflowClient

        self.tracking_uri = tracking_uri
        self.client = MlflowClient(connect_uri(tracking_uri))
        self.state = state

    def _experiment(self, name: str) -> str:
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            return exp.experiment_id
        # a sqlite store keeps artifacts beside its file, as the sweeps' experiments do
        return self.client.create_experiment(
            name, artifact_location=sqlite_artifact_root(self.tracking_uri))

    def open(self) -> str:
        """The suite run: found by its `suite.id` tag, else created (experiment = the suite)."""
        exp = self._experiment(self.state.name)
        found = self.client.search_runs([exp], tag_filter({SuiteTag.ID: self.state.suite_id}),
                                        max_results=1)
        if found:
            self.client.update_run(found[0].info.run_id, status="RUNNING")
            return found[0].info.run_id
        tags = {SuiteTag.NAME: self.state.name, SuiteTag.ID: self.state.suite_id,
                Tag.ROLE: SUITE_ROLE}
        return self.client.create_run(exp, run_name=self.state.name, tags=tags).info.run_id

    def nest(self, run_id: str, sweep_name: str, sweep_id: str, workload: str) -> str:
        """Nest the sweep's parent run under the suite run `run_id`; returns the parent's id."""
        exp = self.client.get_experiment_by_name(sweep_name)
        found = self.client.search_runs(
            [exp.experiment_id], tag_filter({Tag.SWEEP_ID: sweep_id, Tag.ROLE: Role.PARENT}),
            max_results=1) if exp else []
        if not found:
            raise LookupError(f"sweep {sweep_name!r} has no MLflow parent run (id {sweep_id})")
        parent = found[0].info.run_id
        for key, value in ((Tag.PARENT, run_id), (SuiteTag.NAME, self.state.name),
                           (SuiteTag.ID, self.state.suite_id), (SuiteTag.WORKLOAD, workload)):
            self.client.set_tag(parent, key, value)
        return parent

    def finish(self, run_id: str, files: list[Path], state: str = "FINISHED") -> None:
        """Log the suite report `files` (under `report/`) and end the suite run in `state`."""
        for f in files:
            self.client.log_artifact(run_id, str(f), artifact_path="report")
        self.client.set_terminated(run_id, state)
