"""`sweep analyze`: does generalization track forgetting or sharpness?

Over every completed, full-length run of a sweep (search and confirm phases), the Kendall τ-b
(`scipy.stats.kendalltau`) between each diagnostic's final value and (a) the test accuracy
(`test_acc`; `val_acc` when no run has a test metric, which the output says) and (b) the
generalization gap `clean_fit - test_acc` (training accuracy on unflipped labels minus test
accuracy). Each τ comes with a 95 % paired percentile-bootstrap interval over runs
(`scipy.stats.bootstrap`, (diagnostic, target) pairs resampled together, 9,999 resamples, fixed
seed); resamples in which either variable is constant (τ-b undefined) are dropped. Percentile
rather than BCa: BCa's jackknife acceleration is undefined when the bootstrap distribution is
degenerate (e.g. a perfectly concordant diagnostic, whose interval is [1, 1]).
Question after Vani et al. 2024 (arXiv 2406.06700); rank-correlation method after Jiang et
al. 2019 (arXiv 1912.02178) and Andriushchenko et al. 2023 (arXiv 2302.07011).

A diagnostic with fewer than `MIN_RUNS` finite values or constant values is skipped. Runs of
one config over several seeds are not independent draws of configs, so the intervals are
approximate; `clean_fit`'s τ vs the gap is partly by construction.

Example (on a sweep's records)::

    a = analyze_records(records)
    print(a.table_md()); print(a.sentence)
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats as _st

from sweeps.store.reader import RunRecord
from sweeps.store.schema import Phase

__all__ = ["DIAGNOSTICS", "MIN_RUNS", "Correlation", "DiagnosticRow", "Analysis",
           "resampled_tau_b", "kendall_ci", "eligible_runs", "analyze_records", "best_sentence",
           "analysis_section", "write_analysis", "analyze_sweep"]

DIAGNOSTICS = ("forget_events", "ever_forgotten", "unforgettable", "clean_fit", "noisy_fit",
               "perturbed_flip", "perturbed_kl", "sharpness_adaptive", "hessian_top_eig",
               "hessian_trace")
MIN_RUNS = 4
N_RESAMPLES = 9999
SEED = 0
CONFIDENCE = 0.95
_TARGET_WORDS = {"test_acc": "test accuracy", "val_acc": "validation accuracy"}


@dataclass(frozen=True)
class Correlation:
    """Kendall τ-b over `n` runs, its bootstrap interval and p-value (NaN where undefined)."""

    n: int
    tau: float
    ci_low: float
    ci_high: float
    p: float
    dropped: int = 0     # bootstrap resamples with a constant variable (τ-b undefined)

    def fmt(self, digits: int = 2) -> str:
        """`"-0.62 [-0.80, -0.41]"`, `"n/a"` when τ is undefined (a constant target)."""
        if math.isnan(self.tau):
            return "n/a"
        return f"{self.tau:.{digits}f} [{self.ci_low:.{digits}f}, {self.ci_high:.{digits}f}]"

    def abs_interval(self) -> tuple[float, float]:
        """The interval of |τ|: [0, max] when it straddles 0."""
        lo, hi = abs(self.ci_low), abs(self.ci_high)
        if self.ci_low <= 0 <= self.ci_high:
            return 0.0, max(lo, hi)
        return min(lo, hi), max(lo, hi)


@dataclass(frozen=True)
class DiagnosticRow:
    """One analysed diagnostic: τ vs the target and τ vs the gap (None: too few/constant)."""

    name: str
    vs_target: Correlation
    vs_gap: Correlation | None


@dataclass
class Analysis:
    """The correlations of one sweep's runs, the skipped diagnostics and the verdict sentence."""

    target: str                      # "test_acc", or "val_acc" (fallback)
    runs: list[RunRecord]
    rows: list[DiagnosticRow]
    skipped: dict[str, str] = field(default_factory=dict)
    sentence: str = ""
    n_resamples: int = N_RESAMPLES
    seed: int = SEED

    @property
    def fallback(self) -> bool:
        return self.target != "test_acc"

    @property
    def gap_label(self) -> str:
        return f"clean_fit − {self.target}"

    def notes(self) -> list[str]:
        """The method, the fallback and the skipped diagnostics, one line each."""
        lines = [f"Kendall τ-b between each diagnostic's final value and {self.target} (and the "
                 f"gap {self.gap_label}) over {len(self.runs)} completed full-length runs "
                 f"(search and confirm); 95% CI: paired percentile bootstrap over runs "
                 f"({self.n_resamples:,} resamples, seed {self.seed}). Seeds of one config are "
                 "not independent draws: intervals are approximate."]
        if self.fallback:
            lines.append(f"No run has test_acc: {self.target} (validation split) stands in for it.")
        if any(r.name == "clean_fit" and r.vs_gap for r in self.rows):
            lines.append("clean_fit's τ vs the gap is partly by construction (the gap contains it).")
        if self.skipped:
            lines.append("Skipped: " + ", ".join(f"{k} ({v})" for k, v in self.skipped.items()) + ".")
        return lines

    def table_md(self) -> str:
        """The Markdown table, one row per analysed diagnostic."""
        head = ["Diagnostic", "n", f"τ vs {self.target} [95% CI]", "n (gap)",
                f"τ vs gap ({self.gap_label}) [95% CI]"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self.rows:
            g = r.vs_gap
            lines.append(f"| {r.name} | {r.vs_target.n} | {r.vs_target.fmt()} | "
                         f"{g.n if g else 0} | {g.fmt() if g else 'n/a'} |")
        return "\n".join(lines) + "\n"

    def table_csv(self) -> str:
        """The table as CSV, full precision, with the p-values and dropped resamples."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["diagnostic", "target", "n", "tau", "ci_low", "ci_high", "p", "dropped",
                    "n_gap", "tau_gap", "gap_ci_low", "gap_ci_high", "p_gap", "dropped_gap"])
        for r in self.rows:
            t, g = r.vs_target, r.vs_gap
            gap = [g.n, g.tau, g.ci_low, g.ci_high, g.p, g.dropped] if g else [0, "", "", "", "", ""]
            vals = [r.name, self.target, t.n, t.tau, t.ci_low, t.ci_high, t.p, t.dropped, *gap]
            w.writerow(["" if isinstance(v, float) and math.isnan(v) else v for v in vals])
        return buf.getvalue()


def _signs(v: np.ndarray) -> np.ndarray:
    return np.sign(v[..., :, None] - v[..., None, :])


def _ratio(num: np.ndarray, tx: np.ndarray, ty: np.ndarray) -> np.ndarray:
    den = np.sqrt(tx * ty)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def resampled_tau_b(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """τ-b of `(x[idx], y[idx])` for each row of the index array `idx` (resamples x n).

    A resample is a count per run c, so each sum over its pairs is the quadratic form
    c' S c of the runs' pair-sign matrix S (an index drawn twice ties with itself: sign 0):
    O(n²) per resample in a matrix product instead of O(n²) sign matrices per resample.

    >>> float(resampled_tau_b(np.array([1., 2, 3]), np.array([3., 1, 2]), np.array([[0, 1, 1]]))[0])
    -1.0
    """
    idx = np.atleast_2d(idx)
    b, n = idx.shape[0], x.size
    counts = np.bincount((np.arange(b)[:, None] * n + idx).ravel(), minlength=b * n)
    c = counts.reshape(b, n).astype(float)
    sx, sy = _signs(x), _signs(y)

    def form(m: np.ndarray) -> np.ndarray:
        return ((c @ m) * c).sum(axis=1)

    return _ratio(form(sx * sy), form(np.abs(sx)), form(np.abs(sy)))


def kendall_ci(x: Sequence[float], y: Sequence[float], n_resamples: int = N_RESAMPLES,
               seed: int = SEED, confidence: float = CONFIDENCE) -> Correlation:
    """τ-b of paired `(x, y)` with a paired percentile-bootstrap interval (fixed seed).

    Runs are resampled with replacement (`scipy.stats.bootstrap` over run indices, so each
    diagnostic value keeps its target value); resamples with a constant x or y are dropped.

    >>> c = kendall_ci([1, 2, 3, 4, 5], [10, 20, 30, 40, 50], n_resamples=2000)
    >>> round(c.tau, 12), c.ci_low, c.ci_high, c.n
    (1.0, 1.0, 1.0, 5)
    """
    xa, ya = np.asarray(x, float), np.asarray(y, float)
    n = int(xa.size)
    res = _st.kendalltau(xa, ya)
    tau, p = float(res.statistic), float(res.pvalue)
    if math.isnan(tau):
        return Correlation(n, math.nan, math.nan, math.nan, math.nan)

    def statistic(idx: np.ndarray, axis: int = -1) -> np.ndarray:
        return resampled_tau_b(xa, ya, np.moveaxis(idx, axis, -1).reshape(-1, n))

    with warnings.catch_warnings():  # NaN resamples (a constant variable) are dropped below
        warnings.simplefilter("ignore", _st.DegenerateDataWarning)
        boot = _st.bootstrap((np.arange(n),), statistic, vectorized=True,
                             n_resamples=n_resamples, batch=max(1, 2_000_000 // n),
                             method="percentile", confidence_level=confidence,
                             rng=np.random.default_rng(seed))
    dist = np.asarray(boot.bootstrap_distribution, float)
    finite = dist[np.isfinite(dist)]
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(finite, [alpha, 1 - alpha]) if finite.size else (math.nan, math.nan)
    return Correlation(n, tau, float(lo), float(hi), p, int(dist.size - finite.size))


def eligible_runs(records: Sequence[RunRecord]) -> list[RunRecord]:
    """Completed, full-length runs of the search and confirm phases."""
    return [r for r in records if r.full_length and r.phase in (Phase.SEARCH, Phase.CONFIRM)]


def _finite(v: float | None) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _pairs(runs: Sequence[RunRecord], diag: str, target: str,
           gap: bool) -> tuple[list[float], list[float]]:
    """(diagnostic, target or gap) of the runs where both are finite."""
    xs, ys = [], []
    for r in runs:
        x, t = r.final.get(diag), r.final.get(target)
        y = (r.final.get("clean_fit", math.nan) - t) if gap and _finite(t) else t
        if _finite(x) and _finite(y):
            xs.append(float(x))  # type: ignore[arg-type]
            ys.append(float(y))  # type: ignore[arg-type]
    return xs, ys


def _usable(xs: Sequence[float]) -> str | None:
    """Why a diagnostic's paired values cannot be ranked, or None when they can."""
    if len(xs) < MIN_RUNS:
        return f"{len(xs)} finite value{'s' if len(xs) != 1 else ''} < {MIN_RUNS}"
    if len(set(xs)) == 1:
        return "constant"
    return None


def analyze_records(records: Sequence[RunRecord], n_resamples: int = N_RESAMPLES,
                    seed: int = SEED) -> Analysis:
    """Correlate every present diagnostic with test accuracy and the gap over eligible runs.

    Example::

        a = analyze_records(records)
        a.rows[0].name, a.rows[0].vs_target.fmt()   # ('ever_forgotten', '-0.62 [-0.80, -0.41]')
    """
    runs = eligible_runs(records)
    has_test = any(_finite(r.final.get("test_acc")) for r in runs)
    target = "test_acc" if has_test else "val_acc"
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
        rows.append(DiagnosticRow(diag, kendall_ci(xs, ys, n_resamples, seed), gap))
    out = Analysis(target, runs, rows, skipped, n_resamples=n_resamples, seed=seed)
    out.sentence = best_sentence(out)
    return out


def best_sentence(a: Analysis) -> str:
    """Which diagnostic ranks the runs best (largest |τ| vs the target), and whether its
    interval (taken in magnitude) excludes the other diagnostics' |τ|; generated from `a`."""
    word = _TARGET_WORDS.get(a.target, a.target)
    scored = [r for r in a.rows if not math.isnan(r.vs_target.tau)]
    if not scored:
        return (f"No diagnostic has {MIN_RUNS}+ finite, non-constant final values paired with "
                f"{a.target} over the {len(a.runs)} completed full-length runs: nothing to rank.")
    best = max(scored, key=lambda r: abs(r.vs_target.tau))
    c = best.vs_target
    head = (f"{best.name} ranks runs by {word} best (tau = {c.fmt()}, n = {c.n})"
            + (f", {a.target} standing in for test_acc" if a.fallback else ""))
    others = [r for r in scored if r is not best]
    if not others:
        return head + "; it is the only diagnostic with enough values to rank."
    lo, hi = c.abs_interval()
    if math.isnan(lo):
        return head + "; its interval is undefined (every resample was constant)."
    out_ = [r for r in others if not lo <= abs(r.vs_target.tau) <= hi]
    in_ = [r for r in others if lo <= abs(r.vs_target.tau) <= hi]

    def names(rs: list[DiagnosticRow]) -> str:
        return ", ".join(f"{r.name} ({abs(r.vs_target.tau):.2f})" for r in rs)

    tail = f"its |tau| interval [{lo:.2f}, {hi:.2f}] "
    if out_ and in_:
        tail += f"excludes the |tau| of {names(out_)} but not of {names(in_)}"
    elif out_:
        tail += f"excludes the |tau| of every other diagnostic: {names(out_)}"
    else:
        tail += f"excludes none of the others: {names(in_)}"
    return f"{head}; {tail}."


def analysis_section(a: Analysis, plot_name: str | None = None) -> list[str]:
    """Markdown lines of the report section "Generalization vs forgetting and sharpness"."""
    lines = ["## Generalization vs forgetting and sharpness", "", *a.notes(), "", a.table_md(),
             a.sentence, ""]
    if plot_name:
        lines += [f"![analysis_scatter]({plot_name})", ""]
    return lines


def write_analysis(a: Analysis, out_dir: Path) -> list[Path]:
    """Write analysis.md, analysis.csv and (when any row) analysis_scatter.png into `out_dir`."""
    from sweeps.analyze_plots import plot_scatter_grid

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    png = plot_scatter_grid(a, out_dir / "analysis_scatter.png")
    md, csv_ = out_dir / "analysis.md", out_dir / "analysis.csv"
    md.write_text("\n".join(analysis_section(a, png.name if png else None)))
    csv_.write_text(a.table_csv())
    return [md, csv_] + ([png] if png else [])


def analyze_sweep(name: str, storage: str, tracking_uri: str | None = None,
                  out: str | None = None, n_resamples: int = N_RESAMPLES,
                  seed: int = SEED) -> tuple[Analysis, list[Path]]:
    """Analyse a sweep, write the files, log them to its parent MLflow run under `analysis/`.

    Example::

        a, files = analyze_sweep("tiny", "runs")
    """
    from sweeps.sweep_records import log_to_parent, read_sweep

    sweep = read_sweep(name, storage, tracking_uri)
    a = analyze_records(sweep.records, n_resamples, seed)
    files = write_analysis(a, Path(out) if out else sweep.dir.root / "report")
    log_to_parent(sweep, files, "analysis")
    return a, files
