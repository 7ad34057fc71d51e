"""`sweep confirm`'s cells: each winner x fresh seeds, filled only where nothing completed or
diverged (search runs never fill one)."""

import math

from sweeps.execution.confirm import confirm_seeds, missing_cells
from tests.support.selection_case import OBF_X, SAM_A, search_records, study


def test_confirm_seeds_never_include_the_search_seed():
    assert confirm_seeds(0, 3) == [1, 2, 3] and confirm_seeds(7, 2) == [8, 9]


def test_confirm_fills_only_missing_cells_and_search_runs_never_fill_one(make_record):
    s, records = study("val_acc", "max"), search_records(make_record)
    done = make_record("sam", "confirm", "completed", 2, SAM_A, {"val_acc": 0.7}, 30)
    failed = make_record("sam", "confirm", "failed", 3, SAM_A, {"val_acc": 0.7}, 31)
    diverged = make_record("obf", "confirm", "diverged", 1, OBF_X, {"val_acc": math.nan}, 32)
    cells = missing_cells(s, [*records, done, failed, diverged], top=1, seeds=3)
    assert sorted(c.seed for m, c, _ in cells if m == "sam") == [1, 3]   # failed: run again
    assert sorted(c.seed for m, c, _ in cells if m == "obf") == [2, 3]   # diverged: not again
    two = missing_cells(s, records, top=2, seeds=1)
    assert sorted(m for m, _, _ in two) == ["obf", "obf", "sam", "sam", "sgd"]


