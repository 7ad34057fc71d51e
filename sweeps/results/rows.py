"""Per-method rows of a report: each method's search winner and the noise around it, its
confirmed configs, its pick with the test score over fresh seeds, its tuning budget and the
comparison with the baseline (pure computation on run records; `sweeps.report` renders them).

Per method: the search winner (`sweeps.results.selection`: search phase, validation metric),
the standard error of its score and the configs within one SE of it (`sweeps.results.noise`);
every config `sweep confirm --top K` re-ran and the pick among them, chosen on SELECT seeds and
scored on CONFIRM seeds only (`sweeps.results.confirmed`). A CONFIRM seed that diverged or
failed counts in every comparison at the worst test score any completed confirm run of the
study reached (`worst_score`), and is named beside n: never dropped.

Comparisons (`sweeps.results.paired`) use the study's `test` (sign-flip permutation by default,
paired t as the option; Welch when fewer than 2 seeds are paired), intervals cut to the metric's
range: each method vs the baseline at equal epochs; with `compute_matched`, each method vs its
equal-compute reference: the arm trained with the method's budget (`study.matched`), unless the
arm scores worse than the cheaper baseline on validation (its confirm validation mean, else its
search score): then the better of the two, the baseline, and `matched_note` says so; and the
compared methods pairwise (`method_pairs`). All of them form ONE Holm family (`verdicts`), so
the chance that a report prints any false "beats" stays at most alpha. For a comparison that is
not significant, `n_needed` is the number of paired seeds the observed SD of the differences
would need for 80 % power at the observed difference (`sweeps.results.power`, at Holm's
first-step level alpha / m, m the family's size).

The best method is named on validation (the pick's confirm validation mean, else its search
score), never on test. Compute (grad evals, device seconds, runs) counts all of a method's
runs; the tuning budget (`sweeps.results.budget`) its search phase only.

Example (records read back from MLflow)::

    rows = method_rows(records, study)
    rows["sam"].test.fmt(), rows["sam"].comparison.fmt(), rows["sam"].p_holm
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sweeps.results.budget import Budget, tuning_budget
from sweeps.results.confirmed import (
    ConfirmedConfig,
    confirmed_configs,
    failure_scores,
    metric_on_test_split,
    worst_score,
)
from sweeps.results.noise import noisy_best
from sweeps.results.paired import ACCURACY_BOUNDS, UNBOUNDED, Comparison, compare
from sweeps.results.pairwise import ALPHA, Pairwise, grouped, pair_comparisons
from sweeps.results.power import holm_alpha, n_for_power
from sweeps.results.selection import ConfigScore, rank_configs
from sweeps.results.stats import Summary, holm
from sweeps.store.schema import RunRecord
from sweeps.study.distributions import Fixed
from sweeps.study.spec import StudySpec

__all__ = ["ConfirmedConfig", "MethodRow", "metric_on_test_split", "confirmed_configs",
           "searched_keys", "method_rows", "best_method", "compared_methods", "method_pairs",
           "difference_bounds", "verdicts", "Verdicts"]


@dataclass(frozen=True)
class MethodRow:
    """One table row: the search winner and the validation noise around it, every confirmed
    config, the method's pick with its test score over the confirm seeds, the comparisons with
    the baseline and the equal-compute reference, the tuning budget."""

    method: str
    winner: ConfigScore | None            # best search score (`sweeps.results.selection`)
    se: float                             # the winner's score's standard error
    indistinguishable: tuple[ConfigScore, ...]  # within 1 SE of the winner, the winner first
    n_configs: int                        # configs of the method with a search score
    confirmed: tuple[ConfirmedConfig, ...]  # the pick first
    pick: ConfigScore | None              # the first confirmed config, else the winner
    config: dict[str, Any]                # the pick's value of every searched key
    test: Summary | None                  # over the pick's completed CONFIRM seeds
    test_by_seed: dict[int, float]
    lost_seeds: dict[int, str]            # the pick's confirm seeds that diverged or failed
    comparison: Comparison | None
    p_holm: float
    runs: int
    statuses: dict[str, int]
    grad_evals: float
    device_seconds: float
    matched_arm: str | None = None        # the baseline trained as long as this method computes
    matched_comparison: Comparison | None = None   # vs the equal-compute reference's pick
    matched_p_holm: float = math.nan
    matched_reference: str | None = None  # the arm, or the baseline when the arm is worse
    matched_note: str | None = None       # why the reference is not the arm
    scores_by_seed: dict[int, float] = field(default_factory=dict)  # failed seeds at the worst
    val_score: float = math.nan           # the pick's validation score: what names the best
    budget: Budget = Budget(0, 0.0, 0.0)  # the search phase's spending
    n_needed: int | None = None           # seeds for 80 % power vs the baseline (not significant)
    matched_n_needed: int | None = None
    se_kind: str = "own"                  # "paired": within 1 SE by the paired SE (bitmasks)


def searched_keys(study: StudySpec, method: str) -> list[str]:
    """The keys `method` samples (its space less fixed entries), sorted."""
    return sorted(k for k, d in study.methods[method].space.items() if not isinstance(d, Fixed))


def difference_bounds(tmetric: str) -> tuple[float, float]:
    """The range of a difference of two `tmetric` values: [-1, 1] for accuracies."""
    return ACCURACY_BOUNDS if tmetric.endswith("_acc") else UNBOUNDED


def compared_methods(study: StudySpec) -> list[str]:
    """The methods compared pairwise: neither the baseline nor an equal-compute arm."""
    arms = set(study.matched.values())
    return [m for m in study.methods if m != study.baseline and m not in arms]


def _val_score(conf: tuple[ConfirmedConfig, ...], winner: ConfigScore | None) -> float:
    if conf and math.isfinite(conf[0].confirm_val.mean):
        return conf[0].confirm_val.mean
    return winner.score if winner else math.nan


@dataclass(frozen=True)
class _Family:
    """Comparisons of one kind, their Holm-adjusted p (in the report's one family), and the
    seeds needed where not significant."""

    comparisons: dict[str, Comparison | None]
    p_holm: dict[str, float]
    n_needed: dict[str, int | None]


@dataclass(frozen=True)
class Verdicts:
    """Every comparison a report states a verdict on, adjusted as ONE Holm family (so the
    chance of any false "beats" in the whole report stays at most alpha): each method vs the
    baseline, each vs its equal-compute reference (a pair already in the family counts once)
    and the compared methods pairwise."""

    equal: _Family
    matched: _Family
    pairs: Pairwise


def _failures(a: str, b: str, scores: dict[str, dict[int, float]],
              lost: dict[str, set[int]]) -> int:
    """Failed seeds in the comparison of `a` with `b`: in the pairs, or all when unpaired."""
    common = set(scores[a]) & set(scores[b])
    if len(common) >= 2:
        return len((lost[a] | lost[b]) & common)
    return len(lost[a]) + len(lost[b])


def verdicts(study: StudySpec, scores: dict[str, dict[int, float]], lost: dict[str, set[int]],
             refs: dict[str, str]) -> Verdicts:
    """Compare (`scores`: test score by seed, failed seeds at the worst; `lost`: those seeds;
    `refs`: each method's equal-compute reference) and adjust everything as one family."""
    tmetric, tmode = metric_on_test_split(study.metric)
    bounds, base = difference_bounds(tmetric), study.baseline

    def versus(m: str, ref: str) -> Comparison | None:
        return compare(scores[m], scores[ref], study.test, bounds=bounds,
                       failures=_failures(m, ref, scores, lost)) if scores.get(m) else None

    equal = {m: versus(m, base) for m in study.methods if base and m != base}
    matched = {m: versus(m, ref) for m, ref in refs.items()}
    names = [m for m in compared_methods(study) if m in scores]
    order, pairs = pair_comparisons({m: scores[m] for m in names}, tmode, study.test, bounds,
                                    {m: len(lost.get(m, ())) for m in names})
    keyed = {**{(m, base): c for m, c in equal.items()},
             **{(m, refs[m]): c for m, c in matched.items()}, **pairs}
    adjusted = holm({f"{a}\t{b}": c.p for (a, b), c in keyed.items() if c is not None})
    p = {k: adjusted.get(f"{k[0]}\t{k[1]}", math.nan) for k in keyed}
    level = holm_alpha(ALPHA, len(adjusted))

    def family(comps: dict[str, Comparison | None], ref: dict[str, str]) -> _Family:
        p_holm = {m: p[(m, ref[m])] for m in comps}
        needed = {m: n_for_power(c.diff, c.sd, level, study.test if c.paired else "t")
                  for m, c in comps.items() if c is not None and not p_holm[m] < ALPHA}
        return _Family(comps, p_holm, needed)

    return Verdicts(family(equal, {m: base for m in equal}), family(matched, refs),
                    grouped(order, pairs, {k: p[k] for k in pairs}, level, study.test))


def _references(study: StudySpec, val: dict[str, float]) -> tuple[dict[str, str], dict[str, str]]:
    """Each method's equal-compute reference, and a note where the arm lost to the baseline."""
    refs, notes, base = {}, {}, study.baseline
    sign = 1.0 if study.mode == "max" else -1.0
    for m, arm in study.matched.items():
        refs[m] = arm
        arm_val, base_val = val.get(arm, math.nan), val.get(base or "", math.nan)
        if math.isfinite(arm_val) and math.isfinite(base_val) and sign * arm_val < sign * base_val:
            refs[m] = base
            notes[m] = (f"{arm} (given {m}'s compute) scores worse than the cheaper {base} on "
                        f"validation ({arm_val:.4f} vs {base_val:.4f}), so the "
                        f"equal-compute reference is the better of the two, {base}")
    return refs, notes


def method_rows(records: Sequence[RunRecord], study: StudySpec) -> dict[str, MethodRow]:
    """A `MethodRow` per method of the study (in the study's order)."""
    metric, mode = study.metric, study.mode
    tmetric, tmode = metric_on_test_split(metric)
    noisy = noisy_best(records, metric, mode)
    ranked: dict[str, list[ConfigScore]] = {m: [] for m in study.methods}
    for s in rank_configs(records, metric, mode):
        ranked.setdefault(s.method, []).append(s)
    confirmed = {m: confirmed_configs(records, ranked[m], metric, mode) for m in study.methods}
    worst = worst_score(records, tmetric, tmode)
    scores = {m: failure_scores(c[0] if c else None, worst) for m, c in confirmed.items()}
    lost = {m: set(c[0].lost_seeds) if c and math.isfinite(worst) else set()
            for m, c in confirmed.items()}
    val = {m: _val_score(confirmed[m], noisy[m].best if m in noisy else None)
           for m in study.methods}
    refs, notes = _references(study, val)
    found = verdicts(study, scores, lost, refs)
    equal, matched = found.equal, found.matched
    rows = {}
    for m in study.methods:
        runs = [r for r in records if r.method == m]
        nb, conf = noisy.get(m), confirmed[m]
        pick = conf[0].score if conf else (nb.best if nb else None)
        rows[m] = MethodRow(
            method=m, winner=nb.best if nb else None, se=nb.se if nb else math.nan,
            indistinguishable=nb.indistinguishable if nb else (), n_configs=nb.n_configs if nb else 0,
            confirmed=conf, pick=pick,
            config={k: pick.params.get(k) for k in searched_keys(study, m)} if pick else {},
            test=conf[0].test if conf else None, test_by_seed=conf[0].test_by_seed if conf else {},
            lost_seeds=conf[0].lost_seeds if conf else {}, comparison=equal.comparisons.get(m),
            p_holm=equal.p_holm.get(m, math.nan), runs=len(runs),
            statuses=dict(Counter(r.status for r in runs)),
            grad_evals=sum(r.grad_evals for r in runs),
            device_seconds=sum(r.device_seconds for r in runs),
            matched_arm=study.matched.get(m), matched_comparison=matched.comparisons.get(m),
            matched_p_holm=matched.p_holm.get(m, math.nan), matched_reference=refs.get(m),
            matched_note=notes.get(m), scores_by_seed=scores[m], val_score=val[m],
            budget=tuning_budget(records, m), n_needed=equal.n_needed.get(m),
            matched_n_needed=matched.n_needed.get(m), se_kind=nb.se_kind if nb else "own")
    return rows


def method_pairs(rows: dict[str, MethodRow], study: StudySpec) -> Pairwise:
    """The compared methods (`compared_methods`) pairwise and their groups, adjusted in the
    report's one Holm family with the comparisons of `rows` (`verdicts`)."""
    scores = {m: r.scores_by_seed for m, r in rows.items()}
    lost = {m: set(r.lost_seeds) & set(r.scores_by_seed) for m, r in rows.items()}
    refs = {m: r.matched_reference for m, r in rows.items() if r.matched_reference}
    return verdicts(study, scores, lost, refs).pairs


def best_method(rows: dict[str, MethodRow], mode: str) -> str | None:
    """The method with the best validation score in `mode` (the study's: the test set names
    nothing), None when no method has one."""
    scored = [r for r in rows.values() if math.isfinite(r.val_score)]
    if not scored:
        return None
    pick = max if mode == "max" else min
    return pick(scored, key=lambda r: r.val_score).method
