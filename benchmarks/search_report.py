"""The markdown report and the figure of `benchmarks.search_efficiency`.

Per landscape: the grid's reference figures, one row per strategy (compute share, pick = the
validation winner with its 95 % Wilson interval, pick within 0.5 / 1 SE, validation regret, pick
test accuracy), and paired differences (same search seeds) against the current default. Then the
default chosen from all landscapes (`search_stats.choose_default`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from benchmarks.landscapes import Landscape
from benchmarks.replay import SchedulerSpec
from benchmarks.search_stats import Choice, Outcome, binomial_se, choose_default, paired, summary
from benchmarks.tabular_search import Table, grid_best

HEAD = ("| strategy | trials | compute share (%) | pick = val-best (%) [95 % CI] | within 0.5 SE (%) "
        "| within 1 SE (%) | val regret (points) | pick test acc (%) |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|")
PAIRED_HEAD = ("| strategy - current | Δ compute share (pp) | Δ pick = val-best (pp) "
               "| Δ within 0.5 SE (pp) | Δ val regret (points) | Δ pick test acc (points) |\n"
               "|---|---:|---:|---:|---:|---:|")


def grid_lines(land: Landscape, table: Table) -> list[str]:
    """The grid's size, winner, SE and how flat its top is."""
    (cfg, win), n_val = grid_best(table), int(land.base.get("val_size", 2000))
    p = win.val_acc[-1]
    se = binomial_se(p, n_val)
    gaps = [p - c.val_acc[-1] for c in table.values()]
    oracle_cfg, oracle = max(sorted(table.items()), key=lambda kv: kv[1].test_acc)
    names = [a.name for a in land.axes]

    def point(c: tuple) -> str:
        return ", ".join(f"{n} = {v:g}" for n, v in zip(names, c, strict=True))

    ge = sum(c.cost(c.epochs)[0] for c in table.values())
    mins = sum(c.cost(c.epochs)[1] for c in table.values()) / 60
    return [f"Grid: {len(table)} configs, {ge:,} gradient evaluations, {mins:.0f} min of training "
            f"epochs. Validation winner: {point(cfg)}: val {100 * p:.2f} %, test "
            f"{100 * win.test_acc:.2f} % (best test in the grid {100 * oracle.test_acc:.2f} %, "
            f"{point(oracle_cfg)}). Binomial SE of the winner's val_acc on {n_val:,} images: "
            f"{100 * se:.2f} points; configs within 0.5 SE of it: "
            f"{sum(g <= 0.5 * se + 1e-12 for g in gaps)}, within 1 SE: "
            f"{sum(g <= se + 1e-12 for g in gaps)} (winner included); val range "
            f"{100 * min(c.val_acc[-1] for c in table.values()):.2f}-{100 * p:.2f} %."]


def row(name: str, trials: int, runs: list[Outcome]) -> str:
    """One markdown row of a strategy's figures over its seeds."""
    s = summary(runs)
    cells = [name, str(trials), f"{100 * s['share']:.0f} ± {100 * s['share_sd']:.0f}",
             f"{100 * s['best']:.0f} [{100 * s['best_lo']:.0f}, {100 * s['best_hi']:.0f}]",
             f"{100 * s['half_se']:.0f}", f"{100 * s['one_se']:.0f}", f"{s['regret']:.2f}",
             f"{100 * s['test']:.2f} ± {100 * s['test_sd']:.2f}"]
    return "| " + " | ".join(cells) + " |"


def paired_row(name: str, runs: list[Outcome], ref: list[Outcome]) -> str:
    """One markdown row of paired differences `name` - reference, mean [95 % CI]."""
    d = paired(runs, ref)

    def cell(key: str, scale: float, fmt: str) -> str:
        m, lo, hi = (scale * x for x in d[key])
        if math.isnan(lo):
            return f"{m:{fmt}}"
        return f"{m:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"

    cells = [name, cell("share", 100, "+.1f"), cell("best", 100, "+.0f"),
             cell("half_se", 100, "+.0f"), cell("regret", 1, "+.2f"), cell("test", 1, "+.2f")]
    return "| " + " | ".join(cells) + " |"


