"""The report's table (Markdown, CSV, LaTeX) and its generated verdict sentences.

The table names each comparison's test and n, the failed seeds counted in it, and each
method's tuning budget. A verdict says "beats" only when the Holm-adjusted p < 0.05; otherwise
"not distinguishable at n = k", with the paired seeds 80 % power would need
(`sweeps.results.rows`, `sweeps.results.power`).

Example:
    text = render_tables(rows, best="obf", metric="val_acc", tmetric="test_acc", baseline="sgd")["md"]
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from typing import Any

from sweeps.results.paired import Comparison
from sweeps.results.rows import MethodRow
from sweeps.results.selection import ConfigScore
from sweeps.results.stats import Summary

ALPHA = 0.05


def _fmt_value(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def config_text(cfg: dict[str, Any]) -> str:
    """`k=v, ...` sorted by key, `-` when empty."""
    return ", ".join(f"{k}={_fmt_value(v)}" for k, v in sorted(cfg.items())) or "-"


def _p_text(p: float) -> str:
    if math.isnan(p):
        return "n/a"
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"


def _runs_text(row: MethodRow) -> str:
    other = {k: v for k, v in sorted(row.statuses.items()) if k != "completed"}
    return f"{row.runs}" + (f" ({', '.join(f'{v} {k}' for k, v in other.items())})" if other
                            else "")


def _headers(metric: str, tmetric: str, matched: bool) -> list[str]:
    equal = ["Δ vs equal-compute reference [95% CI] (test, n)", "p (Holm)"] if matched else []
    return ["Method", "Pick", f"Search best {metric} ± SE (n)", "Within 1 SE",
            f"{tmetric} mean ± std", "95% CI (t)", "n", "Δ vs baseline [95% CI] (test, n)",
            "p (Holm)", *equal, "Tuning: trials / grad evals / device s", "Grad evals",
            "Device s", "Runs"]


def _se_text(score: float, se: float, n: int) -> str:
    return f"{score:.4f} ± {se:.4f} ({n})" if math.isfinite(se) else f"{score:.4f} ± n/a ({n})"


def _delta(c: Comparison | None, p_holm: float) -> list[str]:
    return [f"{c.fmt()} ({c.test}, n = {c.n})" if c else "n/a", _p_text(p_holm)]


def _budget_text(row: MethodRow) -> str:
    b = row.budget
    return f"{b.trials} / {b.grad_evals:,.0f} / {b.device_seconds:,.1f}"


def _cells(row: MethodRow, baseline: str | None, matched: bool) -> list[str]:
    w, t = row.winner, row.test
    delta = ["baseline", "-"] if row.method == baseline else _delta(row.comparison, row.p_holm)
    if matched and row.matched_arm:
        d, p = _delta(row.matched_comparison, row.matched_p_holm)
        delta += [f"{d} vs {row.matched_reference or row.matched_arm}", p]
    elif matched:
        delta += ["-", "-"]
    return [row.method, config_text(row.config),
            _se_text(w.score, row.se, w.n) if w else "no winner",
            f"{len(row.indistinguishable)} of {row.n_configs}" if w else "-",
            t.fmt() if t else "n/a (no confirm runs)", t.fmt_ci() if t else "n/a",
            _n_text(row), *delta, _budget_text(row), f"{row.grad_evals:,.0f}",
            f"{row.device_seconds:,.1f}", _runs_text(row)]


def _n_text(row: MethodRow) -> str:
    """n, and the confirm seeds that are not in it: `3 (+1 diverged, counted as failures)`."""
    n = str(row.test.n if row.test else 0)
    if not row.lost_seeds:
        return n
    lost = Counter(row.lost_seeds.values())
    return (n + " (" + ", ".join(f"+{k} {status}" for status, k in sorted(lost.items()))
            + ", counted as failures)")


def _markdown(rows: dict[str, MethodRow], best: str | None, head: list[str],
              baseline: str | None) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    matched = _matched(rows)
    for name, row in rows.items():
        c = _cells(row, baseline, matched)
        if name == best:
            c[0] = f"**{c[0]}**"
        lines.append("| " + " | ".join(x.replace("|", "\\|") for x in c) + " |")
    return "\n".join(lines) + "\n"


def _tex(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("_", r"\_"), ("%", r"\%"), ("&", r"\&"),
                 ("#", r"\#"), ("±", r"$\pm$"), ("Δ", r"$\Delta$")):
        s = s.replace(a, b)
    return s


def _latex(rows: dict[str, MethodRow], best: str | None, head: list[str],
           baseline: str | None) -> str:
    lines = [r"\begin{tabular}{ll" + "r" * (len(head) - 2) + "}", r"\hline",
             " & ".join(_tex(h) for h in head) + r" \\", r"\hline"]
    for name, row in rows.items():
        c = [_tex(x) for x in _cells(row, baseline, _matched(rows))]
        if name == best:
            c[0] = rf"\textbf{{{c[0]}}}"
        lines.append(" & ".join(c) + r" \\")
    return "\n".join(lines + [r"\hline", r"\end{tabular}"]) + "\n"


def _csv(rows: dict[str, MethodRow], best: str | None) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["method", "group_key", "config", "selection_score", "selection_n",
                "selection_se", "within_1se", "configs", "pick_group_key", "n", "mean", "std",
                "ci_low", "ci_high", "delta", "delta_ci_low", "delta_ci_high", "test", "p",
                "p_holm", "matched_arm", "matched_delta", "matched_ci_low", "matched_ci_high",
                "matched_test", "matched_p", "matched_p_holm", "matched_reference", "n_pairs",
                "failures", "n_needed", "tuning_trials", "tuning_grad_evals",
                "tuning_device_seconds", "grad_evals", "device_seconds", "runs", "best"])
    for name, r in rows.items():
        s, c, win, pick = r.test, r.comparison, r.winner, r.pick
        stats = [s.n, s.mean, s.std, s.ci_low, s.ci_high] if s else [0, "", "", "", ""]
        comp = [c.diff, c.ci_low, c.ci_high, c.test, c.p] if c else ["", "", "", "", ""]
        mc = r.matched_comparison
        equal = [mc.diff, mc.ci_low, mc.ci_high, mc.test, mc.p] if mc else ["", "", "", "", ""]
        vals = [name, win.group_key if win else "", config_text(r.config),
                win.score if win else "", win.n if win else 0, r.se, len(r.indistinguishable),
                r.n_configs, pick.group_key if pick else "", *stats, *comp, r.p_holm,
                r.matched_arm or "", *equal, r.matched_p_holm, r.matched_reference or "",
                c.n if c else "", c.failures if c else "", r.n_needed or "", r.budget.trials,
                r.budget.grad_evals, r.budget.device_seconds, r.grad_evals, r.device_seconds,
                r.runs, name == best]
        w.writerow(["" if isinstance(v, float) and math.isnan(v) else v for v in vals])
    return buf.getvalue()


def render_tables(rows: dict[str, MethodRow], best: str | None, metric: str, tmetric: str,
                  baseline: str | None) -> dict[str, str]:
    """The table in every format: `{"md": ..., "csv": ..., "latex": ...}`."""
    head = _headers(metric, tmetric, _matched(rows))
    return {"md": _markdown(rows, best, head, baseline), "csv": _csv(rows, best),
            "latex": _latex(rows, best, head, baseline)}


def _matched(rows: dict[str, MethodRow]) -> bool:
    return any(r.matched_arm for r in rows.values())


def _failures_text(c: Comparison) -> str:
    if not c.failures:
        return ""
    return (f"; {c.failures} diverged or failed seed(s) in the pairs, counted as failures at the "
            "worst confirm score")


def verdict_sentence(m: str, other: str, c: Comparison | None, p_holm: float, n_needed: int | None,
              tmetric: str, tmode: str, at: str) -> str:
    """One generated verdict: `m` vs `other` (`at`: "equal epochs" or "equal compute")."""
    if c is None:
        return (f"{m} vs {other} ({at}): not enough confirm runs to compare (need 2+ seeds "
                "each).")
    if math.isnan(p_holm):
        return (f"{m} vs {other} at {at}: the paired differences have no spread (each "
                f"{c.diff:+.4f} over n = {c.n}), so the {c.test} test is undefined; the "
                "permutation test (study key `test: permutation`) applies.")
    better = c.diff > 0 if tmode == "max" else c.diff < 0
    pairs = f" ({c.unpaired} unpaired seed(s) left out)" if c.unpaired else ""
    stat = (f"Δ {tmetric} = {c.fmt()} (95% CI), {c.test} over n = {c.n}{pairs}, "
            f"p = {_p_text(c.p)}, Holm-corrected p = {_p_text(p_holm)}{_failures_text(c)}")
    if p_holm < ALPHA:
        return f"{m} {'beats' if better else 'is worse than'} {other} at {at} on {tmetric}: {stat}."
    need = (f"80 % power at the observed difference and spread would need n = {n_needed} "
            "paired seeds" if n_needed else "no seed count would give 80 % power (no observed "
            "difference, or no spread to size it by)")
    return (f"{m} vs {other} at {at}: not distinguishable at n = {c.n} (Holm-corrected p = "
            f"{_p_text(p_holm)} ≥ {ALPHA}): {stat}; {need}.")


def verdict_lines(rows: dict[str, MethodRow], baseline: str | None, tmetric: str,
                  tmode: str) -> list[str]:
    """Generated sentences: each method vs the baseline at equal epochs and, with
    `compute_matched`, vs its equal-compute reference (Holm-corrected p: all the report's
    comparisons form one family, `sweeps.results.rows.verdicts`)."""
    if baseline is None:
        return ["No baseline method (set `baseline:` in the study): no comparisons."]
    out = []
    for m, r in rows.items():
        if m == baseline:
            continue
        out.append(verdict_sentence(m, baseline, r.comparison, r.p_holm, r.n_needed, tmetric, tmode,
                             "equal epochs"))
        if r.matched_arm:
            note = f"{r.matched_note}. " if r.matched_note else ""
            out.append(note + verdict_sentence(m, r.matched_reference or r.matched_arm,
                                        r.matched_comparison, r.matched_p_holm,
                                        r.matched_n_needed, tmetric, tmode, "equal compute"))
    return out


def _keys_text(score: ConfigScore, keys: list[str]) -> str:
    return config_text({k: score.params.get(k) for k in keys})


def noise_lines(rows: dict[str, MethodRow], keys: dict[str, list[str]], metric: str) -> list[str]:
    """Markdown: per method, every config within one SE of its search best (the SE rule of
    `sweeps.results.noise`), with its score and runs."""
    out = []
    for m, row in rows.items():
        if row.winner is None:
            continue
        se = f"{row.se:.4f}" if math.isfinite(row.se) else "n/a"
        rule = ("paired SE of each difference (val_correct)" if row.se_kind == "paired"
                else "the best's SE (no val_correct bitmasks: binomial or across seeds)")
        out.append(f"- **{m}**: best {metric} {row.winner.score:.4f}, SE {se}; by {rule}, "
                   f"{len(row.indistinguishable)} of {row.n_configs} configs within 1 SE: "
                   + "; ".join(f"{_keys_text(s, keys[m])} ({s.score:.4f}, n={s.n})"
                               for s in row.indistinguishable))
    return out


def _mean_n(s: Summary | None) -> str:
    return f"{s.mean:.4f} ({s.n})" if s is not None and math.isfinite(s.mean) else "-"


def confirmed_lines(rows: dict[str, MethodRow], keys: dict[str, list[str]], metric: str,
                    tmetric: str) -> list[str]:
    """Markdown table: every confirmed config of every method (its SELECT mean, which picks,
    and its CONFIRM scores, which report), the pick of each marked."""
    head = ["Method", "Config", f"Search {metric} (n)", f"Select {metric} mean (n)",
            f"Confirm {metric} mean (n)", f"{tmetric} mean ± std", "95% CI", "n", "Pick"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m, row in rows.items():
        for i, c in enumerate(row.confirmed):
            t = c.test
            lines.append("| " + " | ".join([
                m, _keys_text(c.score, keys[m]), f"{c.score.score:.4f} ({c.score.n})",
                _mean_n(c.select_val), _mean_n(c.confirm_val), t.fmt() if t else "n/a",
                t.fmt_ci() if t else "n/a", str(t.n if t else 0), "pick" if i == 0 else ""]) + " |")
    return lines if len(lines) > 2 else []
