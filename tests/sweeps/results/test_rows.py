"""Report rows on known numbers: each winner's test score over fresh seeds only, Δ vs the
baseline (paired t by seed, Welch otherwise) and Holm, to the formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sweeps.results.rows import best_method, method_rows, metric_on_test_split
from tests.support.report_case import OBF_TEST, SAM_TEST, STUDY, report_records


@pytest.fixture(scope="module")
def records(make_record):
    return report_records(make_record)


def test_rows_score_the_winner_on_the_test_set_over_fresh_seeds_only(records):
    rows = method_rows(records, STUDY)
    sam = rows["sam"]
    assert sam.winner.score == pytest.approx(0.80) and sam.winner.n == 1   # selected on val
    assert sam.test_by_seed == SAM_TEST       # not the selecting run's 0.99, not SAM_B's run
    assert sam.test.mean == pytest.approx(0.72) and sam.test.std == pytest.approx(0.02)
    assert sam.test.ci_low == pytest.approx(0.72 - 4.302653 * 0.02 / math.sqrt(3), abs=1e-6)
    assert sam.config == {"rho": 0.05, "perturb_batch_size": 16}
    assert sam.runs == 9 and sam.statuses == {"completed": 7, "pruned": 1, "diverged": 1}
    assert sam.lost_seeds == {4: "diverged"}                # named, not silently dropped
    # paired t-test by seed against the baseline (sgd)
    c = sam.comparison
    d = np.array([0.10, 0.12, 0.08])
    assert c.test == "paired t" and c.diff == pytest.approx(0.10)
    half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / math.sqrt(3)
    assert (c.ci_low, c.ci_high) == pytest.approx((0.10 - half, 0.10 + half))
    t_stat = d.mean() / (d.std(ddof=1) / math.sqrt(3))
    assert c.p == pytest.approx(2 * stats.t.sf(t_stat, 2))
    # Welch against the baseline when the seeds differ
    o = rows["obf"].comparison
    a, b = np.array([0.80, 0.86]), np.array([0.60, 0.62, 0.64])
    se2 = a.var(ddof=1) / 2 + b.var(ddof=1) / 3
    df = se2 ** 2 / ((a.var(ddof=1) / 2) ** 2 / 1 + (b.var(ddof=1) / 3) ** 2 / 2)
    assert o.test == "Welch t" and o.diff == pytest.approx(0.21)
    assert o.p == pytest.approx(2 * stats.t.sf(0.21 / math.sqrt(se2), df))
    # Holm over the two comparisons
    p_small, p_large = sorted([c.p, o.p])
    holm = {c.p: min(1, 2 * p_small) if c.p == p_small else max(min(1, 2 * p_small), p_large)}
    assert rows["sam"].p_holm == pytest.approx(holm[c.p])
    assert max(rows["sam"].p_holm, rows["obf"].p_holm) == pytest.approx(max(2 * p_small, p_large))
    assert rows["sgd"].comparison is None and math.isnan(rows["sgd"].p_holm)


def test_the_test_metric_follows_the_validation_metric():
    assert metric_on_test_split("val_acc") == ("test_acc", "max")
    assert metric_on_test_split("val_loss") == ("test_loss", "min")


def test_best_method_is_the_best_test_mean(records):
    rows = method_rows(records, STUDY)
    assert rows["obf"].test.mean == pytest.approx(sum(OBF_TEST.values()) / 2)
    assert best_method(rows, "max") == "obf" and best_method(rows, "min") == "sgd"
    assert best_method({}, "max") is None
