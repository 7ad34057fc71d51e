"""What each method spent on tuning: its search trials, gradient evaluations and device-seconds.

A comparison of tuned methods is fair only if each had the same tuning budget (Sivaprasad et
al., ICML 2020, "Optimizer benchmarking needs to account for hyperparameter tuning"). The budget
counts the search phase only (every search run, pruned and diverged ones included); SELECT and
CONFIRM runs re-run chosen configs and are no tuning. `budget_note` says when the methods'
trial counts differ.

Example:
    >>> note = budget_note({"sgd": Budget(1, 300.0, 6.0), "sam": Budget(3, 1800.0, 18.0)})
    >>> note.startswith("Tuning budgets differ: sgd 1 trial")
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sweeps.store.phase import Phase
from sweeps.store.schema import RunRecord

__all__ = ["Budget", "tuning_budget", "budget_note"]


@dataclass(frozen=True)
class Budget:
    """Search trials, and the gradient evaluations and device-seconds they spent."""

    trials: int
    grad_evals: float
    device_seconds: float


def tuning_budget(records: Sequence[RunRecord], method: str) -> Budget:
    """`method`'s search-phase spending (a trial is a distinct trial id, else a run)."""
    runs = [r for r in records if r.method == method and r.phase == Phase.SEARCH]
    trials = {r.trial_id or r.run_id for r in runs}
    return Budget(len(trials), sum(r.grad_evals for r in runs),
                  sum(r.device_seconds for r in runs))


def budget_note(budgets: dict[str, Budget]) -> str | None:
    """One sentence when the methods' search trial counts differ, else None."""
    counts = {m: b.trials for m, b in budgets.items()}
    if len(set(counts.values())) <= 1:
        return None
    spent = ", ".join(f"{m} {k} trial{'s' if k != 1 else ''} "
                      f"({budgets[m].grad_evals:,.0f} grad evals, "
                      f"{budgets[m].device_seconds:,.1f} device-s)" for m, k in counts.items())
    return (f"Tuning budgets differ: {spent}. A method tuned with more trials had more chances "
            "to find a good config; its lead is not all the optimizer's.")
