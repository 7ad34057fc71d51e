"""Report figures, read from their `Figure` objects: one colour per method in every figure (the
analysis scatter included), the test scores and learning curves drawn from the numbers of the
report rows, collapsed runs kept off the axes."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from matplotlib.collections import Collection
from matplotlib.colors import to_hex, to_rgba
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text
from PIL import Image

from sweeps.report.analysis_plots import scatter_figure
from sweeps.report.figure_style import method_colors
from sweeps.report.plots import all_plots, report_figures
from sweeps.results.correlation import analyze_records
from sweeps.results.rows import method_rows
from sweeps.study.study_file import parse_study
from tests.support.report_case import STUDY, report_records

EXPECTED = method_colors(list(STUDY.methods))      # sgd, sam, obf: tab10 0, 1, 2


def _colours(artist) -> set[str]:
    """The visible, non-grey colours an artist is drawn in."""
    if isinstance(artist, Line2D):
        line = artist.get_linestyle() not in ("None", "", " ", "none")
        marker = artist.get_marker() not in (None, "None", "", " ", "none")
        raw = ([artist.get_color()] if line else []) + (
            [artist.get_markerfacecolor(), artist.get_markeredgecolor()] if marker else [])
    elif isinstance(artist, Collection):
        raw = [*artist.get_facecolor(), *artist.get_edgecolor()]
    elif isinstance(artist, Text):
        raw = [artist.get_color()] if artist.get_text() else []
    elif isinstance(artist, Patch):
        raw = [artist.get_facecolor(), artist.get_edgecolor()]
    else:
        return set()
    rgba = [to_rgba(c) for c in raw]
    return {to_hex(c) for c in rgba if c[3] > 0 and not np.allclose(c[:3], c[0])}


def _check_method_colours(fig: Figure, expected: dict[str, str]) -> set[str]:
    """Every artist drawn for method m (gid `method:m`, or a legend entry naming m) is in m's
    colour only; no other artist uses a method's colour. Returns the methods drawn."""
    fig.draw_without_rendering()     # colour-mapped collections get their colours when drawn
    legends = fig.findobj(Legend)
    in_legend = {id(a) for leg in legends for a in leg.findobj()}
    for leg in legends:
        for handle, text in zip(leg.legend_handles, leg.texts, strict=True):
            m = re.split(r"[ :]", text.get_text())[0]
            if m in expected:
                assert _colours(handle) == {expected[m]}, (text.get_text(), _colours(handle))
            else:                        # e.g. "Pareto front": in no method's colour
                assert not _colours(handle) & set(expected.values()), text.get_text()
    drawn, palette = set(), set(expected.values())
    for a in fig.findobj():
        gid = a.get_gid() or ""
        if gid.startswith("method:"):
            m = gid.removeprefix("method:")
            if _colours(a):
                assert _colours(a) == {expected[m]}, (m, a, _colours(a))
                drawn.add(m)
        elif id(a) not in in_legend:
            assert not _colours(a) & palette, (a, _colours(a))
    return drawn


def with_diagnostics(records):
    """The report case's runs with diagnostics that track their test accuracy."""
    return [dataclasses.replace(r, final={**r.final, "ever_forgotten": 1 - r.final["test_acc"],
                                          "clean_fit": 0.9 + 0.001 * i})
            if "test_acc" in r.final else r for i, r in enumerate(records)]


@pytest.fixture(scope="module")
def records(make_record):
    return report_records(make_record)


def test_every_figure_draws_each_method_in_its_one_colour(records, tmp_path):
    figs = report_figures(records, STUDY, method_rows(records, STUDY))
    assert list(figs) == ["test_scores.png", "learning_curves.png", "tradeoff.png",
                          "metric_vs_rho.png", "rho_m.png", "method_groups.png"]
    drawn = {name: _check_method_colours(fig, EXPECTED) for name, fig in figs.items()}
    assert drawn == {"test_scores.png": {"sgd", "sam", "obf"},
                     "learning_curves.png": {"sgd", "sam", "obf"},
                     "tradeoff.png": {"sgd", "sam", "obf"},
                     "metric_vs_rho.png": {"sgd", "sam", "obf"},   # sgd: its reference line
                     "rho_m.png": {"sam", "obf"},                  # a panel per perturbed method
                     "method_groups.png": {"sam", "obf"}}          # the compared methods
    a = analyze_records(with_diagnostics(records), n_resamples=200, study=STUDY)
    assert a.methods == ["sgd", "sam", "obf"]
    assert _check_method_colours(scatter_figure(a), EXPECTED) == {"sgd", "sam", "obf"}
    # a study that lists its methods in another order gives them other colours, everywhere
    other = dataclasses.replace(STUDY, methods=dict(reversed(STUDY.methods.items())))
    expected = method_colors(["obf", "sam", "sgd"])
    for fig in report_figures(records, other, method_rows(records, other)).values():
        _check_method_colours(fig, expected)
    b = analyze_records(with_diagnostics(records), n_resamples=200, study=other)
    _check_method_colours(scatter_figure(b), expected)


