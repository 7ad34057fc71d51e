"""What every figure shares: one colour per method, and the rule that draws collapsed runs apart.

**Colours.** A method's colour is its index in the study's method order (`study.methods`, then
any other method sorted) in `PALETTE`: matplotlib's tab10 without its grey (grey marks what
belongs to no method: reference lines, notes), then the light tab20 shades of the same hues;
past 18 methods, evenly spaced `turbo` colours. Every artist drawn for a method carries the gid
`method:<name>` (`tag`), so tests can check the colours from the `Figure` objects.

**Off-scale values.** A collapsed run (test_acc 0.24 among ~0.75) must not set the axes. A value
is drawn apart when it is far out twice: beyond Tukey's far-out fence (Q1 - 3 IQR, Q3 + 3 IQR)
of all values on the axis (at least `MIN_POINTS` finite, IQR > 0) and beyond the same fence of
its own method's other values on the axis (at least 2 of them). In a figure of final values the
fences come from completed full-length runs only; a pruned run's value (where it stopped) is
held against them like any other. A method whose runs all sit far
from the others is a result, not a collapse, and sets the axes. For a metric, only the side a
collapse goes to counts (low for an accuracy, high for a loss). Apart values are drawn as
triangles on the axis edge (pointing outward) with their value printed beside them, and the
figure says how many there are.

Example:
    >>> method_colors(["sgd", "sam"])
    {'sgd': '#1f77b4', 'sam': '#ff7f0e'}
    >>> apart([0.74, 0.75, 0.76, 0.24, 0.70, 0.71, 0.72], ["a"] * 4 + ["b"] * 3, side="low")
    [False, False, False, True, False, False, False]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import to_hex

__all__ = ["PALETTE", "FAR_OUT", "MIN_POINTS", "method_order", "method_colors", "tag",
           "collapse_side", "fence", "apart", "span", "draw_apart"]

Side = Literal["low", "high", "both"]
_TAB10 = [to_hex(c) for i, c in enumerate(colormaps["tab10"].colors) if i != 7]
_LIGHT = [to_hex(c) for i, c in enumerate(colormaps["tab20"].colors) if i % 2 and i // 2 != 7]
PALETTE: tuple[str, ...] = tuple(_TAB10 + _LIGHT)
FAR_OUT = 3.0        # Tukey's "far out" fence, in IQRs beyond the quartiles
MIN_POINTS = 5       # fewer finite values on an axis: nothing is drawn apart
NEUTRAL = "0.45"     # grey: what belongs to no method


def method_order(methods: Iterable[str], seen: Iterable[str] = ()) -> list[str]:
    """The study's methods in order, then methods only `seen` in the runs, sorted.

    >>> method_order(["sgd", "sam"], ["obf", "sam", "asam"])
    ['sgd', 'sam', 'asam', 'obf']
    """
    order = list(dict.fromkeys(methods))
    return order + sorted(set(seen) - set(order))


def method_colors(methods: Sequence[str]) -> dict[str, str]:
    """One colour (hex) per method, by its index in `methods` (the study's order)."""
    n = len(methods)
    if n <= len(PALETTE):
        colors = list(PALETTE[:n])
    else:
        colors = [to_hex(c) for c in colormaps["turbo"](np.linspace(0.05, 0.95, n))]
    return dict(zip(methods, colors, strict=True))


def tag(artists: Any, method: str) -> None:
    """Mark artists (one, a list, or a container such as errorbar's) as drawn for `method`."""
    items = artists if isinstance(artists, (list, tuple)) else [artists]
    for a in items:
        if isinstance(a, (list, tuple)):
            tag(a, method)
        elif a is not None and hasattr(a, "set_gid"):
            a.set_gid(f"method:{method}")


def collapse_side(metric: str) -> Side:
    """The side a collapsed run's `metric` goes to: low for an accuracy, high for a loss."""
    return "high" if "loss" in metric else "low"


def fence(values: Sequence[float], k: float = FAR_OUT) -> tuple[float, float]:
    """Tukey's fence (Q1 - k IQR, Q3 + k IQR) of finite values (NaN, NaN when none).

    >>> fence([1.0, 2.0, 3.0, 4.0, 5.0])
    (-4.0, 10.0)
    """
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    q1, q3 = np.quantile(v, [0.25, 0.75])
    return float(q1 - k * (q3 - q1)), float(q3 + k * (q3 - q1))


def _beyond(v: float, lo: float, hi: float, side: Side) -> bool:
    return bool((side != "high" and v < lo) or (side != "low" and v > hi))


def apart(values: Sequence[float], methods: Sequence[str], side: Side = "both",
          k: float = FAR_OUT, reference: Sequence[bool] | None = None) -> list[bool]:
    """Which values to draw apart (the module's rule). The fences come from the `reference`
    values (default: all; a figure of final values passes its completed full-length runs, so
    the values pruned runs stopped at neither widen nor hide a collapse); non-finite values are
    never apart (callers leave them out).

    >>> apart([0.47, 0.48, 0.46, 0.47, 0.46, 0.45, 0.17, 0.33], ["a"] * 3 + ["b"] * 4 + ["a"],
    ...       "low", reference=[True] * 7 + [False])
    [False, False, False, False, False, False, True, True]
    """
    v = np.asarray(values, float)
    m = np.asarray(methods, object)
    finite = np.isfinite(v)
    ref = finite & (np.ones(v.size, bool) if reference is None else np.asarray(reference, bool))
    out = [False] * v.size
    if ref.sum() < MIN_POINTS:
        return out
    q1, q3 = np.quantile(v[ref], [0.25, 0.75])
    if q3 <= q1:
        return out
    lo, hi = fence(v[ref], k)
    for i in np.flatnonzero(finite):
        if not _beyond(v[i], lo, hi, side):
            continue
        mine = ref & (m == m[i])
        mine[i] = False
        if mine.sum() >= 2:
            out[i] = bool(_beyond(v[i], *fence(v[mine], k), side))
    return out


def span(values: Iterable[float], pad: float = 0.06) -> tuple[float, float]:
    """Axis limits around the finite `values`, padded by `pad` of their range.

    >>> span([0.5, 1.0])
    (0.47, 1.03)
    """
    v = [x for x in values if np.isfinite(x)]
    if not v:
        return 0.0, 1.0
    lo, hi = min(v), max(v)
    width = hi - lo if hi > lo else max(abs(hi), 1.0) * 0.05
    return round(lo - pad * width, 12), round(hi + pad * width, 12)


def draw_apart(ax: Axes, points: Sequence[tuple[float, float, bool, bool]], color: str,
               method: str) -> None:
    """Draw points (x, y, x_apart, y_apart) on the edge of `ax` (its limits already set):
    an apart coordinate is moved to the nearer-by-value edge, a triangle points off the axis
    and the value(s) are printed beside it."""
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    for x, y, xa, ya in points:
        px = (x0 if x < x0 else x1) if xa else x
        py = (y0 if y < y0 else y1) if ya else y
        marker = ("v" if py == y0 else "^") if ya else ("<" if px == x0 else ">")
        (pt,) = ax.plot([px], [py], marker, ms=8, color=color, clip_on=False, zorder=5)
        label = f"({x:.3g}, {y:.3g})" if xa and ya else f"{x if xa else y:.3g}"
        right, top = xa and px == x1, ya and py == y1          # the text goes inward
        txt = ax.annotate(label, (px, py), textcoords="offset points",
                          xytext=(-6 if right else 6, -4 if top else 4), fontsize=6,
                          ha="right" if right else "left", va="top" if top else "bottom",
                          color=color, annotation_clip=False)
        tag([pt, txt], method)