def _trials(budget: dict[SchedulerSpec, int], name: str, grid_size: int) -> int:
    spec = next(s for s in budget if name.split(" + ", 1)[1] == s.label)
    return min(budget[spec], grid_size) if name.startswith("grid") else budget[spec]


def report(tables: dict[str, tuple[Landscape, Table]], budget: dict[str, dict[SchedulerSpec, int]],
           results: dict[str, dict[int, dict[str, list[Outcome]]]], current: str, main_w: int,
           seeds: int) -> tuple[list[str], Choice]:
    """The markdown report and the chosen default."""
    lines: list[str] = []
    for name, (land, table) in tables.items():
        lines += ["", f"### Landscape `{name}`: {land.title}", ""] + grid_lines(land, table)
        b = ", ".join(f"{s.label} {n}" for s, n in budget[name].items())
        lines += ["", f"Trial budgets (random search spends about the aimed share of the grid's "
                      f"compute): {b}. {seeds} search seeds per strategy; mean ± std over them."]
        for w, runs in sorted(results[name].items(), key=lambda kv: kv[0] != main_w):
            title = f"{w} trial{'s' if w > 1 else ''} at a time"
            fold = w != main_w  # the other worker counts folded away in the markdown
            lines += ["", f"<details><summary>{title}</summary>" if fold else f"{title}:", "", HEAD]
            lines += [row(s, _trials(budget[name], s, len(table)), r) for s, r in runs.items()]
            lines += ["", "</details>"] if fold else []
        ref = results[name][main_w][current]
        lines += ["", f"Paired differences against `{current}` ({main_w} at a time, the same "
                      f"{seeds} search seeds; mean [95 % CI]):", "", PAIRED_HEAD]
        lines += [paired_row(s, r, ref) for s, r in results[name][main_w].items() if s != current]
    choice = choose_default({n: results[n][main_w] for n in results}, current)
    ranked = sorted(choice.scores.items(), key=lambda kv: kv[1])[:8]
    lines += ["", f"Default ({main_w} trials at a time; rule in `search_stats.choose_default`): "
                  f"**{choice.strategy}**: {choice.reason}.", "",
              "Worst-landscape mean validation regret (in SEs) of the best eligible strategies: "
              + "; ".join(f"{s} {v:.2f}" for s, v in ranked) + "."]
    return lines, choice


COLORS = ["tab:green", "tab:red", "tab:orange", "tab:blue", "tab:purple", "tab:gray"]


def plot(tables: dict[str, tuple[Landscape, Table]], figs: dict[str, Any], path: Path) -> None:
    """Per landscape: pick within 0.5 SE of the winner (%) and mean validation regret (SEs)
    against the compute share spent, one line per strategy (mean over the seeds)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.3 * len(tables), 6.4), layout="constrained")
    axes = fig.subplots(2, len(tables), sharex=True, squeeze=False)
    for col, (name, (land, _)) in enumerate(tables.items()):
        for i, (strat, points) in enumerate(figs[name].items()):
            xs = [100 * summary(runs)["share"] for _, _, runs in points]
            top = [100 * summary(runs)["half_se"] for _, _, runs in points]
            reg = [summary(runs)["regret_se"] for _, _, runs in points]
            kw = dict(color=COLORS[i % len(COLORS)], marker="o", markersize=3, label=strat)
            axes[0, col].plot(xs, top, **kw)
            axes[1, col].plot(xs, reg, **kw)
        axes[0, col].set_title(f"{name}: {land.title}", fontsize=9)
        axes[1, col].set_xlabel("compute spent: grad evals, % of the grid")
        for ax in axes[:, col]:
            ax.axvline(100 / 3, color="k", lw=0.6, ls=":")
            ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("pick within 0.5 SE of the winner (%)")
    axes[1, 0].set_ylabel("validation regret (SEs), mean")
    axes[0, -1].legend(loc="lower right", fontsize=7)
    fig.suptitle("Search efficiency on tables of learning curves (2 trials at a time; "
                 "mean over search seeds)", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
