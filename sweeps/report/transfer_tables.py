"""The report's transfer section: each source method's target test score over its confirm seeds,
Δ vs the baseline's checkpoints with the paired test and Holm's p, one sentence per method that
claims only what its interval supports, and the recipe every source shared.

Example (on a sweep with `sweep transfer` runs)::

    md += transfer_section(records, study)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sweeps.report.tables import ALPHA
from sweeps.results.transfer import TransferResult, TransferScore, transfer_scores
from sweeps.store.schema import RunRecord
from sweeps.study.spec import StudySpec

__all__ = ["transfer_section", "transfer_lines", "transfer_verdicts"]

_HEAD = ["Source method", "target mean ± std", "95% CI", "n", "Δ vs baseline [95% CI]",
         "p (Holm)"]


def _p(p: float) -> str:
    return "n/a" if math.isnan(p) else (f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}")


def _row(method: str, score: TransferScore, baseline: str | None) -> str:
    s, c = score.summary, score.comparison
    lost = f" ({len(score.lost)} lost)" if score.lost else ""
    delta = (["baseline", "-"] if method == baseline
             else [f"{c.fmt()} ({c.test})" if c else "n/a", _p(score.p_holm)])
    cells = [method, s.fmt() if s else "n/a", s.fmt_ci() if s else "n/a",
             f"{s.n if s else 0}{lost}", *delta]
    return "| " + " | ".join(cells) + " |"


def transfer_lines(result: TransferResult) -> list[str]:
    """A Markdown table, one row per source method."""
    return ["| " + " | ".join(_HEAD) + " |", "|" + "---|" * len(_HEAD),
            *[_row(m, s, result.baseline) for m, s in result.scores.items()]]


def transfer_verdicts(result: TransferResult) -> list[str]:
    """Per method: better, worse, or not distinguishable from the baseline's checkpoints (Holm
    p < 0.05 and the interval's sign agree), with the interval."""
    out = []
    for method, score in result.scores.items():
        c = score.comparison
        if method == result.baseline or c is None or math.isnan(c.ci_low):
            continue
        n = score.summary.n if score.summary else 0
        if score.p_holm < ALPHA and (c.ci_low > 0 or c.ci_high < 0):
            word = "better" if (c.diff > 0) == result.metric.endswith("_acc") else "worse"
            out.append(f"{method}'s checkpoints transfer {word} than {result.baseline}'s: "
                       f"{result.metric} Δ {c.fmt()} (Holm p {_p(score.p_holm)}, {n} seeds).")
        else:
            out.append(f"{method}'s checkpoints are not distinguishable from "
                       f"{result.baseline}'s after transfer at {n} seeds: {result.metric} "
                       f"Δ {c.fmt()} (Holm p {_p(score.p_holm)}).")
    return out


def _recipe_text(study: StudySpec, result: TransferResult) -> str:
    spec = study.transfer
    if spec is None:
        return ""
    recipe = ", ".join(f"{k}={v}" for k, v in spec.recipe.items())
    lr = ""
    if spec.lr_grid:
        tried = ", ".join(f"{k:g}: {v:.4f}" for k, v in sorted(result.lr_scores.items()))
        lr = (f" The lr was searched once on the target's validation split ({study.metric}; "
              f"{tried}) from {result.lr_source or 'one source'}'s checkpoint, and "
              f"{'lr=' + format(result.lr, 'g') if result.lr is not None else 'none'} was "
              "used for every source.")
    same = ("Every transfer run used the same recipe." if result.same_recipe else
            "WARNING: the transfer runs' recipes differ (a block changed between runs).")
    return (f"Target: {spec.target}. Recipe: {recipe or 'TrainConfig defaults'}"
            f"{', new head' if spec.new_head else ''}.{lr} {same}")


def transfer_section(records: Sequence[RunRecord], study: StudySpec) -> list[str]:
    """The Markdown section (no lines when no transfer run exists)."""
    result = transfer_scores(records, study)
    if result is None:
        return []
    return ["## Transfer", "",
            "Each method's confirmed checkpoints (its pick's final weights, one per confirm "
            f"seed) fine-tuned on the target with one shared recipe; {result.metric} on the "
            "target's test split over those seeds (a lost seed counts at the worst transfer "
            f"score). Δ vs baseline ({result.baseline or 'none'}): paired by confirm seed, "
            "the study's test, Holm-corrected across methods. Selection never looks at the "
            "target's test split.", "", _recipe_text(study, result), "",
            *transfer_lines(result), "", *[f"- {v}" for v in transfer_verdicts(result)], ""]
