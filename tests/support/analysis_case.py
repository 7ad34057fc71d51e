"""Run records with known diagnostic columns, for the correlation and analysis-output tests."""

from __future__ import annotations

import math

from sweeps.store.schema import RunRecord

N = 10
TEST = [0.50 + 0.03 * i for i in range(N)]                       # strictly increasing
INDEPENDENT = [0.3, 0.9, 0.1, 0.7, 0.5, 0.2, 0.8, 0.4, 0.6, 0.0]  # tau vs TEST: -0.16


def rec(i: int, final: dict, method: str = "sam", phase: str = "search",
        status: str = "completed", epoch: int = 3) -> RunRecord:
    return RunRecord(run_id=f"r{i}", method=method, phase=phase, status=status, group_key=f"g{i}",
                     seed=i, params={"epochs": 3}, final={"epoch": float(epoch), **final})


def runs(**columns: list[float]) -> list[RunRecord]:
    """Records i = 0..N-1 whose final metric `k` is `columns[k][i]` (NaN: not logged)."""
    return [rec(i, {k: v[i] for k, v in columns.items() if not math.isnan(v[i])},
                method="sam" if i % 2 else "sgd", phase="confirm" if i > 6 else "search")
            for i in range(N)]


def row(a, name):
    return next(r for r in a.rows if r.name == name)
