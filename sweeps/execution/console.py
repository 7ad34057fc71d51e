"""What a sweep prints while it runs: one status column, progress with an ETA, the outcome counts,
where its MLflow runs are, and no notice about Ray auth that the user did not ask for.

- `trial_outcome`: a trial's status in the project's words (pending, running, completed, pruned,
  diverged, failed): Tune's own says TERMINATED for a trial ASHA stopped early and for one that
  diverged, so `SweepReporter`'s table shows this word instead, in its one `status` column;
- `SweepReporter`: Tune's progress table (a `tune.ProgressReporter`): a header line with trials
  done/total, the outcome counts, time elapsed and the ETA, then one row per trial;
- `summary_line`: the last line of a phase, e.g. `sweep 'tiny': 5 trials: 2 completed, 2 pruned,
  1 diverged, 0 failed.`;
- `mlflow_hint`: where the runs are and how to open them (`mlflow ui --backend-store-uri ...`);
- `quiet_ray_auth_notice`: Ray 2.60 warns, at every start of a local cluster, that it enabled
  token authentication (`RAY_AUTH_MODE` unset). The notice is dropped by a logging filter on
  that one logger; auth stays as Ray sets it, and a user who sets `RAY_AUTH_MODE` asked for it
  (Ray then says nothing anyway).

Example:
    >>> trial_outcome("TERMINATED", {"status": "running", "epoch": 2}, epochs=5)
    'pruned'
    >>> summary_line("tiny", ["completed", "pruned", "diverged", "pruned", "completed"])
    "sweep 'tiny': 5 trials: 2 completed, 2 pruned, 1 diverged, 0 failed."
    >>> for part in mlflow_hint("sqlite:////home/ada/mlflow.db", "tiny").split("; "):
    ...     print(part)
    MLflow: sweep 'tiny' records its runs in sqlite:////home/ada/mlflow.db
    open them with `mlflow ui --backend-store-uri sqlite:////home/ada/mlflow.db`
"""

from __future__ import annotations

import logging
import shlex
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from ray import tune

from samtrain.engine.status import RunStatus
from sweeps.search.trial_config import KEY, read_trial

__all__ = ["trial_outcome", "result_outcome", "summary_line", "mlflow_hint", "SweepReporter",
           "quiet_ray_auth_notice", "OUTCOMES"]

OUTCOMES = ("completed", "pruned", "diverged", "failed")
RAY_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"  # a logger's name


def trial_outcome(tune_status: str, last: dict[str, Any] | None, epochs: int) -> str:
    """A trial's status in the project's words, from Tune's status and its last result."""
    last = last or {}
    if tune_status in ("PENDING", "PAUSED"):
        return "pending"
    if tune_status == "ERROR":
        return RunStatus.FAILED.value
    if tune_status == "RUNNING":
        return RunStatus.RUNNING.value
    status = str(last.get("status", RunStatus.FAILED))
    if status == RunStatus.RUNNING or (status == RunStatus.COMPLETED
                                       and int(last.get("epoch", 0)) < epochs):
        return RunStatus.PRUNED.value  # stopped by the scheduler before its last epoch
    return status


def _epochs(config: dict[str, Any]) -> int:
    return int(read_trial(config).train_config["epochs"])


def result_outcome(result: Any) -> str:
    """The outcome of a finished trial's `tune.Result`."""
    if result.error is not None:
        return RunStatus.FAILED.value
    return trial_outcome("TERMINATED", result.metrics, _epochs(result.config))


def summary_line(name: str, outcomes: Iterable[str], what: str = "trials") -> str:
    """The last line of a phase: every outcome counted (completed, pruned, diverged, failed)."""
    counts = Counter(outcomes)
    n = sum(counts.values())
    shown = ", ".join(f"{counts.get(o, 0)} {o}" for o in OUTCOMES)
    return f"sweep {name!r}: {n} {what}: {shown}."


def mlflow_hint(tracking_uri: str, name: str) -> str:
    """Where the sweep's runs are (the URI: it holds no password) and how to open them."""
    if tracking_uri.startswith(("http://", "https://")):
        how = f"open {tracking_uri} in a browser (experiment {name!r})"
    else:
        how = f"open them with `mlflow ui --backend-store-uri {shlex.quote(tracking_uri)}`"
    return f"MLflow: sweep {name!r} records its runs in {tracking_uri}; {how}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def progress_line(outcomes: Sequence[str], total: int, elapsed_s: float) -> str:
    """Trials done/total, the outcome counts, elapsed time and the ETA (the mean time per
    finished trial so far times those left; none before the first one ends).

    >>> print(progress_line(["completed", "pruned", "running", "pending"], 8, 120.0))
    2/8 trials done (1 completed, 1 pruned, 0 diverged, 0 failed), 1 running; 2m00s elapsed, ETA 6m00s
    """
    counts = Counter(outcomes)
    done = sum(counts.get(o, 0) for o in OUTCOMES)
    total = max(total, len(outcomes))
    shown = ", ".join(f"{counts.get(o, 0)} {o}" for o in OUTCOMES)
    eta = _duration(elapsed_s / done * (total - done)) if done else "after the first trial ends"
    return (f"{done}/{total} trials done ({shown}), {counts.get('running', 0)} running; "
            f"{_duration(elapsed_s)} elapsed, ETA {eta}")


class SweepReporter(tune.ProgressReporter):
    """Tune's progress table with one status column (`trial_outcome`) and a progress header."""

    def __init__(self, metric_columns: Sequence[str], every_s: float = 15.0) -> None:
        self.metric_columns, self.every_s = list(metric_columns), every_s
        self.start, self.total, self._last = time.time(), 0, 0.0

    def setup(self, start_time: float | None = None, total_samples: int | None = None,
              metric: str | None = None, mode: str | None = None, **kwargs: Any) -> None:
        self.start = start_time or time.time()
        self.total = int(total_samples or 0)

    def should_report(self, trials: list[Any], done: bool = False) -> bool:
        return done or time.time() - self._last >= self.every_s

    def table(self, trials: list[Any]) -> list[str]:
        """The header line and one row per trial."""
        rows, outcomes = [], []
        for t in trials:
            last = t.last_result or {}
            if KEY in t.config:
                entry = read_trial(t.config)
                method, epochs = entry.method, int(entry.train_config["epochs"])
            else:  # a trial of some other trainable: its own last epoch is its length
                method, epochs = "-", int(last.get("epoch", 0))
            outcome = trial_outcome(t.status, last, epochs)
            outcomes.append(outcome)
            values = [_cell(last.get(c)) for c in self.metric_columns]
            rows.append([str(t), method, outcome, *values])
        head = ["trial", "method", "status", *self.metric_columns]
        widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                 for r in [head, *rows]]
        return [progress_line(outcomes, self.total, time.time() - self.start), *lines]

    def report(self, trials: list[Any], done: bool, *sys_info: str) -> None:
        self._last = time.time()
        print("\n".join(self.table(trials)), flush=True)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class _DropAuthNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Token authentication is" not in record.getMessage()


def quiet_ray_auth_notice() -> None:
    """Drop Ray's token-authentication notice (see the module docstring); idempotent."""
    logger = logging.getLogger(RAY_AUTH_LOGGER)
    if not any(isinstance(f, _DropAuthNotice) for f in logger.filters):
        logger.addFilter(_DropAuthNotice())
