"""A virtual table of map entries: a ScrollView using the Line API that decodes only the rows on screen.

A DataTable holding 100,000 rows takes 6 s to build (KERNEL-NOTES); this widget keeps the snapshot's raw
buffers and renders a row only when it becomes visible, so a 1,000,000-entry map opens as fast as the kernel
reads it. Key columns stay pinned on the left while the value columns scroll horizontally (64 CPUs of
per-CPU columns), cells that changed since the previous refresh are highlighted, and delta/rate columns
compare with the previous snapshot.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from mapexplorer.model import MapSnapshot
from mapexplorer.semantics import CounterTracker
from mapexplorer.widgets.columns import Plan, RowValues, make_plan, moving_paths, row_cells, row_values

MAX_CELL = 48
"""Widest a column gets; longer cells are cut with an ellipsis (Enter shows the whole entry)."""
CACHE_ROWS = 512
SEP = 2

RowOrder = Sequence[int] | np.ndarray
"""Snapshot indexes in view order: a list, or a numpy array for a big map (4 bytes a row)."""


def same_order(a: RowOrder | None, b: RowOrder | None) -> bool:
    """Two row orders hold the same rows in the same order."""
    if a is b:
        return True
    if a is None or b is None or len(a) != len(b):
        return False
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    return list(a) == list(b)


@dataclass(frozen=True, slots=True)
class _Row:
    cells: list[str]
    changed: list[bool]
    values: RowValues | None


class EntryTable(ScrollView, can_focus=True):
    """Entries of one map snapshot, rendered line by line."""

    DEFAULT_CSS = """
    EntryTable {
        height: 1fr;
        background: $surface;
    }
    EntryTable > .entry-table--header { text-style: bold; color: $text-accent; background: $panel; }
    EntryTable > .entry-table--header-cursor {
        text-style: bold reverse; color: $text-accent; background: $panel;
    }
    EntryTable > .entry-table--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground;
    }
    EntryTable > .entry-table--cursor-blurred { background: $block-cursor-blurred-background; }
    EntryTable > .entry-table--key { color: $text-primary; }
    EntryTable > .entry-table--changed { color: $text-warning; text-style: bold; }
    EntryTable > .entry-table--sep { color: $foreground-darken-3; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "entry-table--header",
        "entry-table--header-cursor",
        "entry-table--cursor",
        "entry-table--cursor-blurred",
        "entry-table--key",
        "entry-table--changed",
        "entry-table--sep",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown,space", "page_down", "Page down", show=False),
        Binding("home,g", "first", "First", show=False),
        Binding("end,G", "last", "Last", show=False),
        Binding("left,h", "column_left", "Column left", show=False),
        Binding("right,l", "column_right", "Column right", show=False),
        Binding("enter", "select", "Open entry", show=False),
    ]

    cursor_row: reactive[int] = reactive(0, always_update=False, repaint=False)
    """Index of the highlighted row in view order."""
    cursor_col: reactive[int] = reactive(0, repaint=False)
    """Index of the highlighted column (the one `s` sorts by)."""

    class Selected(Message):
        """Enter (or a double click) on a row."""

        def __init__(self, table: EntryTable, row: int) -> None:
            super().__init__()
            self.table = table
            self.row = row
            """Row index in the snapshot."""

        @property
        def control(self) -> EntryTable:
            return self.table

    class Highlighted(Message):
        """The cursor moved to another row."""

        def __init__(self, table: EntryTable, view_row: int) -> None:
            super().__init__()
            self.table = table
            self.view_row = view_row

        @property
        def control(self) -> EntryTable:
            return self.table

    class HeaderClicked(Message):
        """A click on a column header (sorts by it)."""

        def __init__(self, table: EntryTable, column: int) -> None:
            super().__init__()
            self.table = table
            self.column = column

        @property
        def control(self) -> EntryTable:
            return self.table

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.snapshot: MapSnapshot | None = None
        self.previous: MapSnapshot | None = None
        self.prev_index: dict[bytes, int] | None = None
        self.order: RowOrder | None = None
        self.plan: Plan | None = None
        self.hex_mode = False
        self.deltas = True
        self.moving: set[str] = set()
        self.counters = CounterTracker()
        """Which numeric fields only grew over the refreshes: only those get Δ and rate columns."""
        """Numeric fields seen changing since the map was opened (they get Δ and rate columns)."""
        self.sort_col: int | None = None
        self.sort_reverse = False
        self.widths: list[int] = []
        self._offsets: list[int] = []
        self._pinned = 0
        self._pinned_width = 0
        self._cache: OrderedDict[int, _Row] = OrderedDict()
        self._line_cache: dict[tuple[object, ...], Strip] = {}
        """Rendered lines by (row, cursor?, focus, scroll x, width); cleared by a new frame or layout."""
        self._style_cache: dict[bool, dict[str, Style]] = {}
        self._highlighted = False
        """Some rendered cell shows a change: the next frame must repaint even when nothing moved."""
        self._sig: tuple[str, ...] = ()

    # -- data ----------------------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        if self.snapshot is None:
            return 0
        return len(self.order) if self.order is not None else self.snapshot.count

    def snapshot_row(self, view_row: int) -> int:
        """The snapshot index of a row in view order."""
        return int(self.order[view_row]) if self.order is not None else view_row

    def set_frame(
        self,
        snapshot: MapSnapshot,
        previous: MapSnapshot | None,
        prev_index: dict[bytes, int] | None,
        order: RowOrder | None,
        *,
        force: bool = False,
    ) -> None:
        """Show a new snapshot, keeping the cursor on the same key when it still exists.

        Without ``force``, a snapshot equal to the shown one (same keys, values and order, nothing
        highlighted) only replaces the references: no decoding, no repaint.
        """
        cur = self.snapshot
        if (
            not force
            and cur is not None
            and self.plan is not None
            and not self._highlighted
            and previous is not None
            and same_order(order, self.order)
            and snapshot.same_entries(cur)
        ):
            # nothing moved and nothing is highlighted: the rendered rows are still right, skip the repaint
            self.snapshot, self.previous, self.prev_index = snapshot, previous, prev_index
            return
        self._highlighted = False
        old_key = None
        if self.snapshot is not None and self.row_count:
            old_key = self.snapshot.key_raw(self.snapshot_row(min(self.cursor_row, self.row_count - 1)))
        self.snapshot, self.previous, self.prev_index, self.order = snapshot, previous, prev_index, order
        self._cache.clear()
        self._line_cache.clear()
        plan = make_plan(snapshot, hex_mode=self.hex_mode, moving=self.plan_moving())
        if previous is not None and self.deltas and not self.hex_mode:
            first = int(self.scroll_offset.y)
            n = self.row_count
            sample = sorted({*range(min(n, 64)), *range(first, min(n, first + max(self.size.height, 24)))})
            moving_paths(snapshot, previous, plan, [self.snapshot_row(v) for v in sample], prev_index,
                         self.counters)
            counters = set(self.counters.counters)
            if counters != self.moving:  # a counter started moving, or a field went down: a gauge
                self.moving = counters
                plan = make_plan(snapshot, hex_mode=self.hex_mode, moving=self.plan_moving())
        sig = tuple(c.label for c in plan.columns)
        if self.plan is None or sig != self._sig:
            self.widths = []
            self.sort_col = self._remap(self.sort_col, sig)
            self.cursor_col = self._remap(self.cursor_col, sig) or 0
        self.plan, self._sig = plan, sig
        self._measure()
        n = self.row_count
        if old_key is not None and n:
            cur = self.snapshot_row(min(self.cursor_row, n - 1))
            if snapshot.key_raw(cur) != old_key:
                found = self._find_key(old_key)
                if found is not None:
                    self.cursor_row = found
        if n and self.cursor_row >= n:
            self.cursor_row = n - 1
        self.virtual_size = Size(
            self._pinned_width + sum(self.widths[self._pinned :]) + SEP * len(self.widths), n + 1
        )
        self.refresh()

    def _remap(self, col: int | None, sig: tuple[str, ...]) -> int | None:
        """The index in a new column layout of the column ``col`` of the old one (by label)."""
        if col is None or col >= len(self._sig):
            return None
        label = self._sig[col]
        return sig.index(label) if label in sig else None

    def _find_key(self, key: bytes) -> int | None:
        snap = self.snapshot
        if snap is None:
            return None
        lo = max(0, self.cursor_row - 256)
        hi = min(self.row_count, self.cursor_row + 256)
        for v in range(lo, hi):
            if snap.key_raw(self.snapshot_row(v)) == key:
                return v
        return None

    def plan_moving(self) -> frozenset[str] | None:
        """The ``moving`` argument of make_plan for the current modes."""
        return frozenset(self.moving) if self.deltas else None

    def set_modes(self, *, hex_mode: bool | None = None, deltas: bool | None = None) -> None:
        if hex_mode is not None:
            self.hex_mode = hex_mode
        if deltas is not None:
            self.deltas = deltas
        if self.snapshot is not None:
            self.widths = []
            self.cursor_col = 0
            self.scroll_to(x=0, animate=False)
            self.set_frame(self.snapshot, self.previous, self.prev_index, self.order, force=True)

    def _measure(self) -> None:
        plan = self.plan
        if plan is None:
            return
        widths = [len(c.label) for c in plan.columns]
        first = int(self.scroll_offset.y)
        rows = list(range(min(self.row_count, 64)))
        rows += list(range(first, min(self.row_count, first + max(self.size.height, 24))))
        longest = list(widths)
        for v in rows:
            r = self._row(self.snapshot_row(v))
            for j, text in enumerate(r.cells):
                longest[j] = max(longest[j], len(text))
                widths[j] = max(widths[j], min(len(text), MAX_CELL))
        # the last column (a queue head, stack frames, a blob) may use whatever width is left on screen
        spare = self.size.width - sum(widths) - SEP * len(widths) - 1
        if widths and spare > 0 and longest[-1] > widths[-1]:
            widths[-1] = min(longest[-1], widths[-1] + spare)
        if len(self.widths) == len(widths):
            widths = [max(a, b) for a, b in zip(self.widths, widths, strict=True)]
        self.widths = widths
        self._line_cache.clear()
        self._pinned = sum(
            1 for c in plan.columns if c.kind == "key" or (c.kind == "hex" and c.path == "key")
        )
        if self._pinned == len(widths):
            self._pinned = 0
        self._pinned_width = sum(w + SEP for w in widths[: self._pinned])
        offsets, x = [], 0
        for w in widths[self._pinned :]:
            offsets.append(x)
            x += w + SEP
        self._offsets = offsets

    def _prev_values(self, i: int) -> RowValues | None:
        prev, snap, plan = self.previous, self.snapshot, self.plan
        if prev is None or snap is None or plan is None or plan.hex_mode:
            return None
        if self.prev_index is None:
            j = i if i < prev.count else None
        else:
            j = self.prev_index.get(snap.key_raw(i))
        if j is None:
            return None
        return row_values(prev, j, plan)

    def _row(self, i: int) -> _Row:
        hit = self._cache.get(i)
        if hit is not None:
            return hit
        snap, plan = self.snapshot, self.plan
        assert snap is not None and plan is not None
        prev_rv = self._prev_values(i)
        dt = snap.taken_at - self.previous.taken_at if self.previous is not None else 0.0
        cells, rv = row_cells(snap, i, plan, prev_rv, dt)
        changed = [False] * len(cells)
        if self.previous is not None:
            if plan.hex_mode:
                j = i if self.prev_index is None else self.prev_index.get(snap.key_raw(i))
                if j is not None and j < self.previous.count:
                    pcells, _ = row_cells(self.previous, j, plan)
                    changed = [a != b for a, b in zip(cells, pcells, strict=True)]
            elif prev_rv is not None and rv is not None:
                changed = [self._cell_changed(c, rv, prev_rv) for c in plan.columns]
        row = _Row(cells, changed, rv)
        if any(changed):
            self._highlighted = True
        self._cache[i] = row
        if len(self._cache) > CACHE_ROWS:
            self._cache.popitem(last=False)
        return row

    @staticmethod
    def _cell_changed(col: object, now: RowValues, before: RowValues) -> bool:
        kind, path, cpu = col.kind, col.path, col.cpu  # type: ignore[attr-defined]
        if kind == "value":
            return now.value.get(path) != before.value.get(path)
        if kind in ("sum",):
            return now.value.get(path) != before.value.get(path)
        if kind == "cpu":
            a = now.cpus[cpu].get(path) if cpu < len(now.cpus) else None
            b = before.cpus[cpu].get(path) if cpu < len(before.cpus) else None
            return a != b
        return False

    def visible_rows(self) -> list[int]:
        """Snapshot indexes of the rows on screen."""
        first = int(self.scroll_offset.y)
        last = min(self.row_count, first + max(self.size.height - 1, 0))
        return [self.snapshot_row(v) for v in range(first, last)]

    def current_row(self) -> int | None:
        """The snapshot index under the cursor."""
        if not self.row_count:
            return None
        return self.snapshot_row(min(self.cursor_row, self.row_count - 1))

    # -- rendering ----------------------------------------------------------------------------------

    def _cell(self, text: str, width: int, numeric: bool, style: Style) -> Segment:
        if len(text) > width:
            text = text[: width - 1] + "…"
        return Segment((text.rjust(width) if numeric else text.ljust(width)) + " " * SEP, style)

    def _fg(self, component: str) -> Style:
        """The colour and weight of a component class, not its background (so the cursor shows through)."""
        style = self.get_component_rich_style(component)
        return Style(color=style.color, bold=style.bold, italic=style.italic)

    def _styles(self) -> dict[str, Style]:
        """Line styles, computed once per focus state (DOM style lookups are too slow to do per line)."""
        focus = self.has_focus
        cached = self._style_cache.get(focus)
        if cached is None:
            base = self.rich_style
            cur = base + self.get_component_rich_style(
                "entry-table--cursor" if focus else "entry-table--cursor-blurred"
            )
            changed = self._fg("entry-table--changed")
            cached = {
                "base": base,
                "cursor": cur,
                "key": base + self._fg("entry-table--key"),
                "changed": base + changed,
                "cursor_changed": cur + changed,
                "header": base + self.get_component_rich_style("entry-table--header"),
                "header_cursor": base + self.get_component_rich_style("entry-table--header-cursor"),
            }
            self._style_cache[focus] = cached
        return cached

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_cache.clear()
        self._line_cache.clear()

    def render_line(self, y: int) -> Strip:
        plan = self.plan
        width = self.size.width
        styles = self._styles()
        if plan is None or self.snapshot is None:
            return Strip.blank(width, styles["base"])
        scroll_x, scroll_y = self.scroll_offset
        if y == 0:
            return self._render_header(width, scroll_x)
        v = scroll_y + y - 1
        if v >= self.row_count:
            return Strip.blank(width, styles["base"])
        i = self.snapshot_row(v)
        is_cursor = v == self.cursor_row
        cache_key = (i, is_cursor, self.has_focus, scroll_x, width)
        hit = self._line_cache.get(cache_key)
        if hit is not None:
            return hit
        row = self._row(i)
        line_style = styles["cursor"] if is_cursor else styles["base"]
        key_style = line_style if is_cursor else styles["key"]
        changed_style = styles["cursor_changed"] if is_cursor else styles["changed"]
        cols = plan.columns
        segs: list[Segment] = []
        for j in range(self._pinned):
            segs.append(self._cell(row.cells[j], self.widths[j], cols[j].numeric, key_style))
        pinned = Strip(segs, self._pinned_width)
        avail = max(width - self._pinned_width, 0)
        segs = []
        start_x = scroll_x
        first_x = None
        for k, off in enumerate(self._offsets):
            j = k + self._pinned
            w = self.widths[j]
            if off + w + SEP <= start_x:
                continue
            if off >= start_x + avail:
                break
            if first_x is None:
                first_x = off
            style = changed_style if row.changed[j] else line_style
            segs.append(self._cell(row.cells[j], w, cols[j].numeric, style))
        if first_x is None:
            body = Strip.blank(avail, line_style)
        else:
            body = Strip(segs).crop(start_x - first_x, start_x - first_x + avail)
        strip = Strip.join([pinned, body]).extend_cell_length(width, line_style).crop(0, width).simplify()
        if len(self._line_cache) > 256:
            self._line_cache.clear()
        self._line_cache[cache_key] = strip
        return strip

    def _render_header(self, width: int, scroll_x: int) -> Strip:
        plan = self.plan
        assert plan is not None
        styles = self._styles()
        hstyle = styles["header"]
        cstyle = styles["header_cursor"]

        def label(j: int) -> str:
            text = plan.columns[j].label
            if self.sort_col == j:
                text += " ▼" if self.sort_reverse else " ▲"
            return text

        segs = [
            self._cell(
                label(j), self.widths[j], plan.columns[j].numeric, cstyle if j == self.cursor_col else hstyle
            )
            for j in range(self._pinned)
        ]
        pinned = Strip(segs, self._pinned_width)
        avail = max(width - self._pinned_width, 0)
        segs = []
        first_x = None
        for k, off in enumerate(self._offsets):
            j = k + self._pinned
            w = self.widths[j]
            if off + w + SEP <= scroll_x:
                continue
            if off >= scroll_x + avail:
                break
            if first_x is None:
                first_x = off
            style = cstyle if j == self.cursor_col else hstyle
            segs.append(self._cell(label(j), w, plan.columns[j].numeric, style))
        body = (
            Strip.blank(avail, hstyle)
            if first_x is None
            else Strip(segs).crop(scroll_x - first_x, scroll_x - first_x + avail)
        )
        return Strip.join([pinned, body]).extend_cell_length(width, hstyle).crop(0, width)

    # -- cursor and scrolling -----------------------------------------------------------------------

    def watch_cursor_row(self, old: int, new: int) -> None:
        self.post_message(self.Highlighted(self, new))
        scroll_y = int(self.scroll_offset.y)
        page = max(self.size.height - 1, 1)
        if new < scroll_y:
            self.scroll_to(y=new, animate=False, immediate=True)
        elif new >= scroll_y + page:
            self.scroll_to(y=new - page + 1, animate=False, immediate=True)
        else:
            self.refresh(Region(0, old - scroll_y + 1, self.size.width, 1))
            self.refresh(Region(0, new - scroll_y + 1, self.size.width, 1))

    def watch_cursor_col(self, old: int, new: int) -> None:
        self.refresh(Region(0, 0, self.size.width, 1))
        if new < self._pinned or not self._offsets:
            return
        k = new - self._pinned
        if new >= len(self.widths) or k >= len(self._offsets):
            return  # set_frame is switching to a new column layout whose widths are not measured yet
        off = self._offsets[k]
        w = self.widths[new]
        avail = max(self.size.width - self._pinned_width, 1)
        x = int(self.scroll_offset.x)
        if off < x:
            self.scroll_to(x=off, animate=False, immediate=True)
        elif off + w > x + avail:
            # scroll to a column boundary: the first column from which the cursor's column fits on screen
            first = k
            while first > 0 and off + w - self._offsets[first - 1] <= avail:
                first -= 1
            self.scroll_to(x=self._offsets[first], animate=False, immediate=True)

    def _move(self, delta: int) -> None:
        n = self.row_count
        if n:
            self.cursor_row = max(0, min(n - 1, self.cursor_row + delta))

    def action_cursor_up(self) -> None:
        self._move(-1)

    def action_cursor_down(self) -> None:
        self._move(1)

    def action_page_up(self) -> None:
        self._move(-max(self.size.height - 2, 1))

    def action_page_down(self) -> None:
        self._move(max(self.size.height - 2, 1))

    def action_first(self) -> None:
        self._move(-self.row_count)

    def action_last(self) -> None:
        self._move(self.row_count)

    def action_column_left(self) -> None:
        if self.cursor_col > 0:
            self.cursor_col -= 1

    def action_column_right(self) -> None:
        if self.plan is not None and self.cursor_col < len(self.plan.columns) - 1:
            self.cursor_col += 1

    def action_select(self) -> None:
        row = self.current_row()
        if row is not None:
            self.post_message(self.Selected(self, row))

    def _column_at(self, x: int) -> int | None:
        if x < self._pinned_width:
            acc = 0
            for j in range(self._pinned):
                acc += self.widths[j] + SEP
                if x < acc:
                    return j
            return None
        vx = x - self._pinned_width + int(self.scroll_offset.x)
        for k, off in enumerate(self._offsets):
            if off <= vx < off + self.widths[k + self._pinned] + SEP:
                return k + self._pinned
        return None

    def on_click(self, event: events.Click) -> None:
        if self.plan is None:
            return
        col = self._column_at(event.x)
        if event.y == 0:
            if col is not None:
                self.cursor_col = col
                self.post_message(self.HeaderClicked(self, col))
            return
        v = int(self.scroll_offset.y) + event.y - 1
        if 0 <= v < self.row_count:
            if col is not None:
                self.cursor_col = col
            if v == self.cursor_row and event.chain >= 2:
                self.action_select()
            self.cursor_row = v

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def on_resize(self) -> None:
        self._measure()
