"""What a sweep prints: one status column in the project's words, progress with its ETA, every
outcome counted in the last line, the MLflow URI with the command to open it, and no Ray auth
notice."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pytest

from samtrain.config.train_config import TrainConfig
from sweeps.execution.console import (
    RAY_AUTH_LOGGER,
    SweepReporter,
    mlflow_hint,
    progress_line,
    quiet_ray_auth_notice,
    result_outcome,
    summary_line,
    trial_outcome,
)
from sweeps.search.trial_config import trial_config

CONFIG = trial_config("sam", "search", TrainConfig(epochs=5))


@pytest.mark.parametrize("tune_status, last, expected", [
    ("PENDING", None, "pending"),
    ("RUNNING", {"status": "running", "epoch": 1}, "running"),
    ("TERMINATED", {"status": "completed", "epoch": 5}, "completed"),
    ("TERMINATED", {"status": "running", "epoch": 2}, "pruned"),     # ASHA stopped it
    ("TERMINATED", {"status": "completed", "epoch": 3}, "pruned"),   # ended before its epochs
    ("TERMINATED", {"status": "diverged", "epoch": 2}, "diverged"),
    ("TERMINATED", {}, "failed"),                                    # never reported
    ("ERROR", {"status": "running", "epoch": 4}, "failed"),
])
def test_trial_outcome_names_what_happened_where_tune_says_terminated(tune_status, last, expected):
    assert trial_outcome(tune_status, last, epochs=5) == expected


@dataclass
class FakeResult:
    metrics: dict[str, Any]
    error: Exception | None = None
    config: dict[str, Any] = field(default_factory=lambda: CONFIG)


def test_the_last_line_counts_completed_pruned_diverged_and_failed():
    grid = [FakeResult({"status": "completed", "epoch": 5}), FakeResult({"status": "running", "epoch": 1}),
            FakeResult({"status": "diverged", "epoch": 2}), FakeResult({"status": "completed", "epoch": 2}),
            FakeResult({"status": "completed", "epoch": 5})]
    outcomes = [result_outcome(r) for r in grid]
    assert summary_line("tiny", outcomes) == (
        "sweep 'tiny': 5 trials: 2 completed, 2 pruned, 1 diverged, 0 failed.")
    failed = FakeResult({"status": "running", "epoch": 1}, error=RuntimeError("boom"))
    assert summary_line("t", [result_outcome(failed)], "confirm runs") == (
        "sweep 't': 1 confirm runs: 0 completed, 0 pruned, 0 diverged, 1 failed.")


def test_progress_counts_done_over_total_and_the_eta_is_mean_time_per_finished_trial():
    line = progress_line(["completed", "diverged", "failed", "running", "pending"], 10, 90.0)
    # 3 done in 90 s: 30 s each, 7 left -> 210 s
    assert line == ("3/10 trials done (1 completed, 0 pruned, 1 diverged, 1 failed), 1 running; "
                    "1m30s elapsed, ETA 3m30s")
    assert progress_line(["running"], 4, 5.0).endswith("ETA after the first trial ends")
    assert progress_line(["completed"] * 3, 0, 3600.0).startswith("3/3 trials done")


@dataclass
class FakeTrial:
    name: str
    status: str
    last_result: dict[str, Any]
    config: dict[str, Any] = field(default_factory=lambda: CONFIG)

    def __str__(self) -> str:
        return self.name


def test_the_table_has_one_status_column_in_the_projects_words():
    reporter = SweepReporter(["epoch", "val_acc"])
    reporter.setup(start_time=0.0, total_samples=3)
    lines = reporter.table([
        FakeTrial("sam-a", "TERMINATED", {"status": "running", "epoch": 2, "val_acc": 0.51234}),
        FakeTrial("sam-b", "RUNNING", {"status": "running", "epoch": 1, "val_acc": 0.4}),
        FakeTrial("sam-c", "PENDING", {})])
    assert lines[0].startswith("1/3 trials done (0 completed, 1 pruned, 0 diverged, 0 failed), "
                               "1 running;")
    assert lines[1].split() == ["trial", "method", "status", "epoch", "val_acc"]
    assert [ln.split()[:3] for ln in lines[2:]] == [["sam-a", "sam", "pruned"],
                                                    ["sam-b", "sam", "running"],
                                                    ["sam-c", "sam", "pending"]]
    assert lines[2].split()[3:] == ["2", "0.5123"]
    assert sum(cell == "status" for cell in lines[1].split()) == 1
    assert reporter.should_report([], done=True)


def test_mlflow_hint_gives_the_uri_and_the_command_that_opens_it():
    assert mlflow_hint("sqlite:////data/my runs/mlflow.db", "tiny") == (
        "MLflow: sweep 'tiny' records its runs in sqlite:////data/my runs/mlflow.db; open them "
        "with `mlflow ui --backend-store-uri 'sqlite:////data/my runs/mlflow.db'`")
    assert mlflow_hint("http://127.0.0.1:5000", "t").endswith(
        "open http://127.0.0.1:5000 in a browser (experiment 't')")


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_rays_token_auth_notice_is_dropped_and_nothing_else():
    quiet_ray_auth_notice()
    quiet_ray_auth_notice()  # idempotent: one filter
    logger = logging.getLogger(RAY_AUTH_LOGGER)  # Ray's "ray" logger does not propagate
    assert len(logger.filters) == 1
    kept = Kept()
    logger.addHandler(kept)
    try:
        logger.warning("Token authentication is enabled for this Ray cluster. Set "
                       "RAY_AUTH_MODE=disabled to opt out.")
        logger.warning("another warning stays")
    finally:
        logger.removeHandler(kept)
    assert kept.messages == ["another warning stays"]
