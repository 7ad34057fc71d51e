"""Sweeps on a real multi-node Ray cluster (`ray.cluster_utils.Cluster`: processes on this machine).

The cluster: a head with 0 CPUs and three worker nodes with 1 logical CPU each, a private
`RAY_TMPDIR`, fast node-death detection; storage is a local directory every node sees.
`python -m sweeps run --address` joins it as a subprocess. Checked: a 2-worker DDP trial (gloo)
has its workers on two nodes; single-worker trials spread over the nodes; removing the node of a
running trial (no graceful shutdown) moves the trial to a surviving node, where it continues from
its checkpoint; MLflow and Optuna hold what a local sweep leaves.
"""

from __future__ import annotations

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


@pytest.fixture
def cluster(monkeypatch):
    """(Cluster, its RAY_TMPDIR); nodes started from this process's main thread."""
    import ray
    from ray.cluster_utils import Cluster

    # Cluster.shutdown() resets this process's Ray client state: run before any in-process Ray
    assert not ray.is_initialized(), "the multi-node test must run before in-process Ray tests"

    with private_ray_tmpdir() as ray_tmp:
        for key, value in {"RAY_TMPDIR": ray_tmp, "RAY_USAGE_STATS_ENABLED": "0",
                           **FAST_NODE_DEATH}.items():
            monkeypatch.setenv(key, value)
        c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
        try:
            for _ in range(3):
                c.add_node(num_cpus=1)
            c.wait_for_nodes()
            note(f"cluster up at {c.address}")
            yield c, ray_tmp
        finally:
            c.shutdown()


def run_sweep(c, ray_tmp: str, tmp_path: Path, name: str, text: str) -> Sweep:
    (tmp_path / f"{name}.yaml").write_text(text)
    return Sweep(["run", f"{name}.yaml", "--storage", "runs", "--address", c.address,
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


def test_sweeps_across_nodes_ddp_spread_and_a_lost_node(cluster, tmp_path):
    c, ray_tmp = cluster
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

    epochs = 6
    spread = run_sweep(c, ray_tmp, tmp_path, "spread", study_yaml("spread", epochs, budget=2))
    try:
        trial, lost, seen = remove_a_trials_node(c, uri, "spread", epochs, spread)
        rc, _, err = spread.wait(timeout=240)
    finally:
        spread.kill()
    assert rc == 0, err[-3000:]
    runs = assert_like_a_local_sweep(uri, "spread", tmp_path / "runs", 3, {"sgd": 1, "sam": 2})
    results = tune_results(tmp_path / "runs" / "spread" / "search")
    assert len({r["node_id"] for rs in results.values() for r in rs}) > 1
    assert len({r.data.tags["node_id"] for r in runs}) > 1
    (moved,) = [r for r in runs if r.data.tags["trial_id"] == trial]
    assert moved.data.tags["node_id"] != lost
    assert sorted(set(steps(uri, moved, "epoch"))) == list(range(1, epochs + 1))
    # its new process (reporting `startup_seconds` first) began after a checkpoint, not at epoch 1
    first, restarted = steps(uri, moved, "startup_seconds")
    assert first == 1 and seen <= restarted <= epochs, (seen, restarted)
