"""The tracking URI's default follows MLflow's convention ($MLFLOW_TRACKING_URI, else a sqlite
file in the working directory); relative sqlite paths are made absolute. A tracking URI holding a
password is refused, for every scheme and from every entry point (`--tracking-uri`,
`$MLFLOW_TRACKING_URI`, a sweep's sweep.json, the Python API, the store's own classes): exit 2,
one line naming the flag or key, the URI masked and where the password goes instead, nothing
written. A user name alone is allowed. `redact` still masks passwords in any text."""

import json
import pickle

import pytest
from mlflow.exceptions import MlflowException

from samtrain.config.train_config import TrainConfig
from sweeps.api import run_study
from sweeps.cli import main
from sweeps.errors import SweepError
from sweeps.execution.mlflow_callback import MLflowTrialCallback
from sweeps.store.outbox import REJECTED, Outbox
from sweeps.store.suite_store import SuiteRuns, SuiteState
from sweeps.store.sweep_access import read_sweep
from sweeps.store.sweep_dir import SweepMeta, sweep_dir
from sweeps.store.tracking_uri import (
    ENV_VAR,
    absolute_tracking_uri,
    default_tracking_uri,
    redact,
    refuse_secrets,
)
from sweeps.store.writer import MLflowTarget, SweepWriter
from sweeps.study.study_file import parse_study
from tests.support.services import free_port

SECRET = "Pl4nted-s3cret"
STUDY = "name: s\nbase: {dataset: digits, epochs: 1}\nmethods:\n  sgd: {fixed: {perturbation: none}}\n"
SUITE = ("suite: u\nbase: {epochs: 1}\nmethods:\n  sgd: {fixed: {perturbation: none}}\n"
         "workloads:\n  - {id: a, base: {dataset: digits}}\n")
