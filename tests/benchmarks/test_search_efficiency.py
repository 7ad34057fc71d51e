"""Scoring replayed searches, the rule that picks the default, budget calibration, and the quick
mode of `python -m benchmarks.search_efficiency`."""

from __future__ import annotations

import math

import pytest

from benchmarks.landscapes import LANDSCAPES
from benchmarks.replay import RTrial, SchedulerSpec, replay
from benchmarks.search_efficiency import calibrate, main, synthetic
from benchmarks.search_stats import Outcome, binomial_se, choose_default, paired, score, summary, wilson
from benchmarks.tabular_search import Curve, grid_best


def flat_table() -> dict:
    """Three configs: the winner at 50.0 %, one 0.4 SE below it, one 2 SE below (n = 2,000)."""
    se = binomial_se(0.5, 2000)
    finals = {(0.1, 16): 0.5, (0.2, 16): 0.5 - 0.4 * se, (0.4, 16): 0.5 - 2 * se}
    return {k: Curve((v - 0.1, v), (1.0, 1.0), (30, 60), test_acc=v + 0.3) for k, v in finals.items()}


def trial(config: tuple, val: float, completed: bool = True) -> RTrial:
    return RTrial(config, 2 if completed else 1, completed, val, 60 if completed else 30, 2.0, 0.0, 2.0)


def test_score_measures_the_pick_against_the_grid_winner_in_binomial_ses() -> None:
    table = flat_table()
    se = binomial_se(0.5, 2000)
    near = score(table, [trial((0.2, 16), 0.5 - 0.4 * se), trial((0.4, 16), 0.5 - 2 * se)], 2000)
    assert near.pick == (0.2, 16) and not near.best and near.half_se and near.one_se
    assert near.regret == pytest.approx(40 * se) and near.regret_se == pytest.approx(0.4)
    assert near.share == pytest.approx(120 / 180) and near.pick_test == pytest.approx(0.8 - 0.4 * se)
    far = score(table, [trial((0.4, 16), 0.5 - 2 * se), trial((0.1, 16), 0.49, completed=False)], 2000)
    assert far.pick == (0.4, 16) and not far.half_se and not far.one_se and far.pruned == 1
    hit = score(table, [trial((0.1, 16), 0.5)], 2000)
    assert hit.best and hit.regret == 0.0
    none = score(table, [trial((0.1, 16), 0.5, completed=False)], 2000)
    assert none.pick is None and math.isnan(none.regret) and not none.one_se


def test_wilson_interval_and_summary() -> None:
    lo, hi = wilson(15, 30)
    assert lo < 0.5 < hi and hi - lo == pytest.approx(0.34, abs=0.01)
    assert wilson(0, 30)[0] == 0.0 and wilson(30, 30)[1] == 1.0
    table = flat_table()
    runs = [score(table, [trial((0.1, 16), 0.5)], 2000), score(table, [trial((0.4, 16), 0.48)], 2000)]
    s = summary(runs)
    assert s["best"] == 0.5 and s["one_se"] == 0.5 and s["n"] == 2


def outcome(regret_se: float, share: float = 0.3) -> Outcome:
    return Outcome(share, 1.0, 1.0, 0, (1,), 0.5, 0.8, regret_se == 0, regret_se, regret_se,
                   regret_se <= 0.5, regret_se <= 1)


def test_the_default_changes_only_on_a_paired_win_and_no_significant_loss() -> None:
    cur = [outcome(r) for r in (0.6, 0.8, 0.5, 0.9, 0.7) * 8]
    better = [outcome(r - 0.4) for r in (0.6, 0.8, 0.5, 0.9, 0.7) * 8]
    noisy = [outcome(r) for r in (0.0, 1.4, 0.0, 1.4, 0.2) * 8]  # mean 0.6: better, not surely
    costly = [outcome(0.0, share=0.6)] * 40                     # more compute: not eligible
    res = {"a": {"cur": cur, "better": better, "costly": costly},
           "b": {"cur": cur, "better": better, "costly": costly}}
    assert choose_default(res, "cur").strategy == "better"
    unsure = {"a": {"cur": cur, "noisy": noisy}, "b": {"cur": cur, "noisy": noisy}}
    choice = choose_default(unsure, "cur")
    assert choice.strategy == "cur" and "does not beat" in choice.reason
    assert choice.scores["noisy"] == pytest.approx(0.6)
    m, lo, hi = paired(noisy, cur)["regret_se"]
    assert m == pytest.approx(-0.1) and lo < m < hi and lo < 0 < hi


def test_calibrated_budgets_spend_about_the_share_asked() -> None:
    land, table = synthetic()
    full = sum(c.cost(c.epochs)[0] for c in table.values())
    assert calibrate(table, land.axes, SchedulerSpec("none"), 1 / 3, seeds=5) == 4
    spec = SchedulerSpec("asha", 2, 3)
    n = calibrate(table, land.axes, spec, 1 / 3, seeds=20)
    assert n > 4
    shares = [sum(t.grad_evals for t in replay(table, land.axes, "random", spec, n, s)) / full
              for s in range(20)]
    assert abs(sum(shares) / 20 - 1 / 3) < 0.1


def test_the_landscapes_are_24_config_grids_of_the_demo_setting() -> None:
    for land in LANDSCAPES.values():
        assert len(land.configs()) == 24 and land.base["epochs"] == 40
        assert land.base["dataset"] == "fashion_mnist" and land.method == "sam"


def test_quick_mode_reports_every_strategy_with_the_columns_asked(tmp_path) -> None:
    lines = main(["--quick", "--seeds", "3", "--plot", str(tmp_path / "p.png"),
                  "--json", str(tmp_path / "s.json")])
    text = "\n".join(lines)
    for col in ("compute share (%)", "pick = val-best (%) [95 % CI]", "within 0.5 SE (%)",
                "within 1 SE (%)", "val regret (points)", "pick test acc (%)", "Δ val regret"):
        assert col in text
    rows = [ln for ln in lines if ln.startswith("| tpe + ") or ln.startswith("| random + ")]
    assert len(rows) == 6 + 6 + 5  # 6 strategies x (2 and 1 at a time) + paired rows
    assert "Default (2 trials at a time" in text
    assert (tmp_path / "p.png").stat().st_size > 0 and (tmp_path / "s.json").exists()
    land, table = synthetic()
    assert grid_best(table)[0] in table
