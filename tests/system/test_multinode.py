"""Sweeps on a real multi-node Ray cluster (`ray.cluster_utils.Cluster`: processes on this machine).

The cluster, one for the module: a head with 0 CPUs and three worker nodes with 1 logical CPU
each, a private `RAY_TMPDIR`, fast node-death detection. `python -m sweeps run --address` joins it
as a subprocess. Checked first, with storage a local directory every node sees: a 2-worker DDP
trial (gloo) has its workers on two nodes; MLflow and Optuna hold what a local sweep leaves.

On object storage (`--storage s3://...` on a `moto_server` started here, credentials and endpoint
in the environment only, every worker node its own temp directory: no path is shared): single-
worker trials spread over the nodes; removing the node of a running trial (no graceful shutdown)
moves the trial to a surviving node, where it continues from its checkpoint; then the driver
killed, `sweep resume` from a directory that never held the sweep finishing it from the checkpoints
on S3, and `sweep report` from another; the planted AWS secret is in no file the sweep, its report,
the S3 objects or Ray wrote."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.support.faults import (
    FAST_NODE_DEATH,
    Sweep,
    assert_like_a_local_sweep,
    children,
    note,
    private_ray_tmpdir,
    steps,
    study_yaml,
    sweep_env,
    tune_results,
    wait_for,
)

pytestmark = [pytest.mark.ray, pytest.mark.before_local_ray]


@pytest.fixture(scope="module")
def s3_cluster(s3_server):
    """(Cluster, its RAY_TMPDIR, S3Server), one for the module: a head with 0 CPUs and three
    worker nodes with 1 CPU each, every worker node keeping its session in a temp directory of
    its own, started from this process's main thread with its environment; the S3 server's
    credentials and endpoint are in the environment of every node and of the `sweep` commands,
    as on a team's cluster. The DDP test runs first; the S3 test then removes a node."""
    import ray
    from ray.cluster_utils import Cluster

    # Cluster.shutdown() resets this process's Ray client state: run before any in-process Ray
    assert not ray.is_initialized(), "the multi-node test must run before in-process Ray tests"

    with pytest.MonkeyPatch.context() as mp, private_ray_tmpdir() as ray_tmp:
        for key, value in {"RAY_TMPDIR": ray_tmp, "RAY_USAGE_STATS_ENABLED": "0",
                           **FAST_NODE_DEATH, **s3_server.env,
                           "AWS_ENDPOINT_URL": s3_server.endpoint}.items():
            mp.setenv(key, value)
        c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
        try:
            for i in range(3):
                c.add_node(num_cpus=1, temp_dir=f"{ray_tmp}/n{i}")
            c.wait_for_nodes()
            note(f"cluster up at {c.address}")
            yield c, ray_tmp, s3_server
        finally:
            c.shutdown()


def run_sweep(c, ray_tmp: str, tmp_path: Path, name: str, text: str, storage: str = "runs"
              ) -> Sweep:
    (tmp_path / f"{name}.yaml").write_text(text)
    return Sweep(["run", f"{name}.yaml", "--storage", storage, "--address", c.address,
                  "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"],
                 sweep_env(ray_tmp, **FAST_NODE_DEATH), tmp_path, tmp_path / "logs")


def remove_a_trials_node(c, uri: str, name: str, epochs: int, sweep: Sweep
                         ) -> tuple[str, str, int]:
    """Once a trial is past its second epoch, remove its node (chosen by the trial's `node_id`
    tag in MLflow) without a graceful shutdown; return the trial id, the node id and the last
    epoch MLflow had."""
    workers = {n.node_id: n for n in c.worker_nodes}

    def running_trial():
        for r in children(uri, name):
            node = r.data.tags.get("node_id")
            epoch = int(r.data.metrics.get("epoch", 0))
            if node in workers and 2 <= epoch < epochs - 1:
                return r.data.tags["trial_id"], node, epoch
        return None

    trial, node, epoch = wait_for(running_trial, 150, "a trial past epoch 2", sweep)
    c.remove_node(workers[node], allow_graceful=False)
    note(f"removed node {node[:8]} of trial {trial} after its epoch {epoch}")
    return trial, node, epoch


def test_a_ddp_trial_spreads_its_workers_over_nodes(s3_cluster, tmp_path):
    """(Trials spread over nodes and a lost node: the S3 test below, on the same cluster.)"""
    c, ray_tmp, _ = s3_cluster
    assert len(c.worker_nodes) == 3, "runs before the S3 test removes a node"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # a 2-worker DDP trial: 1 CPU per worker and 0.01 for the trial fit only on three nodes
    ddp = run_sweep(c, ray_tmp, tmp_path, "ddp", study_yaml(
        "ddp", 1, sam=False, batch_size=16, extra="resources: {workers: 2}\n"))
    rc, _, err = ddp.wait(timeout=240)
    assert rc == 0, err[-3000:]
    note("ddp sweep done")
    (results,) = tune_results(tmp_path / "runs" / "ddp" / "search").values()
    ranks = results[-1]["worker_node_ids"].split(",")
    assert len(ranks) == 2 and len(set(ranks)) == 2 and set(ranks) <= {n.node_id for n in c.worker_nodes}
    (run,) = assert_like_a_local_sweep(uri, "ddp", tmp_path / "runs", 1, {"sgd": 1})
    assert run.data.tags["node_id"] == ranks[0]
    assert run.data.tags["worker_node_ids"] == ",".join(ranks)  # in MLflow too


