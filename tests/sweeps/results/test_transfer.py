"""Transfer results on hand-built records: the sources, the lr chosen on validation, the target
scores with the paired comparison and Holm, lost seeds at the worst score; the report section."""

from __future__ import annotations

import math
import statistics

import pytest

from sweeps.report.transfer_tables import transfer_section
from sweeps.results.paired import compare
from sweeps.results.stats import holm
from sweeps.results.transfer import chosen_lr, lr_reference, source_runs, transfer_scores
from sweeps.study.study_file import parse_study

STUDY = parse_study("""name: s
metric: val_acc
test: t
base: {dataset: digits}
methods:
  sgd: {fixed: {perturbation: none}}
  sam: {fixed: {perturbation: ascent, rho: 0.05}}
  obf: {fixed: {perturbation: obf, rho: 0.05}}
transfer:
  target: {dataset: digits, train_subset: 200}
  recipe: {epochs: 1, perturbation: none}
  lr_grid: [0.01, 0.03, 0.1]
""")
SGD, SAM, OBF = ({"perturbation": "none"}, {"perturbation": "ascent", "rho": 0.05},
                 {"perturbation": "obf", "rho": 0.05})
TARGET = {"sgd": {1: 0.60, 2: 0.62, 3: 0.64}, "sam": {1: 0.70, 2: 0.74, 3: 0.72},
          "obf": {1: 0.61, 2: 0.60}}  # obf's seed 3 diverged on the target
RECIPE = {"perturbation": "none", "train_subset": 200}  # epochs: 1, as `epochs=1` below


def _records(make_record):
    r, out, t = make_record, [], iter(range(1000))
    for m, cfg in (("sgd", SGD), ("sam", SAM), ("obf", OBF)):
        out.append(r(m, "search", "completed", 0, cfg, {"val_acc": 0.5}, next(t)))
        out += [r(m, "confirm", "completed", s, cfg, {"val_acc": 0.5, "test_acc": 0.9}, next(t))
                for s in (1, 2, 3)]
    for lr, val in ((0.01, 0.70), (0.03, 0.75), (0.1, 0.75)):  # a tie: the first candidate wins
        out.append(r("sgd", "transfer-lr", "completed", 1, {**RECIPE, "lr": lr}, {"val_acc": val,
                     "test_acc": 0.99}, next(t), epochs=1))
    for m, by_seed in TARGET.items():
        out += [r(m, "transfer", "completed", s, {**RECIPE, "lr": 0.03}, {"test_acc": v}, next(t),
                  epochs=1) for s, v in by_seed.items()]
    out.append(r("obf", "transfer", "diverged", 3, {**RECIPE, "lr": 0.03}, {"val_acc": math.nan},
                 next(t), epochs=1))
    return out


def test_sources_are_each_methods_confirm_runs_and_the_lr_is_searched_from_the_baseline(make_record):
    records = _records(make_record)
    found = source_runs([x for x in records if x.phase in ("search", "confirm")], STUDY)
    assert {m: sorted(by) for m, by in found.items()} == {m: [1, 2, 3] for m in ("sgd", "sam", "obf")}
    assert all(run.phase == "confirm" and run.method == m for m, by in found.items()
               for run in by.values())
    assert lr_reference(STUDY, found) == ("sgd", 1)
    assert chosen_lr(records, STUDY) == (0.03, {0.01: 0.70, 0.03: 0.75, 0.1: 0.75})
    assert chosen_lr(records[:-12], STUDY)[0] is None  # a candidate still missing: no choice


def test_target_scores_pair_by_seed_with_holm_and_a_lost_seed_at_the_worst(make_record):
    result = transfer_scores(_records(make_record), STUDY)
    assert result.metric == "test_acc" and result.baseline == "sgd" and result.same_recipe
    assert result.lr == 0.03 and result.runs == 9 and result.lr_source == "sgd, confirm seed 1"
    sam, obf = result.scores["sam"], result.scores["obf"]
    assert sam.summary.mean == pytest.approx(statistics.fmean(TARGET["sam"].values()))
    assert obf.by_seed == {1: 0.61, 2: 0.60, 3: 0.60} and obf.lost == {3}  # worst = 0.60
    want = {m: compare(result.scores[m].by_seed, TARGET["sgd"], "t", bounds=(-1.0, 1.0))
            for m in ("sam", "obf")}
    assert sam.comparison.diff == pytest.approx(0.10)  # paired: (0.10 + 0.12 + 0.08) / 3
    assert sam.comparison.p == pytest.approx(want["sam"].p) and sam.comparison.test == "paired t"
    adjusted = holm({m: c.p for m, c in want.items()})
    assert sam.p_holm == pytest.approx(adjusted["sam"]) and obf.p_holm == pytest.approx(adjusted["obf"])
    assert obf.comparison.failures == 1


def test_the_report_section_has_a_row_per_method_and_the_sentences(make_record):
    md = "\n".join(transfer_section(_records(make_record), STUDY))
    assert md.startswith("## Transfer")
    assert "| sgd | 0.6200 ± 0.0200 |" in md and "| baseline | - |" in md
    assert "| sam | 0.7200 ± 0.0200 |" in md and "+0.1000 [" in md
    assert "| obf | 0.6033 ± 0.0058 | " in md and "| 3 (1 lost) |" in md
    assert "from sgd, confirm seed 1's checkpoint, and lr=0.03 was used for every source" in md
    assert "Every transfer run used the same recipe." in md
    # sam: paired differences 0.10, 0.12, 0.08: t = 0.10 / (0.02 / sqrt 3) = 8.7, p = 0.013 (2 df),
    # Holm over 2 comparisons 0.026 < 0.05, CI 0.10 -+ 4.303 * 0.0115 above 0: "better"
    assert "- sam's checkpoints transfer better than sgd's: test_acc Δ +0.1000 [+0.0503, +0.1497]" in md
    assert "- obf's checkpoints are not distinguishable from sgd's after transfer at 3 seeds" in md
    assert transfer_section([x for x in _records(make_record) if x.phase != "transfer"], STUDY) == []


def test_differing_recipes_are_flagged(make_record):
    records = _records(make_record)
    records.append(make_record("sam", "transfer", "completed", 4, {**RECIPE, "lr": 0.1},
                               {"test_acc": 0.7}, 5000, epochs=1))
    assert not transfer_scores(records, STUDY).same_recipe
