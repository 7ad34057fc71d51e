"""`sweep confirm`'s cells: each winner x fresh seeds that also draw the data, filled only where
nothing completed or diverged; with --top K > 1 the K are run on select seeds first and only the
pick (best mean validation over them) is run on the confirm seeds."""

import math

import pytest

from sweeps.errors import SweepError
from sweeps.execution.confirm import (
    confirm_cells,
    confirm_seeds,
    missing_cells,
    select_cells,
    select_seeds,
)
from sweeps.results.selection import pick_among, winners
from tests.support.selection_case import OBF_X, OBF_Y, SAM_A, SAM_B, search_records, study


def test_confirm_and_select_seeds_never_include_the_search_seed_nor_each_other():
    assert confirm_seeds(0, 3) == [1, 2, 3] and confirm_seeds(7, 2) == [8, 9]
    assert select_seeds(0, 3) == [1001, 1002, 1003] and select_seeds(7, 2) == [1008, 1009]
    assert not set(select_seeds(0, 999)) & set(confirm_seeds(0, 999)) and 0 not in select_seeds(0, 5)
    with pytest.raises(SweepError, match=r"^--seeds: value 1000 is invalid: must be < 1000"):
        select_seeds(0, 1000)


def test_a_confirm_seed_sets_seed_and_data_seed_the_same_for_every_method(make_record):
    cells = missing_cells(study("val_acc", "max"), search_records(make_record), top=1, seeds=5)
    assert all(c.seed == c.data_seed for _, c, _ in cells)
    for method in ("sgd", "sam", "obf"):  # pairing: the same seeds, so the same data, per method
        assert sorted(c.data_seed for m, c, _ in cells if m == method) == [1, 2, 3, 4, 5]
    assert {p for _, _, p in cells} == {"confirm"}
    assert len({(m, c.group_key()) for m, c, _ in cells}) == 3   # one config each, one key


def test_confirm_fills_only_missing_cells_and_search_runs_never_fill_one(make_record):
    s, records = study("val_acc", "max"), search_records(make_record)
    done = make_record("sam", "confirm", "completed", 2, {**SAM_A, "data_seed": 2}, {"val_acc": 0.7}, 30)
    failed = make_record("sam", "confirm", "failed", 3, {**SAM_A, "data_seed": 3}, {"val_acc": 0.7}, 31)
    diverged = make_record("obf", "confirm", "diverged", 1, {**OBF_X, "data_seed": 1},
                           {"val_acc": math.nan}, 32)
    cells = missing_cells(s, [*records, done, failed, diverged], top=1, seeds=3)
    assert sorted(c.seed for m, c, _ in cells if m == "sam") == [1, 3]   # failed: run again
    assert sorted(c.seed for m, c, _ in cells if m == "obf") == [2, 3]   # diverged: kept, not again


def _select(r, method, config, seed, value, start, status="completed"):
    return r(method, "select", status, seed, {**config, "data_seed": seed},
             {"val_acc": value}, start)


def test_top_k_runs_the_k_on_select_seeds_before_any_confirm_seed(make_record):
    s, records = study("val_acc", "max"), search_records(make_record)
    stage1 = missing_cells(s, records, top=2, seeds=3)
    assert {p for m, _, p in stage1 if m != "sgd"} == {"select"}  # no confirm before the pick
    assert sorted((m, c.seed) for m, c, _ in stage1 if m == "sam") == [
        ("sam", 1001), ("sam", 1001), ("sam", 1002), ("sam", 1002), ("sam", 1003), ("sam", 1003)]
    assert {c.group_key() for m, c, _ in stage1 if m == "sam"} == {
        w.group_key for w in winners(records, "val_acc", "max", 2)["sam"]}
    assert all(c.data_seed == c.seed for _, c, _ in stage1)
    assert "sgd" not in {m for m, _, p in stage1 if p == "select"}  # one config: no choice
    assert {(m, c.seed) for m, c, _ in confirm_cells(s, records, 2, 3)} == {
        ("sgd", 1), ("sgd", 2), ("sgd", 3)}                 # ... so it is confirmed at once


def test_only_the_pick_among_the_k_runs_on_the_confirm_seeds(make_record):
    s, r = study("val_acc", "max"), make_record
    records = search_records(r)   # search: SAM_A 0.80 beats SAM_B 0.74
    t = iter(range(100, 200))
    for seed in (1001, 1002, 1003):   # on select seeds SAM_B is better: the search's pick was lucky
        records += [_select(r, "sam", SAM_A, seed, 0.70, next(t)),
                    _select(r, "sam", SAM_B, seed, 0.75, next(t)),
                    _select(r, "obf", OBF_X, seed, 0.70, next(t)),
                    _select(r, "obf", OBF_Y, seed, 0.60, next(t))]
    assert select_cells(s, records, top=2, seeds=3) == []
    cells = missing_cells(s, records, top=2, seeds=3)
    assert {p for _, _, p in cells} == {"confirm"}
    sam = {(c.group_key(), c.seed) for m, c, _ in cells if m == "sam"}
    key_b = records[2].group_key   # SAM_B's search run
    assert sam == {(key_b, 1), (key_b, 2), (key_b, 3)}
    obf = {c.group_key() for m, c, _ in cells if m == "obf"}
    assert obf == {records[5].group_key}   # OBF_X: better on the select seeds too
    confirm = {c.seed for _, c, _ in cells}
    chose = {rec.seed for rec in records if rec.phase == "select"}
    assert confirm == {1, 2, 3} and not confirm & chose    # seeds that chose never score


def test_a_method_waits_for_all_its_select_cells_and_a_diverged_select_seed_ranks_last(make_record):
    s, r = study("val_acc", "max"), make_record
    records = search_records(r)
    records += [_select(r, "sam", SAM_A, 1001, 0.9, 100),
                _select(r, "sam", SAM_A, 1002, math.nan, 101, status="diverged"),
                _select(r, "sam", SAM_B, 1001, 0.6, 102)]
    assert {m for m, _, _ in confirm_cells(s, records, top=2, seeds=2)} == {"sgd"}  # others wait
    assert sorted(c.seed for m, c, _ in select_cells(s, records, 2, 2) if m == "sam") == [1002]
    records.append(_select(r, "sam", SAM_B, 1002, 0.6, 103))
    sam = [c for m, c, p in confirm_cells(s, records, top=2, seeds=2) if m == "sam"]
    assert {c.group_key() for c in sam} == {records[2].group_key}   # SAM_B: A diverged once
    assert sorted(c.seed for c in sam) == [1, 2]


def test_pick_among_ranks_by_the_mean_over_select_runs_in_either_mode(make_record):
    r = make_record
    records = search_records(r)
    runs = [r("sam", "select", "completed", 1001, SAM_A, {"val_loss": 0.3}, 100),
            r("sam", "select", "completed", 1002, SAM_A, {"val_loss": 0.1}, 101),  # mean 0.2
            r("sam", "select", "completed", 1001, SAM_B, {"val_loss": 0.25}, 102),
            r("sam", "confirm", "completed", 1, SAM_B, {"val_loss": 0.0}, 103)]  # never chooses
    top2 = winners(records, "val_loss", "min", 2)["sam"]
    assert pick_among(records + runs, top2, "val_loss", "min").group_key == runs[0].group_key
    assert pick_among(records + runs, top2, "val_loss", "max").group_key == runs[2].group_key
    assert pick_among(records, top2, "val_loss", "min") is None    # no select runs yet
