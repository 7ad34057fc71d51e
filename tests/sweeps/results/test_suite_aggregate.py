"""The suite's aggregate on hand-built records of 3 workloads x 3 methods x 4 confirm seeds:
wins/ties/losses from each workload's Holm-corrected paired t-tests, ranks of the mean test
scores, the performance profile and the bootstrap interval, each computed here by its formula.

Scores are multiples of 1/64 so that means and ties are exact in floating point."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sweeps.results.suite_aggregate import aggregate_suite, bootstrap_mean_rank, profile
from sweeps.study.study_file import parse_study

U = 1 / 64
SEEDS = (1, 2, 3, 4)
CFG = {"sgd": {"perturbation": "none"}, "sam": {"rho": 0.05},
       "obf": {"perturbation": "obf", "rho": 0.05}}
# workload -> method -> test accuracy by seed, in units of 1/64
SCORES = {
    "w1": {"sgd": [44, 45, 46, 47], "sam": [50, 52, 52, 54], "obf": [45, 44, 47, 46]},
    "w2": {"sgd": [50, 51, 50, 51], "sam": [53, 55, 53, 55], "obf": [44, 44, 44, 44]},
    "w3": {"sgd": [30, 32, 34, 36], "sam": [31, 31, 34, 37], "obf": [42, 45, 46, 49]},
}


def study(name: str):
    return parse_study(f"name: {name}\nmetric: val_acc\ntest: t\nbaseline: sgd\n"
                       "base: {dataset: digits, epochs: 3}\nmethods:\n"
                       "  sgd: {fixed: {perturbation: none}}\n"
                       "  sam: {space: {rho: {loguniform: [0.01, 0.5]}}}\n"
                       "  obf: {fixed: {perturbation: obf}, space: {rho: {loguniform: [0.01, 0.5]}}}\n")


def workload(make_record, name: str, scores: dict[str, list[int]]) -> tuple:
    """One search run per method, then its config on the confirm seeds with `scores`."""
    t, records = iter(range(100)), []
    for m, units in scores.items():
        records.append(make_record(m, "search", "completed", 0, CFG[m], {"val_acc": 0.5}, next(t)))
        for seed, u in zip(SEEDS, units, strict=True):
            records.append(make_record(m, "confirm", "completed", seed, CFG[m],
                                       {"val_acc": 0.5, "test_acc": u * U}, next(t)))
    return study(name), records


@pytest.fixture
def agg(make_record):
    return aggregate_suite({w: workload(make_record, w, s) for w, s in SCORES.items()},
                           draws=500, seed=3)


def paired_t_p(a: list[int], b: list[int]) -> float:
    d = (np.array(a) - np.array(b)) * U
    t = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
    return float(2 * stats.t.sf(abs(t), len(d) - 1))


def holm_by_hand(p: dict[str, float]) -> dict[str, float]:
    """Holm (1979): the i-th smallest p times (m - i + 1), running maximum, capped at 1."""
    order, out, running = sorted(p, key=p.get), {}, 0.0
    for i, k in enumerate(order):
        running = max(running, min(1.0, (len(p) - i) * p[k]))
        out[k] = running
    return out


def expected_outcomes() -> dict[str, dict[str, str]]:
    """Each workload's family: sam vs sgd, obf vs sgd and the compared methods' pair."""
    out = {}
    for w, s in SCORES.items():
        p = holm_by_hand({"sam": paired_t_p(s["sam"], s["sgd"]),
                          "obf": paired_t_p(s["obf"], s["sgd"]),
                          "pair": paired_t_p(s["sam"], s["obf"])})
        out[w] = {m: ("tie" if p[m] >= 0.05 else "win" if np.mean(s[m]) > np.mean(s["sgd"])
                      else "loss") for m in ("sam", "obf")}
    return out


def test_wins_ties_losses_are_the_workloads_holm_corrected_verdicts(agg):
    expected = expected_outcomes()
    assert agg.outcomes == expected
    # the data were built for this pattern: sam 2 wins, 1 tie; obf one of each
    assert expected == {"w1": {"sam": "win", "obf": "tie"}, "w2": {"sam": "win", "obf": "loss"},
                        "w3": {"sam": "tie", "obf": "win"}}
    assert (agg.tally["sam"].wins, agg.tally["sam"].ties, agg.tally["sam"].losses) == (2, 1, 0)
    assert (agg.tally["obf"].wins, agg.tally["obf"].ties, agg.tally["obf"].losses) == (1, 1, 1)
    assert "sgd" not in agg.tally


def test_ranks_are_those_of_the_mean_test_scores_and_ties_share_their_mean_rank(agg):
    means = {w: {m: np.mean(v) for m, v in s.items()} for w, s in SCORES.items()}
    for w, mean in means.items():  # rank = 1 + (methods strictly better) + (equal others) / 2
        expected = {m: 1 + sum(o > v for o in mean.values())
                    + (sum(o == v for o in mean.values()) - 1) / 2 for m, v in mean.items()}
        assert agg.ranks[w] == expected
    assert agg.ranks["w1"] == {"sgd": 2.5, "sam": 1.0, "obf": 2.5}  # sgd and obf tie exactly
    assert agg.mean_rank == pytest.approx({"sgd": (2.5 + 2 + 3) / 3, "sam": (1 + 1 + 2) / 3,
                                           "obf": (2.5 + 3 + 1) / 3})


def test_performance_profile_is_the_share_of_workloads_within_tau_of_the_best(agg):
    errors = {w: {m: 1 - float(np.mean(v)) * U for m, v in s.items()} for w, s in SCORES.items()}
    assert agg.errors == errors  # exact: multiples of 1/64
    taus = [1.0, 1.5, 1.7, 2.0]
    for m in ("sgd", "sam", "obf"):
        ratios = [e[m] / min(e.values()) for e in errors.values()]
        assert profile(agg.errors, m, taus) == pytest.approx(
            [sum(r <= t + 1e-12 for r in ratios) / 3 for t in taus])
    # by hand: ratios sgd 1.54, 1.35, 1.68; sam 1, 1, 1.66; obf 1.54, 2.0, 1
    assert profile(agg.errors, "sam", taus) == pytest.approx([2 / 3, 2 / 3, 1, 1])
    assert profile(agg.errors, "sgd", taus) == pytest.approx([0, 1 / 3, 1, 1])
    assert profile(agg.errors, "obf", taus) == pytest.approx([1 / 3, 1 / 3, 2 / 3, 1])


def test_bootstrap_interval_holds_the_estimate_and_is_reproducible(make_record, agg):
    for m in agg.methods:
        lo, hi = agg.rank_interval[m]
        assert lo <= agg.mean_rank[m] <= hi
    again = aggregate_suite({w: workload(make_record, w, s) for w, s in SCORES.items()},
                            draws=500, seed=3)
    assert again.rank_interval == agg.rank_interval
    # w3's seeds put sam above or below sgd depending on the draw: the interval has width
    assert agg.rank_interval["sam"][0] < agg.rank_interval["sam"][1]


def test_bootstrap_resamples_seeds_paired_across_methods():
    # each row a seed: methods differ by a constant, so every paired draw keeps the order
    paired = np.array([[0.5, 0.6], [0.7, 0.8], [0.9, 1.0]])
    assert bootstrap_mean_rank([paired], "max", draws=200).tolist() == [[2.0, 2.0], [1.0, 1.0]]
    # two workloads, opposite orders: mean rank 1.5 in every draw
    flipped = paired[:, ::-1]
    assert bootstrap_mean_rank([paired, flipped], "max", draws=200).tolist() == [[1.5, 1.5]] * 2
    # unpaired noise moves it: the second method wins some draws only
    noisy = np.array([[0.5, 0.9], [0.7, 0.4], [0.9, 0.6]])
    lo, hi = bootstrap_mean_rank([noisy], "max", draws=500)[0]
    assert lo == 1.0 and hi == 2.0


def test_a_workload_of_one_seed_has_no_verdict_but_a_rank(make_record):
    scores = {m: v[:1] for m, v in SCORES["w1"].items()}
    agg = aggregate_suite({"w1": workload(make_record, "w1", SCORES["w1"]),
                           "one_seed": _one_seed(make_record, scores)}, draws=50)
    assert agg.outcomes["one_seed"] == {"sam": "n/a", "obf": "n/a"}
    assert agg.tally["sam"].missing == 1 and set(agg.ranks) == {"w1", "one_seed"}
    # one seed still ranks (the means of one seed each)
    assert agg.ranks["one_seed"] == {"sgd": 3.0, "sam": 1.0, "obf": 2.0}


def _one_seed(make_record, scores):
    t, records = iter(range(100)), []
    for m, units in scores.items():
        records.append(make_record(m, "search", "completed", 0, CFG[m], {"val_acc": 0.5}, next(t)))
        records.append(make_record(m, "confirm", "completed", 1, CFG[m],
                                   {"val_acc": 0.5, "test_acc": units[0] * U}, next(t)))
    return study("one_seed"), records
