"""One rule for "best": `sweep best`, `confirm`, `report` and the plots agree, in max and min mode."""


import pytest

from sweeps.errors import SweepError
from sweeps.execution.confirm import confirm_seeds, missing_cells
from sweeps.report.status import best_config_yaml
from sweeps.results.rows import method_rows
from sweeps.results.selection import rank_configs, winners
from tests.support.selection_case import EXPECTED, OBF_X, SAM_A, SAM_B, SAM_C, search_records, study


def _key(method, config):
    from samtrain.config.train_config import TrainConfig

    return TrainConfig(dataset="digits", epochs=3, **config).group_key()


@pytest.mark.parametrize("metric, mode", list(EXPECTED))
def test_best_confirm_report_and_plots_agree_on_each_winner(metric, mode, make_record):
    s, records = study(metric, mode), search_records(make_record)
    expected = {m: _key(m, c) for m, c in EXPECTED[(metric, mode)].items()}
    assert {m: w[0].group_key for m, w in winners(records, metric, mode).items()} == expected
    for m, key in expected.items():  # sweep best --method m
        yaml_text = best_config_yaml(s, "s", records, m)
        assert key in {w.group_key for w in winners(records, metric, mode)[m]}
        assert f"best {m} config" in yaml_text
    # sweep confirm: the same winners, fresh seeds 1..3 (never the selecting seed 0)
    cells = missing_cells(s, records, top=1, seeds=3)
    assert {(m, c.group_key()) for m, c, _ in cells} == set(expected.items())
    assert sorted({c.seed for _, c, _ in cells}) == [1, 2, 3] == confirm_seeds(0, 3)
    # sweep report (and the plots, which draw rows[m].winner)
    rows = method_rows(records, s)
    assert {m: r.winner.group_key for m, r in rows.items()} == expected


def test_min_mode_picks_the_lowest_and_max_mode_the_highest(make_record):
    records = search_records(make_record)
    low = rank_configs(records, "val_loss", "min")
    high = rank_configs(records, "val_acc", "max")
    assert [round(s.score, 4) for s in low][:2] == [0.2, 0.3]
    assert [round(s.score, 4) for s in high][:2] == [0.8125, 0.8125]
    assert (high[0].group_key, high[0].n) == (_key("obf", OBF_X), 2)   # tie: more runs first
    assert all(s.score == s.score for s in low)                        # NaN runs never score
    assert _key("sam", SAM_C) not in {s.group_key for s in high}       # pruned never scores


def test_ties_of_equal_runs_go_to_the_earlier_config(make_record):
    r = make_record
    records = [r("sam", "search", "completed", 0, SAM_B, {"val_acc": 0.5}, 20),
               r("sam", "search", "completed", 0, SAM_A, {"val_acc": 0.5}, 10)]
    assert rank_configs(records, "val_acc", "max")[0].group_key == _key("sam", SAM_A)


def test_a_method_without_a_full_length_run_has_no_winner(make_record):
    s = study("val_acc", "max")
    only_pruned = [make_record("sam", "search", "pruned", 0, SAM_C, {"val_acc": 0.9}, 1, reached=1)]
    assert winners(only_pruned, "val_acc", "max") == {}
    assert method_rows(only_pruned, s)["sam"].winner is None
    with pytest.raises(SweepError, match="no completed full-length search run of sam"):
        best_config_yaml(s, "s", only_pruned, "sam")
