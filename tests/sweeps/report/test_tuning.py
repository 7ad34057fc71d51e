"""The report's tuning section (`sweeps.report.tuning`): the budget table to the estimator, the
test score of the pick from the confirm seeds, P(best), the i.i.d. caveat, fANOVA importance,
and the figures."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sweeps.report.plots import report_colors
from sweeps.report.tuning import budgets, tuning_section
from sweeps.results.importance import method_importance
from sweeps.results.tuning_curves import expected_max, tuning_curves
from sweeps.study.study_file import parse_study
from tests.support.report_case import STUDY, report_records


def test_section_table_note_and_figures(make_record, tmp_path):
    records = report_records(make_record)
    lines, files = tuning_section(records, STUDY, tmp_path, report_colors(STUDY), "test_acc")
    text = "\n".join(lines)
    assert [p.name for p in files] == ["tuning_curves.png", "sensitivity.png"]
    for p in files:
        with Image.open(p) as im:
            im.verify()
    curves = tuning_curves(records, STUDY, "test_acc")
    # sam: two completed trials and one pruned at its last value 0.5
    assert curves["sam"].n == 3 and curves["sam"].pruned == 1
    assert curves["sam"].expected == pytest.approx(expected_max([0.80, 0.74, 0.5]))
    assert curves["sam"].test is None              # the pruned trial has no test score
    # sgd's one trial: its config's confirm mean (seeds 1-3), not its search run's 0.99
    assert curves["sgd"].test == pytest.approx([np.mean([0.60, 0.62, 0.64])])
    assert "TPE trials are not i.i.d. draws" in text and "Pruned trials (1)" in text
    assert f"| 1 | {curves['sgd'].expected[0]:.4f} [no band at n = 1] (test 0.6200)" in text
    lo, hi = curves["sam"].band_low[0], curves["sam"].band_high[0]
    assert f"{curves['sam'].expected[0]:.4f} [{lo:.4f}, {hi:.4f}], P(best) " in text
    assert "(test 0.6200), P(best) " in text
    assert "- sam: none (2 completed trials < 4)" in text and "- sgd: none (searches no key)" in text


def test_budgets_and_importance_explains_the_key_that_moves_the_metric(make_record):
    assert budgets(1) == [1] and budgets(12) == list(range(1, 11)) + [12]
    study = parse_study("name: t\nmetric: val_acc\nmethods:\n  sam: {space: {rho: {loguniform: "
                        "[0.01, 0.5]}, lr: {uniform: [0.01, 0.5]}}}\n")
    rng = np.random.default_rng(0)
    recs = []
    for i in range(16):
        rho, lr = float(np.exp(rng.uniform(np.log(0.01), np.log(0.5)))), float(rng.uniform(0.01, 0.5))
        recs.append(make_record("sam", "search", "completed", i, {"rho": rho, "lr": lr},
                                {"val_acc": 0.5 + lr}, i))
    imp = method_importance(recs, study, "sam")
    assert imp.trials == 16 and imp.values["lr"] > 0.9 > imp.values["rho"]
    assert sum(imp.values.values()) == pytest.approx(1.0)
