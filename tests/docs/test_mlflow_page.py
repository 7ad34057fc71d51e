"""docs/mlflow.md's Python blocks, run as written: the applied-params rule, and finding every run
of one commit in a store that a sweep's writer filled."""

from __future__ import annotations

import re

from samtrain.config.train_config import TrainConfig
from sweeps.store.provenance import launch_environment
from sweeps.store.writer import SweepWriter
from tests.support import ROOT

PAGE = (ROOT / "docs" / "mlflow.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE, flags=re.S)


def block(containing: str) -> str:
    (found,) = [b for b in BLOCKS if containing in b]
    return found


def test_the_applied_params_block_runs():
    exec(block("applied_params()"), {})


def test_the_code_version_block_finds_every_run_of_the_commit(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = launch_environment(str(ROOT / "search_spaces" / "tiny.yaml"))
    w = SweepWriter("sqlite:///mlflow.db", "tiny", "id1")
    w.open_parent(environment=env)
    for trial, rho in (("t1", 0.05), ("t2", 0.1)):
        cfg = TrainConfig(rho=rho)
        w.child(trial, "sam", "search", cfg.model_dump(mode="json"), cfg.group_key(), environment=env)
    ns: dict = {}
    exec(block("same_code"), ns)
    assert ns["commit"] == env["git_commit"]
    assert len(ns["same_code"]) == 3  # the parent and both trials
