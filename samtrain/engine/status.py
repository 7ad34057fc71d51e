"""`RunStatus`: the state of a training run, as reported with every epoch and kept as a tag.

The loop reports `running`, `completed` or `diverged`; a launcher adds `pruned` (stopped early
by a scheduler) and `failed` (the run's process died or raised).

Example:
    >>> RunStatus("completed") is RunStatus.COMPLETED, RunStatus.PRUNED in FINAL_STATUSES
    (True, True)
    >>> f"{RunStatus.DIVERGED}"
    'diverged'
"""

from __future__ import annotations

from enum import Enum


class RunStatus(str, Enum):
    RUNNING = "running"
    COMPLETED = "completed"
    PRUNED = "pruned"
    DIVERGED = "diverged"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value

    __format__ = str.__format__


FINAL_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.PRUNED, RunStatus.DIVERGED,
                            RunStatus.FAILED})
