"""Which MLflow tracking URI a command uses: --tracking-uri, else the sweep's own (it wins over
the environment), else $MLFLOW_TRACKING_URI, else ./mlflow.db."""

import argparse

import pytest

from sweeps.commands import _tracking_uri
from sweeps.errors import SweepError
from sweeps.store.sweep_dir import SweepMeta


def meta(uri: str) -> SweepMeta:
    return SweepMeta("s", "abc", 2, uri, "")


def args(uri: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(tracking_uri=uri, name="s")


def test_precedence_flag_then_sweep_then_environment_then_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    mine, env = f"sqlite:///{tmp_path}/mine.db", f"sqlite:///{tmp_path}/env.db"
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert _tracking_uri(args()) == f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env)
    assert _tracking_uri(args()) == env                      # a new sweep, `sweep train`
    assert _tracking_uri(args(mine)) == mine                 # the flag wins
    assert _tracking_uri(args(), meta(mine)) == mine         # an existing sweep keeps its own
    assert _tracking_uri(args("sqlite:///mine.db"), meta(mine)) == mine  # same file, relative
    with pytest.raises(SweepError, match="differs from the tracking URI of sweep 's'"):
        _tracking_uri(args(env), meta(mine))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///rel.db")  # recorded absolute
    assert _tracking_uri(args()) == f"sqlite:///{tmp_path}/rel.db"


def test_an_unusable_environment_value_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "file:///x/mlruns")
    with pytest.raises(SweepError, match=r"^MLFLOW_TRACKING_URI \(environment\): value "
                                         r"'file:///x/mlruns': MLflow's file store"):
        _tracking_uri(args())
