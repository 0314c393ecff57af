"""The per-CPU drill-down of one entry: every CPU's value, rate and share, the imbalance between CPUs
(max / mean), and the history of the last refreshes as a chart with axes (rate per second of each CPU;
with many CPUs the total and the hottest CPUs) or, with 32 CPUs or more, as a CPU x time heatmap on one
colour scale (``c`` switches between the two)."""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Header, Static
from textual.worker import get_current_worker

from mapexplorer.messages import EntryFrame
from mapexplorer.model import MapSnapshot
from mapexplorer.screens.polling import OneMapScreen
from mapexplorer.widgets.columns import cell_text, flatten, fmt_rate, is_number
from mapexplorer.widgets.common import StatusLine, TooSmall
from mapexplorer.widgets.cpuchart import CpuChart
from mapexplorer.widgets.heatmap import CpuHeatmap

HISTORY = 60
HEATMAP_CPUS = 32
"""From this many CPUs on, the drill-down opens on the heatmap and the chart shows the total and the
hottest CPUs only."""
CHART_TOP = 4

Sample = tuple[float, list[dict[str, Any]]]

DASH = "\u2013"
"""Shown for a missing value."""


def rate_series(history: list[Sample], path: str, cpu: int) -> list[float | None]:
    """Rate per second of one CPU's value of ``path`` between consecutive samples, oldest first (None where
    a value is missing or the counter went down)."""
    out: list[float | None] = []
    for (t0, a), (t1, b) in itertools.pairwise(history):
        x = a[cpu].get(path) if cpu < len(a) else None
        y = b[cpu].get(path) if cpu < len(b) else None
        if t1 > t0 and is_number(x) and is_number(y) and float(y) >= float(x):  # type: ignore[arg-type]
            out.append((float(y) - float(x)) / (t1 - t0))  # type: ignore[arg-type]
        else:
            out.append(None)
    return out


def rates(history: list[Sample], path: str, ncpus: int) -> list[float | None]:
    """Per-CPU rate (per second) between the last two samples."""
    if len(history) < 2:
        return [None] * ncpus
    (t0, a), (t1, b) = history[-2], history[-1]
    dt = t1 - t0
    out: list[float | None] = []
    for c in range(ncpus):
        x = a[c].get(path) if c < len(a) else None
        y = b[c].get(path) if c < len(b) else None
        out.append((y - x) / dt if dt > 0 and is_number(x) and is_number(y) else None)
    return out


def num(x: float) -> str:
    """A number as the table shows it: integers without a fraction or exponent."""
    if float(x).is_integer():
        return f"{int(x)}"
    return f"{x:.6g}"


def imbalance(values: list[float]) -> float | None:
    """max / mean over CPUs (1.0 is perfectly even); None when everything is zero."""
    if not values:
        return None
    mean = sum(values) / len(values)
    return max(values) / mean if mean > 0 else None


class CpuRow(Horizontal):
    """One CPU: its value, rate and share."""

    DEFAULT_CSS = """
    CpuRow { height: 1; }
    CpuRow > .cpu-text { width: 39; }
    """

    def __init__(self, cpu: int) -> None:
        super().__init__(id=f"cpu{cpu}")
        self.cpu = cpu

    def compose(self) -> ComposeResult:
        yield Static("", classes="cpu-text")


