"""What every figure shares (`sweeps.report.figure_style`): one colour per method by study order,
and the rule that draws a collapsed run apart (Tukey's far-out fence, twice)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib import colormaps
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure

from sweeps.report.figure_style import (
    PALETTE,
    apart,
    draw_apart,
    fence,
    method_colors,
    method_order,
    span,
)


def test_colours_follow_the_study_order_and_never_repeat_or_go_grey():
    tab10 = [to_hex(c) for c in colormaps["tab10"].colors]
    assert method_colors(["sgd", "sam", "obf"]) == {"sgd": tab10[0], "sam": tab10[1],
                                                    "obf": tab10[2]}
    # the same method order gives the same colours, whatever else is drawn
    assert method_colors(method_order(["sgd", "sam"], ["sam"])) == method_colors(["sgd", "sam"])
    assert method_order(["b", "a"], ["z", "a", "c"]) == ["b", "a", "c", "z"]
    for n in (9, 18, 25):
        got = list(method_colors([f"m{i}" for i in range(n)]).values())
        assert len(set(got)) == n
        assert not any(np.allclose(to_rgb(c)[0], to_rgb(c)) for c in got)   # no grey
    assert len(PALETTE) == 18 and to_hex(colormaps["tab10"].colors[7]) not in PALETTE


def test_fence_is_tukeys_far_out_fence():
    q1, q3 = np.quantile([3.0, 1.0, 7.0, 4.0, 2.0, 9.0], [0.25, 0.75])
    assert fence([3.0, 1.0, 7.0, 4.0, 2.0, 9.0]) == pytest.approx((q1 - 3 * (q3 - q1),
                                                                   q3 + 3 * (q3 - q1)))
    assert all(math.isnan(v) for v in fence([]))


def test_a_collapsed_run_is_apart_a_method_that_is_all_low_is_not():
    good = [0.74, 0.75, 0.76, 0.73, 0.77, 0.75, 0.76, 0.74, 0.78]
    methods = ["a", "a", "a", "b", "b", "b", "c", "c", "c"]
    # seed 3 of method a collapsed: far out among all, and among a's other runs
    assert apart(good + [0.24], methods + ["a"], "low") == [False] * 9 + [True]
    # only the collapse side counts for a metric; a diagnostic is checked on both
    assert apart(good + [0.99], methods + ["a"], "low") == [False] * 10
    assert apart(good + [0.99], methods + ["a"], "both") == [False] * 9 + [True]
    # method d's three runs all sit at 0.40: that is d's result, not a collapse
    assert not any(apart(good + [0.40, 0.41, 0.40], methods + ["d"] * 3, "low"))
    # with fewer than 2 other runs of its method, a run cannot be told apart from its method
    assert apart(good + [0.24], methods + ["e"], "low") == [False] * 10
    # too few values, or no spread (IQR 0): nothing is apart
    assert apart([0.75, 0.76, 0.24], ["a"] * 3, "low") == [False] * 3
    assert apart([0.5] * 6 + [0.1], ["a"] * 7, "low") == [False] * 7
    # the fences from reference values only (completed runs): pruned runs that stopped low
    # neither widen them (hiding the collapse) nor set them, and are held against them too
    pruned = [0.30, 0.35, 0.38, 0.33]
    values, ms = good + [0.24] + pruned, methods + ["a", "b", "b", "c", "c"]
    ref = [True] * 10 + [False] * 4
    assert not apart(values, ms, "low")[9]                         # IQR widened by the pruned
    assert apart(values, ms, "low", reference=ref) == [False] * 9 + [True] * 5
    # non-finite values (diverged runs, which callers leave out) are never apart
    assert apart(good + [math.nan], methods + ["a"], "low") == [False] * 10


def test_span_pads_the_range():
    assert span([0.5, 1.0]) == (0.47, 1.03)
    lo, hi = span([2.0, 2.0, math.nan])
    assert lo < 2.0 < hi
    assert span([]) == (0.0, 1.0)


def test_draw_apart_puts_the_point_on_the_edge_with_its_value():
    ax = Figure().add_subplot()
    ax.set_xlim(0, 1)
    ax.set_ylim(0.7, 0.8)
    draw_apart(ax, [(0.5, 0.24, False, True), (1.7, 0.9, True, True)], "#ff7f0e", "sam")
    low, corner = ax.lines
    assert (low.get_xdata()[0], low.get_ydata()[0], low.get_marker()) == (0.5, 0.7, "v")
    assert (corner.get_xdata()[0], corner.get_ydata()[0], corner.get_marker()) == (1, 0.8, "^")
    assert [t.get_text() for t in ax.texts] == ["0.24", "(1.7, 0.9)"]
    assert {a.get_gid() for a in [*ax.lines, *ax.texts]} == {"method:sam"}
    assert ax.get_ylim() == (0.7, 0.8)     # the limits stay where the other runs put them
