"""Shifted-set scores of a report, to the formula on hand-built records: per set, mean
corruption accuracy, mCE normalized by the baseline (Hendrycks & Dietterich 2019), each with
the existing `compare` and `holm`; and the report's section."""

from __future__ import annotations

import statistics

import pytest

from sweeps.report.document import build_report
from sweeps.report.shift_tables import shift_verdicts
from sweeps.results.paired import compare
from sweeps.results.rows import method_rows
from sweeps.results.shift import MCA, MCE, mce_by_seed, shift_scores
from sweeps.results.stats import holm, summarize
from sweeps.study.study_file import parse_study

STUDY = parse_study("""name: s
metric: val_acc
baseline: sgd
test: t
methods:
  sgd: {fixed: {perturbation: none}}
  sam: {fixed: {perturbation: ascent, rho: 0.05}}
  obf: {fixed: {perturbation: obf, rho: 0.05}}
""")
CFG = {"sgd": {"perturbation": "none"}, "sam": {"perturbation": "ascent", "rho": 0.05},
       "obf": {"perturbation": "obf", "rho": 0.05}}
SETS = ("contrast_1", "contrast_3", "gaussian_noise_1", "gaussian_noise_3", "sketch")
# accuracy per method, seed, set (in SETS order)
ACC = {
    "sgd": {1: (0.80, 0.50, 0.70, 0.40, 0.30), 2: (0.82, 0.52, 0.72, 0.42, 0.31),
            3: (0.78, 0.48, 0.68, 0.38, 0.29)},
    "sam": {1: (0.85, 0.60, 0.75, 0.50, 0.33), 2: (0.86, 0.63, 0.74, 0.52, 0.36),
            3: (0.84, 0.59, 0.77, 0.49, 0.32)},
    "obf": {1: (0.80, 0.51, 0.71, 0.40, 0.30), 2: (0.81, 0.50, 0.71, 0.43, 0.28),
            3: (0.79, 0.49, 0.69, 0.39, 0.31)},
}


@pytest.fixture
def records(make_record):
    out, t = [], iter(range(100))
    for m, cfg in CFG.items():
        out.append(make_record(m, "search", "completed", 0, cfg, {"val_acc": 0.7}, next(t)))
        for seed, accs in ACC[m].items():
            final = {"val_acc": 0.7, "test_acc": 0.9, **{f"shift_acc/{s}": a
                                                         for s, a in zip(SETS, accs, strict=True)}}
            final["shift_acc/corruption_mean"] = 0.0  # the loop's own; recomputed, not read
            out.append(make_record(m, "confirm", "completed", seed, cfg, final, next(t)))
    # a superseded run of sam's seed 1 (the later one counts) and a search run are no scores
    out.insert(1, make_record("sam", "confirm", "completed", 1, CFG["sam"],
                              {"val_acc": 0.7, "shift_acc/contrast_1": 0.1}, -1))
    return out


def by_seed(method: str, index: int) -> dict[int, float]:
    return {seed: accs[index] for seed, accs in ACC[method].items()}


def hand_mce(method: str) -> dict[int, float]:
    ref = {i: statistics.fmean(by_seed("sgd", i).values()) for i in range(4)}
    out = {}
    for seed, a in ACC[method].items():
        ce_contrast = ((1 - a[0]) + (1 - a[1])) / ((1 - ref[0]) + (1 - ref[1]))
        ce_noise = ((1 - a[2]) + (1 - a[3])) / ((1 - ref[2]) + (1 - ref[3]))
        out[seed] = (ce_contrast + ce_noise) / 2
    return out


def test_scores_per_set_mca_and_mce_match_the_formulas(records):
    result = shift_scores(records, STUDY, method_rows(records, STUDY))
    assert result.sets == ("sketch", "contrast_1", "contrast_3", "gaussian_noise_1",
                           "gaussian_noise_3")
    assert result.corruption_sets == result.sets[1:] and result.baseline == "sgd"
    assert list(result.scores) == [MCA, MCE, *result.sets]
    for i, s in enumerate(SETS):
        assert result.scores[s]["sam"].by_seed == by_seed("sam", i)
        assert result.scores[s]["obf"].summary == summarize(list(by_seed("obf", i).values()))
    mca = {m: {seed: statistics.fmean(a[:4]) for seed, a in ACC[m].items()} for m in ACC}
    for m in ACC:
        assert result.scores[MCA][m].by_seed == pytest.approx(mca[m])
        assert result.scores[MCE][m].by_seed == pytest.approx(hand_mce(m))
    assert statistics.fmean(result.scores[MCE]["sgd"].by_seed.values()) == pytest.approx(1.0)
    for key, values in ((MCA, mca), (MCE, {m: hand_mce(m) for m in ACC})):
        comps = {m: compare(values[m], values["sgd"], test="t") for m in ("sam", "obf")}
        adjusted = holm({m: c.p for m, c in comps.items()})
        for m in ("sam", "obf"):
            got = result.scores[key][m]
            assert got.comparison.diff == pytest.approx(comps[m].diff)
            assert got.comparison.p == pytest.approx(comps[m].p)
            assert got.p_holm == pytest.approx(adjusted[m])
        assert result.scores[key]["sgd"].comparison is None
    assert result.scores[MCE]["sam"].comparison.diff < 0  # fewer errors than the baseline


def test_mce_leaves_out_corruptions_the_baseline_never_errs_on():
    values = {"a_1": {0: 0.5, 1: 0.7}, "b_1": {0: 0.9}}
    assert mce_by_seed(values, {"a_1": 1.0, "b_1": 0.8}, {"a": ["a_1"], "b": ["b_1"]}) == {
        0: pytest.approx(0.1 / 0.2)}


def test_verdicts_claim_what_the_interval_supports(records):
    result = shift_scores(records, STUDY, method_rows(records, STUDY))
    lines = shift_verdicts(result)
    assert len(lines) == 4
    assert lines[0].startswith("sam: mean corruption accuracy better than sgd's")
    assert lines[1].startswith("obf: mean corruption accuracy not distinguishable from sgd's at 3")
    assert lines[2].startswith("sam: mCE better than sgd's")


def test_no_shifted_sets_no_section(make_record, tmp_path):
    recs = [make_record(m, "confirm", "completed", s, CFG[m], {"val_acc": 0.7, "test_acc": 0.8},
                        i * 10 + s) for i, m in enumerate(CFG) for s in (1, 2)]
    assert shift_scores(recs, STUDY, method_rows(recs, STUDY)) is None
    build_report(recs, STUDY, tmp_path, analysis=False)
    assert "Shifted test sets" not in (tmp_path / "report.md").read_text()


def test_the_report_has_the_section(records, tmp_path):
    build_report(records, STUDY, tmp_path, analysis=False)
    md = (tmp_path / "report.md").read_text()
    assert "## Shifted test sets" in md and "### Per set" in md
    mca = summarize(list({s: statistics.fmean(a[:4]) for s, a in ACC["sam"].items()}.values()))
    assert f"| mCA | sam | {mca.fmt()} | {mca.fmt_ci()} | 3 |" in md
    assert "| sketch | sgd | 0.3000 ± 0.0100 | " in md and "| baseline | - |" in md


def test_the_default_permutation_test_cannot_claim_a_difference_at_4_seeds(records):
    """Exact sign-flip over 4 pairs: the smallest two-sided p is 2/16, above 0.05."""
    study = parse_study(STUDY.source_text.replace("test: t\n", ""))
    assert study.test == "permutation"
    lines = shift_verdicts(shift_scores(records, study, method_rows(records, study)))
    assert lines and all("not distinguishable" in line for line in lines)
