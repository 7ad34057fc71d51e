"""The report's section on shifted test sets: an aggregate table (mean corruption accuracy, mCE),
a table per set, and one sentence per method that claims only what its interval supports.

Example (on a confirmed sweep whose runs scored `eval_sets`)::

    md += shift_section(records, study, rows)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sweeps.report.tables import ALPHA
from sweeps.results.rows import MethodRow
from sweeps.results.shift import MCA, MCE, ShiftResult, ShiftScore, shift_scores
from sweeps.store.schema import RunRecord
from sweeps.study.spec import StudySpec

__all__ = ["shift_section", "shift_lines", "shift_verdicts"]

_HEAD = ["Set", "Method", "mean ± std", "95% CI", "n", "Δ vs baseline [95% CI]", "p (Holm)"]


def _p(p: float) -> str:
    return "n/a" if math.isnan(p) else (f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}")


def _row(key: str, method: str, score: ShiftScore, baseline: str | None) -> str:
    s, c = score.summary, score.comparison
    delta = (["baseline", "-"] if method == baseline
             else [f"{c.fmt()} ({c.test})" if c else "n/a", _p(score.p_holm)])
    cells = [key, method, s.fmt() if s else "n/a", s.fmt_ci() if s else "n/a",
             str(s.n if s else 0), *delta]
    return "| " + " | ".join(cells) + " |"


def shift_lines(result: ShiftResult, keys: Sequence[str]) -> list[str]:
    """A Markdown table of `keys` (sets or aggregates), one row per method."""
    lines = ["| " + " | ".join(_HEAD) + " |", "|" + "---|" * len(_HEAD)]
    for key in keys:
        for method, score in result.scores[key].items():
            lines.append(_row(key, method, score, result.baseline))
    return lines


def shift_verdicts(result: ShiftResult) -> list[str]:
    """Per method and aggregate: better, worse, or not distinguishable from the baseline (Holm
    p < 0.05 and the interval's sign agree), with the interval."""
    out = []
    for key, better_if in ((MCA, 1.0), (MCE, -1.0)):
        for method, score in result.scores.get(key, {}).items():
            c = score.comparison
            if method == result.baseline or c is None or math.isnan(c.ci_low):
                continue
            what = "mean corruption accuracy" if key == MCA else "mCE"
            if score.p_holm < ALPHA and (c.ci_low > 0 or c.ci_high < 0):
                word = "better" if better_if * c.diff > 0 else "worse"
                out.append(f"{method}: {what} {word} than {result.baseline}'s, "
                           f"Δ {c.fmt()} (Holm p {_p(score.p_holm)}).")
            else:
                out.append(f"{method}: {what} not distinguishable from {result.baseline}'s at "
                           f"{score.summary.n if score.summary else 0} seeds, Δ {c.fmt()} "
                           f"(Holm p {_p(score.p_holm)}).")
    return out


def shift_section(records: Sequence[RunRecord], study: StudySpec,
                  rows: dict[str, MethodRow]) -> list[str]:
    """The Markdown section (no lines when no run scored a shifted set)."""
    result = shift_scores(records, study, rows)
    if result is None:
        return []
    aggregates = [k for k in (MCA, MCE) if k in result.scores]
    n_corr = len(result.corruption_sets)
    md = ["## Shifted test sets", "",
          "Accuracy on the shifted evaluation sets (`eval_sets`) of each method's pick, over the "
          "confirm seeds that give its test score; never used for search or selection. Δ vs "
          f"baseline ({result.baseline or 'none'}) and p as in the main table, Holm-corrected "
          "across methods for each row key.", ""]
    if aggregates:
        md += [f"mCA: mean accuracy over the {n_corr} corruption sets (`<corruption>_<severity>`). mCE "
               "(Hendrycks & Dietterich 2019): CE_f = Σ_s E(s,f) / Σ_s E_base(s,f) per "
               "corruption f over its severities s, E_base the baseline's mean error over its "
               "seeds, averaged over the corruptions (the baseline's is 1 on average; lower is "
               "better).", "", *shift_lines(result, aggregates), "",
               *[f"- {v}" for v in shift_verdicts(result)], ""]
    md += ["### Per set", "", *shift_lines(result, result.sets), ""]
    return md