def test_all_plots_writes_every_figure(records, tmp_path):
    paths = all_plots(records, STUDY, method_rows(records, STUDY), tmp_path / "r")
    assert [p.name for p in paths] == ["test_scores.png", "learning_curves.png",
                                       "tradeoff.png", "metric_vs_rho.png", "rho_m.png",
                                       "method_groups.png"]
    for p in paths:
        with Image.open(p) as im:
            im.verify()
    search_only = [r for r in records if r.phase == "search"]
    assert [p.name for p in all_plots(search_only, STUDY, method_rows(search_only, STUDY),
                                      tmp_path / "s")] == [
        "learning_curves.png", "metric_vs_rho.png", "rho_m.png"]   # no test scores yet


def _by_gid(ax, method, kind=Line2D):
    return [a for a in ax.get_children() if isinstance(a, kind) and a.get_gid() == f"method:{method}"]


def test_tradeoff_points_are_the_confirmed_configs_costs_and_test_means(records):
    rows = method_rows(records, STUDY)
    fig = report_figures(records, STUDY, rows)["tradeoff.png"]
    assert [ax.get_xlabel() for ax in fig.axes] == ["gradient evaluations per run",
                                                    "device-seconds per run"]
    for ax, cost in zip(fig.axes, ["grad_evals", "device_seconds"], strict=True):
        for m in ["sgd", "sam", "obf"]:
            (pts,) = [ln for ln in _by_gid(ax, m) if ln.get_marker() == "o"]
            want = [(getattr(c, cost), c.test.mean) for c in rows[m].confirmed]
            assert list(zip(pts.get_xdata(), pts.get_ydata(), strict=True)) == want


def test_test_scores_are_the_rows_seeds_mean_and_interval(records):
    rows = method_rows(records, STUDY)
    ax = report_figures(records, STUDY, rows)["test_scores.png"].axes[0]
    for i, m in enumerate(["sgd", "sam", "obf"]):
        s, lines = rows[m].test, _by_gid(ax, m)
        dots = next(ln for ln in lines if ln.get_marker() == "o")
        assert list(dots.get_ydata()) == [v for _, v in sorted(rows[m].test_by_seed.items())]
        assert all(i - 0.5 < x < i + 0.5 for x in dots.get_xdata())
        bar = next(ln for ln in lines if ln.get_linestyle() == "-" and len(ln.get_xdata()) == 2
                   and ln.get_ydata()[0] == ln.get_ydata()[1])
        assert bar.get_ydata()[0] == pytest.approx(s.mean)
        (whisker,) = [c for c in _by_gid(ax, m, Collection)]
        (seg,) = whisker.get_segments()
        lo, hi = ax.get_ylim()
        assert seg[:, 1] == pytest.approx([s.ci_low, min(s.ci_high, hi + 10)])
    base = [ln for ln in _by_gid(ax, "sgd") if ln.get_linestyle() == "--"]
    assert len(base) == 1 and base[0].get_ydata()[0] == pytest.approx(rows["sgd"].test.mean)
    assert "seed 4 diverged" in [t.get_text() for t in _by_gid(ax, "sam", Text)]


def test_learning_curves_are_the_picks_confirm_runs(records):
    rows = method_rows(records, STUDY)
    ax = report_figures(records, STUDY, rows)["learning_curves.png"].axes[0]
    # sam's pick: seeds 1-3 (seed 2's later run replaces the earlier one), not the diverged 4
    runs = {r.seed: r for r in sorted(records, key=lambda r: r.start_time)
            if r.method == "sam" and r.phase == "confirm" and r.full_length
            and r.group_key == rows["sam"].pick.group_key}
    assert sorted(runs) == [1, 2, 3]
    val = np.array([[h["val_acc"] for h in r.history] for r in runs.values()])
    test = np.array([[h["test_acc"] for h in r.history] for r in runs.values()])
    line = next(ln for ln in _by_gid(ax, "sam") if ln.get_linestyle() == "-")
    assert line.get_label() == "sam (n=3)" and list(line.get_xdata()) == [1.0, 2.0, 3.0]
    assert line.get_ydata() == pytest.approx(val.mean(0))
    band = _by_gid(ax, "sam", Collection)[0]
    assert band.get_paths()[0].vertices[:, 1].max() == pytest.approx(
        (val.mean(0) + val.std(0, ddof=1)).max())
    marks = next(ln for ln in _by_gid(ax, "sam") if ln.get_marker() == "D")
    assert marks.get_ydata() == pytest.approx(test.mean(0))