class DrillDownScreen(OneMapScreen):
    """Per-CPU values of one entry of a per-CPU map, live."""

    help_title = "Per-CPU drill-down"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back"),
        Binding("f", "next_field", "Next field"),
        Binding("c", "toggle_chart", "Chart/heatmap"),
        Binding("p", "toggle_pause", "Pause"),
        Binding("r", "refresh_now", "Refresh", show=False),
        Binding("question_mark", "app.help", "Help"),
    ]

    def __init__(
        self, map_id: int, snapshot: MapSnapshot, row: int, history: list[Sample], paths: tuple[str, ...]
    ) -> None:
        super().__init__(name=f"drill-{map_id}")
        self.map_id = map_id
        self.key_raw = snapshot.key_raw(row)
        self.key_text = cell_text(snapshot.key(row))
        self.facts = snapshot.facts
        self.ncpus = snapshot.facts.ncpus
        self.paths = paths or ("",)
        self.path_index = 0
        self.heatmap = self.ncpus >= HEATMAP_CPUS
        """Show the heatmap (else the chart) next to the table."""
        self.history: list[Sample] = list(history)[-HISTORY:]
        cpus = [dict(flatten(v)) for v in (snapshot.value(row) or [])]
        if not self.history or self.history[-1][0] != snapshot.taken_at:
            self.history.append((snapshot.taken_at, cpus))

    @property
    def path(self) -> str:
        return self.paths[self.path_index]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="dd-title")
        yield Static("", id="dd-summary")
        yield Static(
            Text.assemble(
                ("cpu    ", "bold"),
                (f"{'value':>14}", "bold"),
                (f"{'rate':>11}", "bold"),
                (f"{'share':>7}", "bold"),
            ),
            id="dd-columns",
        )
        with Horizontal(id="dd-main"):
            with VerticalScroll(id="dd-cpus"):
                for c in range(self.ncpus):
                    yield CpuRow(c)
            yield CpuChart(id="dd-chart")
            yield CpuHeatmap(id="dd-heat")
        yield StatusLine("", id="status")
        yield Footer()
        yield TooSmall()

    def on_mount(self) -> None:
        self.sub_title = f"map {self.map_id} · key {self.key_text}"
        self._show_pane()
        self._refresh_view()
        self._schedule()

    def poll(self) -> None:
        if not self._gone and self.on_top:
            self._lookup()

    @work(thread=True, exclusive=True, group="drill", exit_on_error=False)
    def _lookup(self) -> None:
        worker = get_current_worker()
        snap = self.read_map(self.map_id, lambda: self.explorer.source.lookup(self.map_id, self.key_raw))
        if snap is None:
            return
        if not worker.is_cancelled:
            self.post_message(EntryFrame(snap))

    def on_entry_frame(self, message: EntryFrame) -> None:
        message.stop()
        snap = message.snapshot
        if snap.count == 0:
            self.notify(f"key {self.key_text} was deleted from map {self.map_id}", severity="warning")
            self.app.pop_screen()
            return
        cpus = [dict(flatten(v)) for v in (snap.value(0) or [])]
        if not self.history or self.history[-1][0] != snap.taken_at:
            self.history.append((snap.taken_at, cpus))
            self.history = self.history[-HISTORY:]
        self._refresh_view()
        self._schedule()

    # -- rendering -----------------------------------------------------------------------------------

    def _refresh_view(self) -> None:
        path = self.path
        last = self.history[-1][1] if self.history else []
        values = [last[c].get(path) if c < len(last) else None for c in range(self.ncpus)]
        nums = [float(v) for v in values if is_number(v)]
        total = sum(nums)
        rate = rates(self.history, path, self.ncpus)
        total_rate = sum(r for r in rate if r is not None) if any(r is not None for r in rate) else None
        imb = imbalance(nums)
        rate_imb = imbalance([r for r in rate if r is not None])
        r = self.facts.row
        title = Text()
        title.append(f"{r.name} ", "bold")
        title.append(f"(map {r.id}, {r.type_name})  ", "dim")
        title.append("key ", "dim")
        title.append(self.key_text, "bold cyan")
        title.append("  field ", "dim")
        title.append(path or "value", "bold")
        if len(self.paths) > 1:
            title.append(f"  ({self.path_index + 1}/{len(self.paths)}, f: next)", "dim")
        self.query_one("#dd-title", Static).update(title)
        s = Text()
        s.append("sum ", "dim")
        s.append(num(total), "bold")
        if nums:
            s.append("  mean ", "dim")
            s.append(f"{total / len(nums):,.1f}")
            s.append("  min ", "dim")
            s.append(num(min(nums)))
            s.append("  max ", "dim")
            s.append(num(max(nums)))
        s.append("  imbalance max/mean ", "dim")
        s.append(DASH if imb is None else f"{imb:.2f}", "bold yellow" if imb and imb > 1.5 else "bold")
        s.append("  rate ", "dim")
        s.append(DASH if total_rate is None else fmt_rate(total_rate), "bold")
        if rate_imb is not None:
            s.append("  rate imbalance ", "dim")
            s.append(f"{rate_imb:.2f}", "bold yellow" if rate_imb > 1.5 else "bold")
        s.append(
            f"\n{self.ncpus} possible CPUs · {len(self.history)} samples",
            "dim",
        )
        self.query_one("#dd-summary", Static).update(s)
        for c in range(self.ncpus):
            row = self.query_one(f"#cpu{c}", CpuRow)
            v = values[c]
            share = (float(v) / total * 100) if total and is_number(v) else None
            t = Text()
            t.append(f"cpu{c:<4}", "bold magenta")
            t.append(f"{cell_text(v):>14}")
            rc = rate[c]
            t.append(f"{'' if rc is None else fmt_rate(rc):>11}", "cyan")
            t.append(f"{'' if share is None else f'{share:5.1f}%':>7}", "dim")
            row.query_one(".cpu-text", Static).update(t)
        self._draw_history(path, rate)
        interval = self.explorer.refresh_interval
        paused = (
            "⏸ paused (p)" if self.paused else f"⟳ {interval:g}s" if interval > 0 else "manual refresh (r)"
        )
        self.query_one("#status", StatusLine).update(
            f"{paused}  ·  f: next field  ·  c: {'chart' if self.heatmap else 'heatmap'}"
            "  ·  Escape: back to the entries"
        )

    def _draw_history(self, path: str, rate: list[float | None]) -> None:
        per_cpu = [rate_series(self.history, path, c) for c in range(self.ncpus)]
        times = [t for t, _ in self.history[1:]]
        xs = [t - times[-1] for t in times] if times else []
        span = -xs[0] if xs else None
        if self.heatmap:
            self.query_one("#dd-heat", CpuHeatmap).show(per_cpu, span, fmt=fmt_rate)
            return
        lines: list[tuple[str, list[float | None]]]
        if self.ncpus < HEATMAP_CPUS:
            lines = [(f"cpu{c}", per_cpu[c]) for c in range(self.ncpus)]
        else:
            total: list[float | None] = []
            for col in zip(*per_cpu, strict=True):
                present = [x for x in col if x is not None]
                total.append(float(sum(present)) if present else None)
            hottest = sorted(range(self.ncpus), key=lambda c: -(rate[c] or 0.0))[:CHART_TOP]
            lines = [("all CPUs", total)] + [(f"cpu{c}", per_cpu[c]) for c in sorted(hottest)]
        what = path or "value"
        self.query_one("#dd-chart", CpuChart).show(xs, lines, title=f"{what}: rate per second",
                                                   xlabel="seconds ago")

    def _show_pane(self) -> None:
        self.query_one("#dd-chart").display = not self.heatmap
        self.query_one("#dd-heat").display = self.heatmap

    # -- actions -------------------------------------------------------------------------------------

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_toggle_chart(self) -> None:
        self.heatmap = not self.heatmap
        self._show_pane()
        self._refresh_view()

    def action_next_field(self) -> None:
        self.path_index = (self.path_index + 1) % len(self.paths)
        self._refresh_view()

    def show_refresh_state(self) -> None:
        self._refresh_view()

    def palette_commands(self) -> list[tuple[str, str, str]]:
        return [
            ("Back to the entries", "Close the drill-down (Escape)", "back"),
            ("Next numeric field", "Show another field of the value (f)", "next_field"),
            ("Chart / heatmap", "History as a chart per CPU or a CPU x time heatmap (c)", "toggle_chart"),
            ("Pause / resume refresh", "Stop or restart live refresh (p)", "toggle_pause"),
            ("Refresh now", "Read the entry again (r)", "refresh_now"),
        ]