def files_holding(secret: str, *roots: Path) -> list[str]:
    found = []
    for root in roots:
        for f in (p for p in Path(root).rglob("*") if p.is_file() and not p.is_symlink()):
            with contextlib.suppress(OSError):
                if secret.encode() in f.read_bytes():
                    found.append(str(f))
    return found


def test_a_sweep_on_s3_survives_a_lost_node_and_is_resumed_and_reported_from_elsewhere(
        s3_cluster, tmp_path):
    c, ray_tmp, s3 = s3_cluster
    uri, storage, name, epochs = f"sqlite:///{tmp_path / 'mlflow.db'}", "s3://team/sweeps", "far", 14
    sweep = run_sweep(c, ray_tmp, tmp_path, name, study_yaml(name, epochs, budget=2), storage)
    try:
        trial, lost, seen = remove_a_trials_node(c, uri, name, epochs, sweep)

        def restarted() -> bool:  # the moved trial's second process reported, past its checkpoint
            (run,) = [r for r in children(uri, name) if r.data.tags["trial_id"] == trial]
            return len(steps(uri, run, "startup_seconds")) == 2
        wait_for(restarted, 120, f"trial {trial} restarted on another node", sweep)
        assert sweep.running(), "the sweep must still be running when its driver is killed"
        sweep.kill()  # the driver's machine is gone, and its working copy with it
        note("driver killed")
    finally:
        sweep.kill()
    copies = list(Path(tempfile.gettempdir()).glob(f"sweep-{name}-*"))
    assert copies, "the driver had no working copy"
    for copy in copies:
        shutil.rmtree(copy)

    elsewhere = tmp_path / "another-machine"
    elsewhere.mkdir()
    env = sweep_env(ray_tmp, **FAST_NODE_DEATH)
    resume = Sweep(["resume", name, "--storage", storage, "--address", c.address], env, elsewhere,
                   tmp_path / "logs")
    rc, out, err = resume.wait(timeout=300)
    assert rc == 0, err[-3000:]
    assert not any(elsewhere.iterdir()), "resume wrote into its working directory"
    note("resumed from a fresh directory")

    downloaded = tmp_path / "downloaded"
    for key in (k for k in s3.keys() if k.startswith(f"sweeps/{name}/optuna.db")):
        (downloaded / name).mkdir(parents=True)
        s3.client().download_file("team", key, str(downloaded / name / "optuna.db"))
    runs = assert_like_a_local_sweep(uri, name, downloaded, 3, {"sgd": 1, "sam": 2})
    for run in runs:  # every epoch once in MLflow, whoever ran it
        assert sorted(set(steps(uri, run, "epoch"))) == list(range(1, epochs + 1))
    assert len({r.data.tags["node_id"] for r in runs}) > 1  # the trials spread over the nodes
    (moved,) = [r for r in runs if r.data.tags["trial_id"] == trial]
    assert moved.data.tags["node_id"] != lost
    starts = steps(uri, moved, "startup_seconds")
    assert starts[0] == 1 and seen <= starts[1] <= epochs, starts  # from its checkpoint, not epoch 1
    keys = s3.keys()
    checkpoints = {k.split("/")[3] for k in keys if "/checkpoint_" in k and k.startswith(
        f"sweeps/{name}/search/")}
    assert len(checkpoints) == 3, sorted(checkpoints)  # every trial checkpointed to S3

    third = tmp_path / "a-third-machine"
    third.mkdir()
    report = Sweep(["report", name, "--storage", storage], env, third, tmp_path / "logs")
    rc, out, err = report.wait(timeout=180)
    assert rc == 0, err[-3000:]
    assert f"Report files: {storage}/{name}/report" in out
    assert {f"sweeps/{name}/report/report.{x}" for x in ("md", "csv", "tex")} <= set(keys := s3.keys())
    analyze = Sweep(["analyze", name, "--storage", storage], env, third, tmp_path / "logs")
    rc, out, err = analyze.wait(timeout=180)
    assert rc == 0, err[-3000:]
    assert f"Analysis files: {storage}/{name}/report (also in MLflow" in out
    assert f"sweeps/{name}/report/analysis.md" in (keys := s3.keys())
    assert not any(third.iterdir())

    secret = s3.env["AWS_SECRET_ACCESS_KEY"]
    nodes = [Path(ray_tmp)] + [Path(ray_tmp) / f"n{i}" for i in range(3)]
    assert len({p for n in nodes[1:] for p in n.glob("session_2*")}) == 3  # a temp dir per node
    assert files_holding(secret, tmp_path / "logs", elsewhere, third, downloaded, *nodes) == []
    assert secret.encode() not in (tmp_path / "mlflow.db").read_bytes()
    bodies = [s3.client().get_object(Bucket="team", Key=k)["Body"].read() for k in keys]
    assert len(bodies) > 20 and not any(secret.encode() in b for b in bodies)
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == secret  # it was there all along
