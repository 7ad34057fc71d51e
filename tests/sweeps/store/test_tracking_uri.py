"""The tracking URI's default follows MLflow's convention ($MLFLOW_TRACKING_URI, else a sqlite
file in the working directory); relative sqlite paths are made absolute. A password in a tracking
URI is used by the process given it and written nowhere: `redact` masks it in text, `public_uri`
drops it from what is stored (sweep.json, Tune's pickled callback, the report), `connect_uri` puts
it back for this process's MLflow clients only."""

import json
import pickle

import pytest
from mlflow.exceptions import MlflowException

from samtrain.config.train_config import TrainConfig
from sweeps.cli import main
from sweeps.execution.mlflow_callback import MLflowTrialCallback
from sweeps.store.outbox import REJECTED, Outbox
from sweeps.store.sweep_dir import SweepMeta, sweep_dir
from sweeps.store.tracking_uri import (
    ENV_VAR,
    absolute_tracking_uri,
    connect_uri,
    default_tracking_uri,
    public_uri,
    redact,
    remember_secrets,
)
from sweeps.store.writer import MLflowTarget
from sweeps.study.study_file import parse_study
from tests.support.services import free_port

SECRET = "Pl4nted-s3cret"
CASES = [  # uri, public_uri, redact
    (f"postgresql://mlflow:{SECRET}@db.lan:5432/mlflow", "postgresql://mlflow@db.lan:5432/mlflow",
     "postgresql://mlflow:***@db.lan:5432/mlflow"),
    (f"postgresql+psycopg://u:{SECRET}/x:y@127.0.0.1/m?sslmode=require",
     "postgresql+psycopg://u@127.0.0.1/m?sslmode=require",
     "postgresql+psycopg://u:***@127.0.0.1/m?sslmode=require"),
    (f"mysql+pymysql://root:{SECRET}@h/db", "mysql+pymysql://root@h/db", "mysql+pymysql://root:***@h/db"),
    (f"https://alice:{SECRET}@mlflow.lan", "https://alice@mlflow.lan", "https://alice:***@mlflow.lan"),
    (f"postgresql://u@h/db?password={SECRET}&sslmode=disable", "postgresql://u@h/db?sslmode=disable",
     "postgresql://u@h/db?password=***&sslmode=disable"),
    (f"postgresql://u@h/db?sslmode=disable&PASSWORD={SECRET}", "postgresql://u@h/db?sslmode=disable",
     "postgresql://u@h/db?sslmode=disable&PASSWORD=***"),
    # nothing secret: left as it is
    ("http://127.0.0.1:5000", "http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ("http://127.0.0.1:5000/a@b", "http://127.0.0.1:5000/a@b", "http://127.0.0.1:5000/a@b"),
    ("sqlite:////tmp/x/mlflow.db", "sqlite:////tmp/x/mlflow.db", "sqlite:////tmp/x/mlflow.db"),
    ("postgresql://u@h:5432/db", "postgresql://u@h:5432/db", "postgresql://u@h:5432/db"),
]


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


@pytest.mark.parametrize(("uri", "public", "masked"), CASES)
def test_secrets_are_dropped_from_stored_uris_and_masked_in_text(uri, public, masked):
    assert public_uri(uri) == public and SECRET not in public
    assert redact(uri) == masked
    said = "error: could not reach '{}' (refused)"
    assert redact(said.format(uri)) == said.format(masked)
    assert public_uri(public) == public  # stable


def test_the_secret_stays_in_this_process_for_its_clients_only(tmp_path):
    uri = f"postgresql://sweep:{SECRET}@127.0.0.1:1/db"
    assert remember_secrets(uri) == "postgresql://sweep@127.0.0.1:1/db"
    assert connect_uri("postgresql://sweep@127.0.0.1:1/db") == uri
    assert connect_uri("postgresql://other@127.0.0.1:1/db") == "postgresql://other@127.0.0.1:1/db"

    target = MLflowTarget(uri, "s", "id1")
    assert target.tracking_uri == "postgresql://sweep@127.0.0.1:1/db"
    callback = MLflowTrialCallback(target, tmp_path / "outbox")
    assert SECRET.encode() not in pickle.dumps(callback)  # Tune's experiment state
    assert connect_uri(pickle.loads(pickle.dumps(target)).tracking_uri) == uri

    study = parse_study("name: s\nbase: {dataset: digits}\nmethods:\n  sgd: {fixed: {}}\n",
                        source="s.yaml")
    d = sweep_dir(tmp_path / "runs", "s")
    d.write(study, SweepMeta.new(study, uri))
    meta = json.loads(d.meta_file.read_text())
    assert meta["tracking_uri"] == "postgresql://sweep@127.0.0.1:1/db"
    assert SECRET not in d.meta_file.read_text()


@pytest.mark.before_local_ray  # stderr must hold only the error line
def test_an_unusable_database_uri_is_one_line_without_its_password(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text("name: s\nbase: {dataset: digits, epochs: 1}\n"
                                     "methods:\n  sgd: {fixed: {perturbation: none}}\n")
    uri = f"postgresql://sweep:{SECRET}@127.0.0.1:{free_port()}/mlflow"
    assert main(["run", "s.yaml", "--tracking-uri", uri]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and SECRET not in err, err
    assert "--tracking-uri" in err and "'postgresql://sweep@127.0.0.1:" in err, err
    assert "does not accept a connection" in err and "PGPASSWORD" in err, err
    assert not (tmp_path / "runs").exists()


class Refusing:
    """A writer whose every call fails with an error that quotes the URI and its password."""

    def __getattr__(self, name):
        def fail(*a, **k):
            raise MlflowException(f"API request to https://alice:{SECRET}@mlflow.lan/api failed "
                                  f"{'with Connection refused' if name == 'open_parent' else 'badly'}")
        return fail


def test_the_outbox_never_records_a_password_from_an_error(tmp_path):
    box = Outbox(tmp_path / "box", Refusing).start()
    box.put("open_parent")  # an outage: retried, its text kept in last_error
    assert box.close(timeout=2) == 1
    assert "Connection refused" in box.last_error and SECRET not in box.last_error
    box = Outbox(tmp_path / "box2", Refusing).start()
    cfg = TrainConfig()
    box.put("child", key="t1", method="sam", phase="search",
            train_config=cfg.model_dump(mode="json"), group_key=cfg.group_key())
    assert box.close(timeout=10) == 0  # a refusal: set aside
    rejected = (tmp_path / "box2" / REJECTED).read_text()
    assert "alice:***@mlflow.lan" in rejected and SECRET not in rejected
