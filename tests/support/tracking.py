"""MLflow in a test: a sqlite store in the test's folder and a sweep's child runs read back."""

from __future__ import annotations

from pathlib import Path

from mlflow.tracking import MlflowClient


def sqlite_uri(folder: Path) -> str:
    """A tracking URI of a sqlite store inside `folder` (a test's tmp_path)."""
    return f"sqlite:///{folder / 'mlflow.db'}"


def children(uri: str, name: str = "s") -> dict:
    """The child runs (`sweep.role` = child) of experiment `name`, by their `trial_id` tag."""
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(name)
    return {r.data.tags["trial_id"]: r for r in client.search_runs(
        [exp.experiment_id], "tags.`sweep.role` = 'child'")}
