"""Shared fixtures and builders: one local Ray instance, fake sweep records."""

import os
import tempfile

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# this session's Ray clusters (in-process and in `sweep` subprocesses) keep their session files and
# address file apart: a plain ray.init() never joins a cluster someone else started on the machine
os.environ.setdefault("RAY_TMPDIR", tempfile.mkdtemp(prefix="samsweep-ray-", dir="/tmp"))
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def pytest_collection_modifyitems(config, items):
    """Tests marked `before_local_ray` run first: they need a process in which no test has
    started Ray yet (`ray_local` keeps one up for the rest of the session). Order is otherwise
    kept."""
    items.sort(key=lambda item: item.get_closest_marker("before_local_ray") is None)


@pytest.fixture(scope="session")
def ray_local():
    import ray

    if not ray.is_initialized():
        # as the launcher starts Ray (`connect_ray`): workers' stderr is not forwarded, so a
        # worker Ray stops at shutdown cannot print into a command's one-line error
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def make_record():
    """The builder below, for tests of selection and reports."""
    return _make_record


def _make_record(method: str, phase: str, status: str, seed: int, config: dict, final: dict,
                start: int, epochs: int = 3, reached: int | None = None):
    """A `RunRecord` as the MLflow reader builds it: params of the full TrainConfig, the final
    metrics at epoch `reached` (default: all `epochs`), a history rising to them."""
    from samtrain.config.train_config import TrainConfig
    from sweeps.store.schema import RunRecord

    cfg = TrainConfig(dataset="digits", epochs=epochs, seed=seed, **config)
    reached = epochs if reached is None else reached
    history = [{"epoch": float(e), **{k: v - 0.01 * (reached - e) for k, v in final.items()}}
               for e in range(1, reached + 1)]
    return RunRecord(
        run_id=f"run-{start}", method=method, phase=phase, status=status, group_key=cfg.group_key(),
        seed=seed, params=cfg.model_dump(), final={"epoch": float(reached), **final},
        history=history, device_seconds=2.0 * reached,
        grad_evals=(100.0 if config.get("perturbation") == "none" else 200.0) * reached,
        trial_id=f"t{start}", start_time=start)


@pytest.fixture
def fresh_path_decisions():
    """The process's cached m-sharpness path decisions cleared before and after a test."""
    from samtrain.optim import path_choice

    path_choice.clear_decisions()
    yield
    path_choice.clear_decisions()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """`moto_server` on 127.0.0.1 with the bucket `team` (tests/support/services.py)."""
    from tests.support.services import S3Server

    server = S3Server(tmp_path_factory.mktemp("s3"), bucket="team").start()
    yield server
    server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """The S3 server, its credentials and endpoint in this process's environment, as a user's
    cluster gives them (`AWS_*`, `AWS_ENDPOINT_URL`)."""
    for key, value in {**s3_server.env, "AWS_ENDPOINT_URL": s3_server.endpoint}.items():
        monkeypatch.setenv(key, value)
    return s3_server
