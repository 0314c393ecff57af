"""A CPU x time heatmap: one half-cell per CPU per refresh (two CPUs per text line, ``▀`` with the upper
CPU as foreground and the lower as background), every cell on one colour scale, so that one hot CPU stands
out among hundreds. ``render_heatmap`` is a pure function of the per-CPU series."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.widgets import Static

# dark blue -> purple -> orange -> yellow (an "inferno"-like ramp that stays readable on dark themes)
RAMP = ((20, 24, 48), (87, 16, 110), (188, 55, 84), (249, 142, 9), (252, 255, 164))
EMPTY = Color.from_rgb(40, 40, 40)
LABEL_W = 8


def heat_color(x: float | None, vmax: float) -> Color:
    """The colour of ``x`` on a 0..vmax scale (None: no sample)."""
    if x is None:
        return EMPTY
    f = 0.0 if vmax <= 0 else min(max(x / vmax, 0.0), 1.0)
    pos = f * (len(RAMP) - 1)
    i = min(int(pos), len(RAMP) - 2)
    frac = pos - i
    a, b = RAMP[i], RAMP[i + 1]
    return Color.from_rgb(*(round(a[k] + (b[k] - a[k]) * frac) for k in range(3)))


def _group(series: Sequence[Sequence[float | None]], k: int) -> list[tuple[int, int, list[float | None]]]:
    """CPUs in groups of ``k`` (first cpu, last cpu, per-sample max of the group)."""
    out = []
    for start in range(0, len(series), k):
        members = series[start : start + k]
        n = max(len(m) for m in members)
        col: list[float | None] = []
        for i in range(n):
            vals: list[float] = []
            for m in members:
                v = m[i] if i < len(m) else None
                if v is not None:
                    vals.append(v)
            col.append(max(vals) if vals else None)
        out.append((start, start + len(members) - 1, col))
    return out


def render_heatmap(series: Sequence[Sequence[float | None]], width: int, height: int, *, unit: str = "",
                   seconds: float | None = None, fmt: Callable[[float], str] = str) -> Text:
    """Rows of two CPU cells each (newest sample on the right), labelled with CPU numbers, then the time
    axis, a colour legend and what a cell is.

    Everything fits in ``width`` x ``height``: samples are stretched to the width (the oldest dropped when
    there are more than cells); when the CPUs do not fit two per line, each cell shows the maximum of a
    group of CPUs (so a hot CPU still stands out) and the labels say which.

    Args:
        series: per CPU, its values oldest first.
        width, height: cells available.
        unit: shown after the legend's maximum.
        seconds: time span of the shown samples, for the axis.
        fmt: formats the legend's maximum.
    """
    cols = max(1, width - LABEL_W)
    lines = max(1, height - 3)
    k = max(1, math.ceil(len(series) / (2 * lines)))
    groups = _group([list(s)[-cols:] for s in series], k) if series else []
    n = max((len(g[2]) for g in groups), default=0)
    cell = max(1, cols // n) if n else 1
    vmax = max((x for g in groups for x in g[2] if x is not None), default=0.0)
    t = Text(no_wrap=True, overflow="crop")
    for j in range(0, len(groups), 2):
        upper = groups[j]
        lower = groups[j + 1] if j + 1 < len(groups) else None
        first, last = upper[0], (lower or upper)[1]
        label = f"{first}-{last}" if last != first else f"{first}"
        t.append(f"{label:>{LABEL_W - 1}} ", "bold magenta")
        for i in range(n):
            up = upper[2][i] if i < len(upper[2]) else None
            lo = lower[2][i] if lower is not None and i < len(lower[2]) else None
            bg = heat_color(lo, vmax) if lower is not None else None
            t.append("▀" * cell, Style(color=heat_color(up, vmax), bgcolor=bg))
        t.append("\n")
    span = f"-{seconds:g}s" if seconds is not None else "oldest"
    t.append(" " * LABEL_W)
    t.append(f"{span}{'now':>{max(n * cell - len(span), 4)}}", "dim")
    t.append("\n" + " " * LABEL_W)
    t.append("0 ", "dim")
    for step in range(12):
        t.append("█", Style(color=heat_color(step / 11 * vmax if vmax else 0.0, vmax)))
    t.append(f" {fmt(vmax)}{unit}", "dim")
    t.append("\n" + "cpu".rjust(LABEL_W - 1) + " ", "bold magenta")
    t.append(f"a cell: the max of {k} CPUs" if k > 1 else "a cell: one CPU, one refresh", "dim")
    return t


class CpuHeatmap(Static):
    """Shows :func:`render_heatmap` for the drill-down's history (re-rendered on resize)."""

    DEFAULT_CSS = """
    CpuHeatmap { height: 1fr; width: 1fr; padding: 0 1; text-wrap: nowrap; text-overflow: clip; }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", name=name, id=id, classes=classes)
        self._args: tuple[list[list[float | None]], float | None, Callable[[float], str]] | None = None

    def show(self, series: list[list[float | None]], seconds: float | None,
             fmt: Callable[[float], str] = str) -> None:
        self._args = (series, seconds, fmt)
        self._render_now()

    def _render_now(self) -> None:
        if self._args is None:
            return
        series, seconds, fmt = self._args
        size = self.content_size
        text = render_heatmap(series, max(size.width, 20), max(size.height, 3), seconds=seconds, fmt=fmt)
        self.update(text)

    def on_resize(self) -> None:
        self._render_now()