CASES = [  # uri, redact
    (f"postgresql://mlflow:{SECRET}@db.lan:5432/mlflow", "postgresql://mlflow:***@db.lan:5432/mlflow"),
    (f"postgresql+psycopg://u:{SECRET}/x:y@127.0.0.1/m?sslmode=require",
     "postgresql+psycopg://u:***@127.0.0.1/m?sslmode=require"),
    (f"mysql+pymysql://root:{SECRET}@h/db", "mysql+pymysql://root:***@h/db"),
    (f"https://alice:{SECRET}@mlflow.lan", "https://alice:***@mlflow.lan"),
    (f"postgresql://u@h/db?password={SECRET}&sslmode=disable",
     "postgresql://u@h/db?password=***&sslmode=disable"),
    (f"postgresql://u@h/db?sslmode=disable&PASSWORD={SECRET}",
     "postgresql://u@h/db?sslmode=disable&PASSWORD=***"),
    # nothing secret: left as it is
    ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ("http://127.0.0.1:5000/a@b", "http://127.0.0.1:5000/a@b"),
    ("sqlite:////tmp/x/mlflow.db", "sqlite:////tmp/x/mlflow.db"),
    ("postgresql://u@h:5432/db", "postgresql://u@h:5432/db"),
]
PGPASS = "give it in PGPASSWORD or ~/.pgpass"
MLFLOW_ENV = "give it in MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
UNSUPPORTED = "credentials in a tracking URI are not supported"
PATH = "holds credentials; a file or sqlite URI names a path and takes none"
REFUSED = [  # uri, what the one line shows of it, where the password goes instead
    (f"postgresql://mlflow:{SECRET}@127.0.0.1:1/mlflow", "postgresql://mlflow:***@127.0.0.1:1/mlflow",
     PGPASS),
    (f"postgres://mlflow:{SECRET}@db.lan/mlflow", "postgres://mlflow:***@db.lan/mlflow", PGPASS),
    (f"postgresql+psycopg://u:{SECRET}@127.0.0.1/m", "postgresql+psycopg://u:***@127.0.0.1/m",
     PGPASS),
    (f"postgresql://u@127.0.0.1/m?password={SECRET}", "postgresql://u@127.0.0.1/m?password=***",
     PGPASS),
    (f"https://alice:{SECRET}@mlflow.lan", "https://alice:***@mlflow.lan", MLFLOW_ENV),
    (f"http://alice:{SECRET}@127.0.0.1:1", "http://alice:***@127.0.0.1:1", MLFLOW_ENV),
    (f"https://mlflow.lan/?token={SECRET}", "https://mlflow.lan/?token=***", MLFLOW_ENV),
    (f"mysql+pymysql://root:{SECRET}@h/db", "mysql+pymysql://root:***@h/db", UNSUPPORTED),
    (f"sqlite://u:{SECRET}@/tmp/m.db", "sqlite://***@/tmp/m.db", PATH),
    (f"file://u:{SECRET}@/tmp/mlruns", "file://***@/tmp/mlruns", PATH),
    ("file://ada@/tmp/mlruns", "file://***@/tmp/mlruns", PATH),  # a path takes no user either
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


@pytest.mark.parametrize(("uri", "masked"), CASES)
def test_passwords_are_masked_in_text(uri, masked):
    assert redact(uri) == masked
    said = "error: could not reach '{}' (refused)"
    assert redact(said.format(uri)) == said.format(masked)
    assert redact(masked) == masked  # stable


@pytest.mark.before_local_ray  # stderr must hold only the error line
@pytest.mark.parametrize(("uri", "shown", "instead"), REFUSED)
def test_a_tracking_uri_holding_a_password_is_refused_before_anything_is_written(
        uri, shown, instead, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(STUDY)
    (tmp_path / "t.yaml").write_text("dataset: digits\nepochs: 1\n")  # `sweep train`'s config
    (tmp_path / "u.yaml").write_text(SUITE)
    for command in (["run", "s.yaml"], ["train", "t.yaml"], ["suite", "u.yaml"]):
        assert main([*command, "--tracking-uri", uri]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and SECRET not in err, err
        assert err.startswith(f"sweep {command[0]}: error: --tracking-uri: value {shown!r} "), err
        assert instead in err, err
    # the environment variable: the same refusal, naming it
    monkeypatch.setenv(ENV_VAR, uri)
    assert main(["run", "s.yaml"]) == 2
    err = capsys.readouterr().err
    assert f"error: {ENV_VAR} (environment): value {shown!r} " in err and instead in err, err
    assert SECRET not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml", "t.yaml", "u.yaml"]


def test_every_other_entry_point_refuses_it_too(tmp_path, monkeypatch):
    """The Python API, a sweep.json edited by hand, `sweep plan --from` (`read_sweep`) and the
    store's classes that hold a URI (a target is pickled into Tune's experiment state)."""
    monkeypatch.chdir(tmp_path)
    uri = f"postgresql://sweep:{SECRET}@127.0.0.1:1/db"
    study = parse_study(STUDY, source="s.yaml")
    with pytest.raises(SweepError, match=r"^--tracking-uri: value 'postgresql://sweep:\*\*\*@"):
        run_study(study, tracking_uri=uri)
    assert list(tmp_path.iterdir()) == []
    for make in (lambda: MLflowTarget(uri, "s", "id1"), lambda: SweepWriter(uri, "s", "id1"),
                 lambda: SweepMeta.new(study, uri),
                 lambda: SuiteState.load_or_new(tmp_path / "none", "u", uri),
                 lambda: SuiteRuns(uri, SuiteState("u", "id2", uri))):
        with pytest.raises(SweepError, match="holds a password; give it in PGPASSWORD") as e:
            make()
        assert SECRET not in str(e.value)

    d = sweep_dir(tmp_path / "runs", "s")  # a sweep.json whose URI someone edited
    d.write(study, SweepMeta("s", "id1", None, uri, study.source_sha256))
    written = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(SweepError, match=r"^tracking_uri of sweep 's' \(its sweep.json\): value"):
        read_sweep("s", str(tmp_path / "runs"))
    with pytest.raises(SweepError, match=r"^--tracking-uri: value 'postgresql://u:\*\*\*@h/m'"):
        read_sweep("s", str(tmp_path / "runs"), f"postgresql://u:{SECRET}@h/m")
    assert main(["status", "s", "--storage", "runs"]) == 2
    assert main(["delete", "s", "--storage", "runs", "--yes"]) == 2  # refused before asking
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == written


def test_a_user_name_alone_is_no_secret(tmp_path):
    uri = "postgresql://mlflow@db.lan:5432/mlflow"
    refuse_secrets(uri)  # nothing raised
    target = MLflowTarget(uri, "s", "id1")
    assert pickle.loads(pickle.dumps(MLflowTrialCallback(target, tmp_path / "box"))).target == target
    study = parse_study(STUDY, source="s.yaml")
    d = sweep_dir(tmp_path / "runs", "s")
    d.write(study, SweepMeta.new(study, uri))
    assert json.loads(d.meta_file.read_text())["tracking_uri"] == uri


@pytest.mark.before_local_ray  # stderr must hold only the error line
def test_an_unusable_database_uri_is_one_line_naming_pgpassword(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(STUDY)
    uri = f"postgresql://sweep@127.0.0.1:{free_port()}/mlflow"
    assert main(["run", "s.yaml", "--tracking-uri", uri]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"--tracking-uri: value {uri!r}: the database does not accept a connection" in err, err
    assert "PGPASSWORD" in err, err
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
