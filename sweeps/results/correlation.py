"""Does generalization track forgetting or sharpness? Rank correlations over a sweep's runs.

Over every completed, full-length run of a sweep (search and confirm phases), the Kendall τ-b
between each diagnostic's final value and (a) the test accuracy (`test_acc`; `val_acc` when no
run has a test metric, which the output says) and (b) the generalization gap
`clean_fit - test_acc` (training accuracy on unflipped labels minus test accuracy), three ways:

- pooled: over all the configs (`sweeps.results.kendall.kendall_ci`: paired percentile bootstrap
  over configs, 9,999 resamples, fixed seed; exact p-value at small n), vs the target and vs
  the gap;
- within each method: over one method's configs, with the same interval; and their mean over
  the methods that have one, with a stratified bootstrap (each method's configs resampled
  within the method): differences between methods cannot create it;
- granulated (Jiang et al. 2019, `sweeps.results.granulated`): configs that differ in one
  searched key, the method and the other keys held exactly fixed (a grid study); needs the study.

A config's seeds (runs of one method with one `group_key`: search and confirm runs of the same
values) are averaged into one point before τ, diagnostic and target alike: seeds are not
independent configs, and `n` counts configs. Within-method and granulated τ are taken vs the
target only. Question after Vani et al. 2024 (arXiv 2406.06700); rank-correlation method after
Jiang et al. 2019 (arXiv 1912.02178) and Andriushchenko et al. 2023 (arXiv 2302.07011).

A diagnostic (or a method's share of it) with fewer than `MIN_RUNS` configs with finite values,
or constant values, is skipped. `clean_fit`'s τ vs the gap is partly by construction.

The tables, the generated sentence and the files are `sweeps.report.analysis`'s.

Example (on a sweep's records)::

    a = analyze_records(records, study=study)
    a.rows[0].name, a.rows[0].vs_target.fmt(), a.rows[0].within_mean.fmt()
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from sweeps.results.granulated import (
    AxisGroup,
    Granulated,
    axis_groups,
    granulated_tau,
    structure_note,
)
from sweeps.results.kendall import (
    CONFIDENCE,
    N_RESAMPLES,
    SEED,
    UNDEFINED,
    Correlation,
    config_means,
    grouped_tau,
    kendall_ci,
    resampled_tau_b,
)
from sweeps.store.phase import Phase
from sweeps.store.schema import RunRecord
from sweeps.study.spec import StudySpec

__all__ = ["DIAGNOSTICS", "MIN_RUNS", "CONFIDENCE", "Correlation", "DiagnosticRow",
           "Analysis", "resampled_tau_b", "kendall_ci", "eligible_runs", "analyze_records"]

DIAGNOSTICS = ("forget_events", "ever_forgotten", "unforgettable", "clean_fit", "noisy_fit",
               "perturbed_flip", "perturbed_kl", "sharpness_adaptive", "hessian_top_eig",
               "hessian_trace")
MIN_RUNS = 4


@dataclass(frozen=True)
class DiagnosticRow:
    """One analysed diagnostic: pooled τ vs the target and vs the gap (None: too few/constant),
    τ vs the target within each method and their mean, and the granulated τ."""

    name: str
    vs_target: Correlation
    vs_gap: Correlation | None
    within: dict[str, Correlation] = field(default_factory=dict)   # methods with a τ
    within_skipped: dict[str, str] = field(default_factory=dict)   # method -> why it has none
    within_mean: Correlation = UNDEFINED                           # groups: methods averaged
    granulated: Granulated = field(default_factory=lambda: Granulated(UNDEFINED, {}, "no study"))


@dataclass
class Analysis:
    """The correlations of one sweep's runs and the diagnostics that could not be ranked."""

    target: str                      # "test_acc", or "val_acc" (fallback)
    runs: list[RunRecord]
    rows: list[DiagnosticRow]
    skipped: dict[str, str] = field(default_factory=dict)
    n_resamples: int = N_RESAMPLES
    seed: int = SEED
    methods: list[str] = field(default_factory=list)     # the study's order, then others sorted
    axes: dict[str, int] = field(default_factory=dict)   # searched key -> groups that vary it
    granulated_note: str = ""        # why no granulated τ can be defined ("" when it can)

    @property
    def fallback(self) -> bool:
        return self.target != "test_acc"

    @property
    def gap_label(self) -> str:
        return f"clean_fit − {self.target}"


def eligible_runs(records: Sequence[RunRecord]) -> list[RunRecord]:
    """Completed, full-length runs of the search and confirm phases."""
    return [r for r in records if r.full_length and r.phase in (Phase.SEARCH, Phase.CONFIRM)]


