"""The tracking URI's default follows MLflow's convention ($MLFLOW_TRACKING_URI, else a sqlite
file in the working directory); relative sqlite paths are made absolute."""

from sweeps.store.tracking_uri import ENV_VAR, absolute_tracking_uri, default_tracking_uri


def test_the_environment_variable_is_the_default_when_set(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ENV_VAR, "http://127.0.0.1:5000")
    assert default_tracking_uri() == ("http://127.0.0.1:5000", "MLFLOW_TRACKING_URI (environment)")
    for unset in ("", "  "):  # blank is unset, as in `MLFLOW_TRACKING_URI= sweep ...`
        monkeypatch.setenv(ENV_VAR, unset)
        assert default_tracking_uri() == (f"sqlite:///{tmp_path}/mlflow.db", "default tracking URI")
    monkeypatch.delenv(ENV_VAR)
    assert default_tracking_uri()[0] == f"sqlite:///{tmp_path}/mlflow.db"


def test_relative_sqlite_paths_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert absolute_tracking_uri("sqlite:///sub/m.db") == f"sqlite:///{tmp_path}/sub/m.db"
    assert absolute_tracking_uri(f"sqlite:///{tmp_path}/m.db") == f"sqlite:///{tmp_path}/m.db"
    assert absolute_tracking_uri("https://mlflow.example:443") == "https://mlflow.example:443"