def _close_scores(make_record, collapsed: float) -> list:
    """Three methods with test scores near 0.75 on three confirm seeds and search runs near
    0.45 validation accuracy; sam's seed 3 and one sam search run collapsed."""
    study = parse_study("name: s\nmetric: val_acc\nbaseline: sgd\nmethods:\n"
                        "  sgd: {fixed: {perturbation: none}}\n"
                        "  sam: {space: {rho: {loguniform: [0.01, 0.5]}}}\n"
                        "  obf: {fixed: {perturbation: obf}, space: {rho: {loguniform: [0.01, 0.5]}}}\n")
    cfg = {"sgd": {"perturbation": "none"}, "sam": {"rho": 0.05},
           "obf": {"perturbation": "obf", "rho": 0.1}}
    tests = {"sgd": [0.73, 0.74, 0.72], "sam": [0.77, 0.78, collapsed], "obf": [0.78, 0.79, 0.76]}
    out, t = [], iter(range(100))
    for m, rho in (("sam", 0.02), ("sam", 0.2), ("sam", 0.3), ("obf", 0.02), ("obf", 0.3)):
        c = {**cfg[m], "rho": rho}
        val = 0.10 if (m, rho) == ("sam", 0.3) else 0.44 + rho / 10
        out.append(make_record(m, "search", "completed", 0, c, {"val_acc": val}, next(t)))
    for m, rho, val in (("obf", 0.25, 0.30), ("obf", 0.06, 0.25)):
        out.append(make_record(m, "search", "pruned", 0, {**cfg[m], "rho": rho}, {"val_acc": val},
                               next(t), reached=1))          # stopped early, at lower values
    for m in cfg:
        out.append(make_record(m, "search", "completed", 0, cfg[m], {"val_acc": 0.47}, next(t)))
        for seed, v in enumerate(tests[m], start=1):
            out.append(make_record(m, "confirm", "completed", seed, cfg[m],
                                   {"val_acc": 0.46, "test_acc": v,
                                    "ever_forgotten": 1.2 - v + 0.01 * seed}, next(t)))
    return study, out


def test_a_collapsed_run_does_not_set_the_axes(make_record):
    study, recs = _close_scores(make_record, collapsed=0.24)
    rows = method_rows(recs, study)
    figs = report_figures(recs, study, rows)
    ax = figs["test_scores.png"].axes[0]
    lo, hi = ax.get_ylim()
    assert 0.5 < lo < 0.72 and hi < 1.0
    edge = [ln for ln in _by_gid(ax, "sam") if ln.get_marker() == "v"]
    assert len(edge) == 1 and edge[0].get_ydata()[0] == lo and 0.5 < edge[0].get_xdata()[0] < 1.5
    assert "0.24" in [t.get_text() for t in _by_gid(ax, "sam", Text)]
    assert rows["sam"].test.mean == pytest.approx((0.77 + 0.78 + 0.24) / 3)   # still in the mean
    # the search landscape: the completed runs set the axis (0.442-0.47); the collapsed sam run
    # (val 0.10) and obf's pruned runs (0.25, 0.30: where they stopped) sit on the edge, values
    # printed; in rho x m they are grey, off the colour scale
    ax = figs["metric_vs_rho.png"].axes[0]
    lo = ax.get_ylim()[0]
    assert 0.4 < lo < 0.442          # the lowest completed run: 0.442
    edge = {m: sorted(t.get_text() for t in _by_gid(ax, m, Text)) for m in ("sam", "obf")}
    assert edge == {"sam": ["0.1"], "obf": ["0.25", "0.3"]}
    assert all(ln.get_ydata()[0] == lo for m in ("sam", "obf") for ln in _by_gid(ax, m)
               if ln.get_marker() == "v")
    scales = [c.norm.vmin for c in figs["rho_m.png"].findobj(Collection) if c.get_array() is not None]
    assert scales and min(scales) > 0.4
    # the analysis scatter: every panel's limits come from the other runs (each confirm seed
    # its own config here: the analysis averages a config's seeds, and needs 4+ configs)
    own = [dataclasses.replace(r, group_key=f"{r.group_key}-{r.seed}") for r in recs]
    a = analyze_records(own, n_resamples=200, study=study)
    for ax in scatter_figure(a).axes:
        assert ax.get_ylim()[0] > 0.5
        assert any(ln.get_marker() == "v" for ln in _by_gid(ax, "sam"))
    # without the collapse, nothing is drawn apart and the limits hug the data
    study, recs = _close_scores(make_record, collapsed=0.765)
    ax = report_figures(recs, study, method_rows(recs, study))["test_scores.png"].axes[0]
    assert not [ln for ln in ax.lines if ln.get_marker() in ("v", "^")]