def _finite(v: float | None) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _pairs(runs: Sequence[RunRecord], diag: str, target: str,
           gap: bool) -> tuple[list[float], list[float]]:
    """(diagnostic, target or gap), one point per config: the mean over its runs (seeds) where
    both are finite, configs in the order they first appear.

    >>> from sweeps.store.schema import RunRecord
    >>> r = lambda g, x, t: RunRecord(g + str(x), "sam", "search", "completed", g, 0, {},
    ...                               {"forget_events": x, "test_acc": t})
    >>> _pairs([r("a", 1.0, 0.5), r("a", 3.0, 0.7), r("b", 5.0, 0.9)], "forget_events",
    ...        "test_acc", gap=False)
    ([2.0, 5.0], [0.6, 0.9])
    """
    xs, ys, labels = [], [], []
    for r in runs:
        x, t = r.final.get(diag), r.final.get(target)
        y = (r.final.get("clean_fit", math.nan) - t) if gap and _finite(t) else t
        if _finite(x) and _finite(y):
            xs.append(float(x))  # type: ignore[arg-type]
            ys.append(float(y))  # type: ignore[arg-type]
            labels.append((r.method, r.group_key))
    if not xs:
        return [], []
    mx, my = config_means(xs, ys, labels)
    return [round(float(v), 12) for v in mx], [round(float(v), 12) for v in my]


def _usable(xs: Sequence[float]) -> str | None:
    """Why a diagnostic's paired values cannot be ranked, or None when they can."""
    if len(xs) < MIN_RUNS:
        return f"{len(xs)} config{'s' if len(xs) != 1 else ''} with finite values < {MIN_RUNS}"
    if len(set(xs)) == 1:
        return "constant"
    return None


def _within(runs: Sequence[RunRecord], methods: Sequence[str], diag: str, target: str,
            n_resamples: int, seed: int) -> tuple[dict[str, Correlation], dict[str, str],
                                                  Correlation]:
    """τ vs the target within each method, why a method has none, and their mean."""
    within, skipped, groups = {}, {}, []
    for m in methods:
        xs, ys = _pairs([r for r in runs if r.method == m], diag, target, gap=False)
        if not xs:
            continue
        why = _usable(xs) or (f"constant {target}" if len(set(ys)) == 1 else None)
        if why is not None:
            skipped[m] = why
            continue
        within[m] = kendall_ci(xs, ys, n_resamples, seed)
        groups.append((xs, ys))
    mean, _ = grouped_tau(groups, n_resamples, seed)
    return within, skipped, mean


def analyze_records(records: Sequence[RunRecord], n_resamples: int = N_RESAMPLES,
                    seed: int = SEED, study: StudySpec | None = None) -> Analysis:
    """Correlate every present diagnostic with test accuracy and the gap over eligible runs:
    pooled, within each method and (given the study) granulated.

    Example::

        a = analyze_records(records, study=study)
        a.rows[0].name, a.rows[0].vs_target.fmt()   # ('ever_forgotten', '-0.62 [-0.80, -0.41]')
    """
    runs = eligible_runs(records)
    has_test = any(_finite(r.final.get("test_acc")) for r in runs)
    target = "test_acc" if has_test else "val_acc"
    order = list(study.methods) if study else []
    methods = order + sorted({r.method for r in runs} - set(order))
    groups: dict[str, list[AxisGroup]] = axis_groups(runs, study) if study else {}
    note = structure_note(study, groups)
    ys_all = [r.final.get(target, math.nan) for r in runs]
    rows: list[DiagnosticRow] = []
    skipped: dict[str, str] = {}
    for diag in DIAGNOSTICS:
        if not any(diag in r.final for r in runs):
            continue
        xs, ys = _pairs(runs, diag, target, gap=False)
        why = _usable(xs)
        if why is not None:
            skipped[diag] = why
            continue
        gx, gy = _pairs(runs, diag, target, gap=True)
        gap = kendall_ci(gx, gy, n_resamples, seed) if _usable(gx) is None else None
        within, w_skipped, w_mean = _within(runs, methods, diag, target, n_resamples, seed)
        gran = (granulated_tau([r.final.get(diag, math.nan) for r in runs], ys_all, groups,
                               n_resamples, seed) if not note else Granulated(UNDEFINED, {}, note))
        rows.append(DiagnosticRow(diag, kendall_ci(xs, ys, n_resamples, seed), gap, within,
                                  w_skipped, w_mean, gran))
    return Analysis(target, runs, rows, skipped, n_resamples=n_resamples, seed=seed,
                    methods=methods, axes={k: len(v) for k, v in groups.items()},
                    granulated_note=note)
