"""The report's section on the compared methods among themselves: a critical-difference style
table of groups (`sweeps.results.pairwise`) and one verdict sentence per pair.

Example (rows from `sweeps.results.rows.method_rows`)::

    lines = pairwise_lines(method_pairs(rows, study), rows, "test_acc", "max")
"""

from __future__ import annotations

from sweeps.report.tables import verdict_sentence
from sweeps.results.pairwise import Pairwise
from sweeps.results.rows import MethodRow

__all__ = ["pairwise_lines"]


def _table(pw: Pairwise, rows: dict[str, MethodRow], tmetric: str) -> list[str]:
    letters = pw.letters()
    lines = [f"| Method | {tmetric} mean (n) | Validation score | Group |", "|---|---|---|---|"]
    for m in pw.order:
        t, row = rows[m].test, rows[m]
        mean = f"{t.mean:.4f} ({t.n})" if t else "n/a"
        lines.append(f"| {m} | {mean} | {row.val_score:.4f} | {letters[m]} |")
    return lines


def pairwise_lines(pw: Pairwise, rows: dict[str, MethodRow], tmetric: str,
                   tmode: str) -> list[str]:
    """Markdown: the groups table, a line on what the letters mean, a verdict per pair; empty
    with fewer than two compared methods."""
    if len(pw.order) < 2:
        return []
    out = _table(pw, rows, tmetric)
    out += ["", f"Methods ordered by mean {tmetric}, best first; methods that share a letter "
            "are not distinguishable (no pair among them has Holm-adjusted p < 0.05, Holm over "
            f"the {len(pw.comparisons)} pair(s)).", ""]
    for (a, b), c in pw.comparisons.items():
        out.append("- " + verdict_sentence(a, b, c, pw.p_holm[(a, b)], pw.n_needed.get((a, b)),
                                           tmetric, tmode, "equal epochs"))
    return out
