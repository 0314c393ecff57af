"""The histogram chart: bucket ranges, counts, the change since the last refresh, horizontal bars scaled to
the widest bucket, and which buckets hold p50/p90/p99; plus the percentile summary line.

Rendering is a pure function of a :class:`~mapexplorer.histogram.Histogram` (``render_chart``), so the
screen only decides what to show.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from mapexplorer.histogram import LINEAR, Histogram

BLOCKS = " ▏▎▍▌▋▊▉█"
"""Eighth blocks: a bar's length has 8 steps per cell."""


def bar(value: int, vmax: int, width: int) -> str:
    """A horizontal bar of ``value / vmax`` of ``width`` cells (at least a sliver when value > 0)."""
    if vmax <= 0 or width <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value / vmax * width * 8))
    full, part = divmod(eighths, 8)
    return "█" * full + (BLOCKS[part] if part else "")


def summary(h: Histogram) -> Text:
    """``p50 <= 15  p90 <= 63  p99 <= 255  max <= 511 usecs`` and the sample count, styled."""
    pct = h.percentiles()
    t = Text()
    if pct is None:
        t.append("no samples yet", "dim")
        return t
    for name, v in pct.items():
        t.append(f"{name} ", "dim")
        t.append(f"≤ {v:,}", "bold")
        t.append("  ")
    if h.unit:
        t.append(f"{h.unit}  ", "bold")
    t.append(f"(bucket upper bounds · {h.total:,} samples)", "dim")
    return t


def render_chart(h: Histogram, delta: tuple[int, ...] | None, width: int) -> Text:
    """The chart's rows for a terminal ``width`` cells wide.

    Args:
        h: the histogram.
        delta: per-slot change since the last refresh (same indexing as ``h.counts``), None for none yet.
        width: cells available.
    """
    rows = h.rows()
    t = Text(no_wrap=True, overflow="crop")
    if not rows:
        t.append("every bucket is empty", "dim")
        return t
    pct = h.percentiles() or {}
    marks: dict[int, list[str]] = {}
    for name in ("p50", "p90", "p99"):
        if name in pct:
            marks.setdefault(pct[name], []).append(name)
    first = 0 if h.scale == LINEAR else 1
    sep = "," if width >= 90 else ""  # narrow: no thousands separators

    def n(x: int) -> str:
        return f"{x:{sep}}"

    lw = max(len(n(b.low)) for b in rows)
    hw = max(len(n(b.high)) for b in rows)
    cw = max(5, max(len(n(b.count)) for b in rows))
    dvals = [delta[i + first] if delta and i + first < len(delta) else 0 for i in range(len(rows))]
    dw = max(3, max(len("+" + n(d)) for d in dvals))
    range_w = lw if h.scale == LINEAR else lw + 4 + hw
    mark_w = 12 if width >= 90 else 9
    bar_w = max(4, width - (range_w + 3 + cw + 2 + dw + 2 + mark_w))
    vmax = max(b.count for b in rows)
    unit = h.unit or "value"
    head = f"{unit:>{range_w}}"
    t.append(head, "bold")
    t.append(f" : {'count':>{cw}}  {'Δ':>{dw}}  ", "bold")
    t.append("distribution", "bold")
    for b, d in zip(rows, dvals, strict=True):
        t.append("\n")
        rng = f"{n(b.low):>{lw}}" if h.scale == LINEAR else f"{n(b.low):>{lw}} -> {n(b.high):<{hw}}"
        t.append(rng, "cyan" if b.count else "dim")
        t.append(" : ")
        t.append(f"{n(b.count):>{cw}}", "bold" if b.count else "dim")
        dtext = f"+{n(d)}" if d > 0 else (n(d) if d < 0 else "·")
        t.append(f"  {dtext:>{dw}}  ", "green" if d > 0 else "red" if d < 0 else "dim")
        bar_text = bar(b.count, vmax, bar_w)
        t.append(bar_text, "bold green" if d > 0 else "blue")
        names = marks.get(b.high)
        if names:
            t.append(" " * (bar_w - len(bar_text) + 1))
            t.append(("◀ " if width >= 90 else "◀") + " ".join(names), "bold yellow")
    return t


class HistogramChart(Static):
    """Shows one histogram (re-rendered on resize)."""

    DEFAULT_CSS = """
    HistogramChart { height: auto; width: 1fr; text-wrap: nowrap; text-overflow: clip; }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", name=name, id=id, classes=classes)
        self._hist: Histogram | None = None
        self._delta: tuple[int, ...] | None = None

    def show(self, hist: Histogram | None, delta: tuple[int, ...] | None) -> None:
        self._hist, self._delta = hist, delta
        self._render_now()

    def _render_now(self) -> None:
        if self._hist is None:
            self.update(Text("reading…", "dim"))
            return
        self.update(render_chart(self._hist, self._delta, max(self.content_size.width, 40)))

    def on_resize(self) -> None:
        self._render_now()
