"""The report section "Tuning budget and hyperparameter importance": is a method better, or just
easier to tune with few trials? From the search runs a sweep already has.

- A table: for budgets k (every k up to 10, then powers of 2 and n), each method's expected
  best validation score of k trials with its 95 % bootstrap band, the test score of that pick
  where every trial has one, and the probability that the method is best at budget k
  (`sweeps.results.tuning_curves`; Dodge et al. 2019, Sivaprasad et al. 2020), with the note
  that TPE/ASHA trials are not i.i.d. draws.
- fANOVA importance of each method's searched keys (`sweeps.results.importance`).
- Figures: `tuning_curves.png` and `sensitivity.png` (`sweeps.report.tuning_plots`).

Example (on a sweep's records)::

    lines, files = tuning_section(records, study, Path("report"), colors)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sweeps.report.tuning_plots import sensitivity_figure, tuning_figure
from sweeps.results.importance import Importance, importances
from sweeps.results.tuning_curves import (
    TuningCurve,
    filled,
    iid_note,
    prob_best,
    trial_pool,
    tuning_curves,
)
from sweeps.store.schema import RunRecord
from sweeps.study.spec import StudySpec

__all__ = ["budgets", "tuning_table_md", "importance_lines", "tuning_section"]


def budgets(n: int) -> list[int]:
    """The budgets the table shows: 1..10, then powers of 2, and n.

    >>> budgets(5), budgets(40)
    ([1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 16, 32, 40])
    """
    ks = [k for k in range(1, min(n, 10) + 1)]
    p = 16
    while p < n:
        ks.append(p)
        p *= 2
    return ks + ([n] if n > ks[-1] else [])


def _cell(c: TuningCurve | None, k: int, p: float | None) -> str:
    if c is None or k > c.n:
        return "-"
    i = k - 1
    band = (f"[{c.band_low[i]:.4f}, {c.band_high[i]:.4f}]" if c.band_high[i] > c.band_low[i]
            else f"[no band at n = {c.n}]")      # one trial, or all alike: nothing to resample
    out = f"{c.expected[i]:.4f} {band}"
    if c.test is not None:
        out += f" (test {c.test[i]:.4f})"
    return out + (f", P(best) {p:.2f}" if p is not None else "")


def tuning_table_md(curves: dict[str, TuningCurve], probs: dict[str, list[float]]) -> str:
    """k, device-seconds, and per method: E[best of k] [band] (test of the pick), P(best)."""
    methods = list(curves)
    n = max(c.n for c in curves.values())
    head = ["k"] + [f"{m}: expected best, 95% band (test), P(best)" for m in methods]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for k in budgets(n):
        cells = [_cell(curves[m], k, probs[m][k - 1] if k <= len(probs.get(m, [])) else None)
                 for m in methods]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    secs = ", ".join(f"{m} {c.seconds[0]:.1f}" for m, c in curves.items())
    return "\n".join(lines) + f"\n\nDevice-seconds per trial (mean): {secs}.\n"


def importance_lines(imps: dict[str, Importance]) -> list[str]:
    """One line per method: its keys by fANOVA importance, or why it has none."""
    out = []
    for m, imp in imps.items():
        if imp.values:
            ranked = ", ".join(f"{k} {v:.2f}" for k, v in imp.values.items())
            out.append(f"- {m} ({imp.trials} trials): {ranked}"
                       + (f" ({imp.why})" if imp.why else ""))
        else:
            out.append(f"- {m}: none ({imp.why})")
    return out


def tuning_section(records: Sequence[RunRecord], study: StudySpec, out_dir: Path,
                   colors: dict[str, str], test_metric: str | None) -> tuple[list[str], list[Path]]:
    """The section's Markdown lines and its figures written into `out_dir` (none without
    search trials)."""
    from sweeps.report.plots import save_figure

    curves = tuning_curves(records, study, test_metric)
    if not curves:
        return [], []
    k_max = min(c.n for c in curves.values())
    pools = {m: filled(trial_pool(records, m, study.metric)[1], study.mode) for m in curves}
    probs = {m: list(v) for m, v in prob_best(pools, k_max, study.mode).items()} \
        if len(curves) > 1 else {}
    pruned = sum(c.pruned for c in curves.values())
    files = [save_figure(tuning_figure(curves, study.metric, colors, test_metric),
                         out_dir / "tuning_curves.png")]
    sens = sensitivity_figure(records, study, colors)
    if sens is not None:
        files.append(save_figure(sens, out_dir / "sensitivity.png"))
    lines = ["## Tuning budget and hyperparameter importance", "",
             f"Expected best {study.metric} after k search trials (Dodge et al. 2019: "
             "E[max of k] = Σ v(i) [(i/n)^k − ((i−1)/n)^k] over the n sorted trial scores, k "
             "draws with replacement), its 95% percentile-bootstrap band over the trial pool, "
             f"the {test_metric or 'test'} score of the trial the validation split picks at "
             "that budget (a config's confirm mean where confirmed, else its search run's "
             "test score; shown only where every trial has one), and the probability that the "
             f"method is best at budget k (Sivaprasad et al. 2020; k up to {k_max}, the smallest "
             f"pool; a method with one trial, e.g. nothing searched, has no band and its one "
             "run stands for its whole pool). Pruned trials "
             f"({pruned}) count at their last validation value; failed "
             "ones are left out. " + iid_note(study), "",
             tuning_table_md(curves, probs),
             "Hyperparameter importance (fANOVA, Optuna's FanovaImportanceEvaluator, over each "
             "method's completed search trials; shares of the metric's variance):", "",
             *importance_lines(importances(records, study)), ""]
    lines += [f"![{p.stem}]({p.name})\n" for p in files]
    return lines, files
