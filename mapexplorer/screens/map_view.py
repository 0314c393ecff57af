"""One map: its facts, and its entries in a virtual table that refreshes live.

Type-aware: per-CPU maps get cpu0..cpuN columns and a drill-down, maps of maps open their inner map, queues
and stacks show their head by peek, stream and storage maps explain what can be seen instead of showing an
empty table.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Header, Input, Static
from textual.worker import get_current_worker

from mapexplorer.maptypes import MAP_OF_MAPS_TYPES, STREAM_TYPES
from mapexplorer.marks import comparable, since_mark
from mapexplorer.messages import MapFrame, MapVanished, OpenMap, OrderProgress, SourceFailed
from mapexplorer.model import MapSnapshot
from mapexplorer.pacing import Pacer
from mapexplorer.reread import Reread
from mapexplorer.screens.polling import PollingScreen
from mapexplorer.screens.write_flow import WriteFlow
from mapexplorer.widgets.columns import make_plan
from mapexplorer.widgets.common import FilterBar, MapHeader, StatusLine, TooSmall
from mapexplorer.widgets.compact import OrderCancelled, order_rows
from mapexplorer.widgets.entry_table import EntryTable

if TYPE_CHECKING:
    pass

PARTIAL_LIMIT = 100_000
"""Above this many entries a refresh looks up only the rows on screen; the whole map is read again, a slice
per refresh within the CPU budget (:mod:`mapexplorer.reread`), only while a value sort or a filter needs it
(or ``r`` asks)."""
FIRST_ROWS = 65536
"""Entries read before the first rows of a map are shown (the rest of the first read follows)."""
COUNT_EVERY = 5.0
"""Seconds between two looks at the kernel's count of a big map's entries (a change starts a full re-read;
one look reads every map's count with a BPF iterator: ~10 ms with 20,000 maps on the box)."""
LIVE_ORDER_LIMIT = 100_000
"""Above this many entries a sort/filter is computed when set (s, /), not again at every refresh."""
INDEX_LIMIT = 250_000
"""Above this many entries, deltas are only computed when the key order did not change between refreshes."""
HISTORY = 60
"""Refreshes of per-CPU history kept per key for the drill-down sparklines."""
HISTORY_KEYS = 512
PROGRESS_EVERY = 0.1
"""Seconds between two progress reports of a sort/filter worker."""

History = deque[tuple[float, list[dict[str, Any]]]]


WRITE_ACTIONS = frozenset({"edit_entry", "add_entry", "delete_entry"})


class MapViewScreen(PollingScreen):
    """The entries of one map, live."""

    help_title = "Map view"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "escape", "Clear filter, else back", show=False),
        Binding("q", "back", "Back"),
        # priority: handled as the key arrives, so the keys typed right after it land in the filter
        Binding("slash", "focus_filter", "Filter", priority=True),
        Binding("x", "toggle_hex", "Hex"),
        Binding("s", "sort", "Sort"),
        Binding("S", "reverse_sort", "Reverse", show=False),
        Binding("D", "toggle_deltas", "Δ/rate", show=False),
        Binding("e", "edit_entry", "Edit", show=False),
        Binding("a", "add_entry", "Add", show=False),
        Binding("d", "delete_entry", "Delete", show=False),
        Binding("p", "toggle_pause", "Pause"),
        Binding("r", "refresh_now", "Refresh", show=False),
        Binding("plus,equals_sign", "faster", "Faster", show=False),
        Binding("minus", "slower", "Slower", show=False),
        Binding("w", "watch", "Watch", show=False),
        Binding("m", "mark", "Mark", show=False),
        Binding("c", "toggle_changes", "Changes", show=False),
        Binding("H", "histogram", "Histogram", show=False),
        Binding("question_mark", "app.help", "Help"),
    ]

    def __init__(self, map_id: int) -> None:
        super().__init__(name=f"map-{map_id}")
        self.map_id = map_id
        self.snapshot: MapSnapshot | None = None
        """What the table shows (only the changes since the mark when ``changes_only``)."""
        self.read_snapshot: MapSnapshot | None = None
        """The last snapshot read from the source (the next read's previous; what ``m`` marks)."""
        self.mark: MapSnapshot | None = None
        """The snapshot marked with ``m``."""
        self.changes_only = False
        """Show only the keys added, removed or changed since the mark (``c``)."""
        self.since: tuple[int, int, int] | None = None
        """(added, removed, changed) since the mark, while the table shows only those."""
        self.history: OrderedDict[bytes, History] = OrderedDict()
        self._stale = False
        self._frames = 0
        self._requested_settings: tuple[object, ...] = ()
        self.pacer = Pacer()
        """Each refresh's CPU cost (reading, ordering, drawing) against the budget (``--budget``)."""
        self.reread = Reread()
        """The sliced full re-reads of a big map."""
        self._full_requested = False
        """``r``: read every entry again even if nothing on screen needs it."""
        self._counted_at = float("-inf")
        """When the kernel's count of entries was last compared with the snapshot's (app clock)."""
        self._opening = True
        """The first read runs (its first rows may already show): no other read starts."""
        self._pending: MapSnapshot | None = None
        """A new full read that arrived while a newer sort/filter was requested: ordered before it shows."""
        self._order_settings: tuple[object, ...] = ()
        self.writes = WriteFlow(self)
        """e / a / d: edits through the source (only with --write; otherwise a hint)."""
        self._hist_opened = False
        """The histogram view was opened once (by the guess or H): the guess does not open it again."""
        self._order_seq = 0
        """Sort/filter requests so far (s, S, a filter keystroke): frames say which one their order is for."""
        self._ordering = False
        """A sort/filter worker is running (reads wait for it; Escape cancels it)."""
        self._order_progress: float | None = None
        self._shown_sort: tuple[int | None, bool] = (None, False)
        """The sort (column, reverse) of the order on screen: what Escape goes back to."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield MapHeader(f"map {self.map_id}: reading…", id="facts")
        yield FilterBar(
            placeholder="/ filter entries (text, or column:text)", next_focus="#entries", id="entry-filter"
        )
        yield EntryTable(id="entries")
        yield Static("", id="explain")
        yield StatusLine("reading entries…", id="status")
        yield Footer()
        yield TooSmall()

    def on_mount(self) -> None:
        self.query_one("#explain").display = False
        # a watcher runs in the same tick as the cursor move, so the status line and the table repaint in one
        # frame (a Highlighted message would land a frame later: +16 ms per key)
        self.watch(self.query_one("#entries", EntryTable), "cursor_row", self._cursor_moved, init=False)
        self.set_focus(self.query_one("#entries", EntryTable))
        self.pacer.budget = self.reread.budget = self.explorer.budget
        self._open_read(self._order_seq)

    def on_unmount(self) -> None:
        self.reread.abandon()

    # -- polling -------------------------------------------------------------------------------------

    def poll(self) -> None:
        if self._gone:
            return
        if not self.on_top:
            self._stale = True
            return
        if self._ordering or self._opening:
            return  # the sort/filter's (the first read's) frame schedules the next poll
        table = self.query_one("#entries", EntryTable)
        settings = self._order_request(table)
        snap = self.snapshot
        if snap is None:
            self._opening = True
            self._open_read(self._order_seq)
            return
        if self.is_big(snap):
            rows = table.visible_rows()
            cur = table.current_row()
            if cur is not None and cur not in rows:
                rows.append(cur)
            # a pass once started is read to its end (within the budget), whatever started it
            wanted = self.full_wanted() or self.reread.current is not None
            slice_n = self.reread.slice_entries(self.explorer.refresh_interval)
            now = self.explorer.clock()
            count = not wanted and now - self._counted_at >= COUNT_EVERY
            if count:
                self._counted_at = now
            self._refresh_big(snap, rows, table.order, self._order_seq, slice_n, wanted, count,
                              table.sort_col, table.sort_reverse,
                              self.query_one("#entry-filter", Input).value.strip(), table.hex_mode,
                              table.plan_moving())
            return
        kept = table.order if table.order is not None and self._order_settings == settings else None
        self._read(
            self.read_snapshot,
            table.sort_col,
            table.sort_reverse,
            self.query_one("#entry-filter", Input).value.strip(),
            table.hex_mode,
            table.plan_moving(),
            kept,
            self.mark if self.changes_only else None,
            self._order_seq,
        )

    def is_big(self, snap: MapSnapshot) -> bool:
        """Refreshed by looking up the rows on screen, re-read whole only when needed."""
        return (not self.changes_only and snap.kind == "entries" and snap.count > PARTIAL_LIMIT
                and bool(snap.stride))

    def full_wanted(self) -> bool:
        """Something on screen needs every entry read again: a sort by a value (not a key) column, a filter
        (which rows match changes with the values), or ``r``. (A change in the kernel's count of entries
        starts one too: the refresh worker asks.)"""
        if self._full_requested or self.query_one("#entry-filter", Input).value.strip():
            return True
        table = self.query_one("#entries", EntryTable)
        plan, col = table.plan, table.sort_col
        return plan is not None and col is not None and col < len(plan.columns) and \
            plan.columns[col].kind != "key"

    def _order_request(self, table: EntryTable) -> tuple[object, ...]:
        """The sort/filter settings of the next frame (remembered, to know what its order was made for)."""
        settings = (
            table.sort_col,
            table.sort_reverse,
            self.query_one("#entry-filter", Input).value.strip(),
            table.hex_mode,
        )
        self._requested_settings = settings
        return settings

    def on_screen_resume(self) -> None:
        if self._stale:
            self._stale = False
            self.poll()

    # description: Textual would otherwise build one from repr() of the arguments (a 12 MB snapshot, a
    # million-row order): 170 ms of the UI thread per poll.
    @work(thread=True, exclusive=True, group="map", exit_on_error=False, description="read map")
    def _read(
        self,
        previous: MapSnapshot | None,
        sort_col: int | None,
        reverse: bool,
        filter_text: str,
        hex_mode: bool,
        deltas: frozenset[str] | None,
        kept_order: Any = None,
        mark: MapSnapshot | None = None,
        ordered: int = 0,
    ) -> None:
        worker = get_current_worker()
        start = self.explorer.cpu_clock()
        snap = self.read_map(self.map_id, lambda: self.explorer.source.read_map(self.map_id))
        if snap is None:
            return
        if worker.is_cancelled:
            return
        if mark is not None and comparable(mark, snap):
            sm = since_mark(mark, snap)
            self._post_frame(sm.view, sm.marked, sort_col, reverse, filter_text, hex_mode, deltas,
                             lambda: worker.is_cancelled, read=snap, since=(sm.added, sm.removed, sm.changed),
                             ordered=ordered)
            return
        if (
            kept_order is not None
            and previous is not None
            and snap.count > LIVE_ORDER_LIMIT
            and previous.keys == snap.keys
        ):
            # a big map whose keys did not move: keep the order computed when the sort/filter was set
            self.post_message(MapFrame(snap, previous, None, kept_order, ordered=ordered, full=True))
            return
        self._post_frame(
            snap, previous, sort_col, reverse, filter_text, hex_mode, deltas, lambda: worker.is_cancelled,
            ordered=ordered, full=True, start=start,
        )

    @work(thread=True, exclusive=True, group="map", exit_on_error=False, description="first read")
    def _open_read(self, ordered: int) -> None:
        """The first read: the first rows as soon as the first batches are in, then the rest of the map."""
        worker = get_current_worker()
        source = self.explorer.source
        opener = getattr(source, "open_pass", None)
        p = self.read_map(self.map_id, lambda: opener(self.map_id)) if opener is not None else None
        if p is None:  # peeked or unlisted, a source without sliced reads, or a failure (already posted)
            snap = self.read_map(self.map_id, lambda: source.read_map(self.map_id))
            if snap is not None and not worker.is_cancelled:
                self._post_frame(snap, None, None, False, "", False, None, lambda: worker.is_cancelled,
                                 ordered=ordered, full=True)
            elif snap is None:
                self.app.call_from_thread(self._open_failed)
            return
        try:
            done = self.read_map(self.map_id, lambda: p.step(FIRST_ROWS))
            if done is None:
                self.app.call_from_thread(self._open_failed)
                return
            if not done and not worker.is_cancelled:
                first = p.snapshot()
                note = f"reading… the first {first.count:,} entries are shown"
                self.post_message(MapFrame(replace(first, note=note), None, None, None, ordered=ordered,
                                           paced=False))
            while not done:
                if worker.is_cancelled:
                    return
                done = self.read_map(self.map_id, lambda: p.step(1 << 20))
                if done is None:
                    self.app.call_from_thread(self._open_failed)
                    return
            self._post_frame(p.snapshot(), None, None, False, "", False, None, lambda: worker.is_cancelled,
                             ordered=ordered, full=True)
        finally:
            p.close()

    def _open_failed(self) -> None:
        self._opening = False
        self._schedule()

    @work(thread=True, exclusive=True, group="map", exit_on_error=False, description="refresh a big map")
    def _refresh_big(
        self,
        snap: MapSnapshot,
        rows: list[int],
        order: Any,
        ordered: int,
        slice_n: int,
        wanted: bool,
        count: bool,
        sort_col: int | None,
        reverse: bool,
        filter_text: str,
        hex_mode: bool,
        deltas: frozenset[str] | None,
    ) -> None:
        """A big map's refresh: the rows on screen looked up again; and when a full re-read is wanted (or
        the kernel's count of entries, looked at when ``count``, moved: keys came or went), its next slice
        of ``slice_n`` entries -- the last one posts the whole new read, ordered."""
        worker = get_current_worker()
        cpu = self.explorer.cpu_clock
        start = cpu()
        source = self.explorer.source
        fresh = self.read_map(self.map_id, lambda: source.refresh_rows(snap, rows))
        if fresh is None or worker.is_cancelled:
            return
        counter = getattr(source, "entry_count", None)
        if count and not wanted and counter is not None:
            wanted = counter(self.map_id, snap.facts.row.type_name) not in (None, snap.count)
        full: MapSnapshot | None = None
        if wanted:
            rr = self.reread
            p = rr.current
            opener = getattr(source, "open_pass", None)
            if p is None and opener is not None:
                p = self.read_map(self.map_id, lambda: opener(self.map_id))
                if p is None:
                    return
                rr.start(p)
            if p is None:  # a source without sliced reads
                full = self.read_map(self.map_id, lambda: source.read_map(self.map_id))
            else:
                before, c0 = p.count, cpu()
                done = self.read_map(self.map_id, lambda: p.step(slice_n))
                rr.record(p.count - before, cpu() - c0)
                if done is None:
                    rr.abandon()
                    return
                if done:
                    full = p.snapshot()
                    rr.finish(p)
        if worker.is_cancelled:
            return
        if full is not None:
            self._post_frame(full, fresh, sort_col, reverse, filter_text, hex_mode, deltas,
                             lambda: worker.is_cancelled, ordered=ordered, full=True, start=start)
            return
        self.post_message(MapFrame(fresh, snap, None, order, ordered=ordered, cost=cpu() - start))

    @work(thread=True, exclusive=True, group="order", exit_on_error=False, description="sort/filter entries")
    def _reorder(
        self,
        snap: MapSnapshot,
        previous: MapSnapshot | None,
        sort_col: int | None,
        reverse: bool,
        filter_text: str,
        hex_mode: bool,
        deltas: frozenset[str] | None,
        read: MapSnapshot | None = None,
        since: tuple[int, int, int] | None = None,
        ordered: int = 0,
    ) -> None:
        worker = get_current_worker()
        self._post_frame(
            snap, previous, sort_col, reverse, filter_text, hex_mode, deltas, lambda: worker.is_cancelled,
            read=read, since=since, ordered=ordered, report=True,
        )

    def _post_frame(
        self,
        snap: MapSnapshot,
        previous: MapSnapshot | None,
        sort_col: int | None,
        reverse: bool,
        filter_text: str,
        hex_mode: bool,
        deltas: frozenset[str] | None,
        is_cancelled: Any,
        *,
        read: MapSnapshot | None = None,
        since: tuple[int, int, int] | None = None,
        ordered: int = 0,
        report: bool = False,
        full: bool = False,
        start: float | None = None,
    ) -> None:
        """Worker side: compare with the previous snapshot and order the rows, then post the frame
        (``report``: post the sort/filter's progress while it runs; ``full``: a new read of every entry;
        ``start``: the worker's CPU clock when it began, for the frame's cost)."""
        cpu = self.explorer.cpu_clock
        if start is None:
            start = cpu()
        prev_index = None
        if previous is not None and (previous.kind != snap.kind or previous.stride != snap.stride):
            previous = None
        if previous is not None and snap.kind == "entries" and previous.keys != snap.keys:
            if previous.count <= INDEX_LIMIT:
                ks = previous.key_size
                keys = previous.keys
                prev_index = {keys[j * ks : (j + 1) * ks]: j for j in range(previous.count)}
            else:
                previous = None
        order = None
        if snap.kind == "entries" and (sort_col is not None or filter_text):
            plan = make_plan(snap, hex_mode=hex_mode, moving=deltas)
            last = [time.monotonic()]

            def progress(fraction: float) -> None:
                now = time.monotonic()
                if report and now - last[0] >= PROGRESS_EVERY:
                    last[0] = now
                    self.post_message(OrderProgress(snap.map_id, ordered, fraction))

            try:
                order = order_rows(snap, plan, sort_col=sort_col, reverse=reverse, filter_text=filter_text,
                                   is_cancelled=is_cancelled, progress=progress)
            except OrderCancelled:
                return
        if is_cancelled():
            return
        self.post_message(MapFrame(snap, previous, prev_index, order, read, since, ordered, cpu() - start,
                                   full, paced=not report))

    # -- frames --------------------------------------------------------------------------------------

    def on_map_frame(self, message: MapFrame) -> None:
        snap = message.snapshot
        if snap.map_id != self.map_id:
            return
        message.stop()
        cpu = self.explorer.cpu_clock
        start = cpu()
        if message.full:
            self._opening = False
            self._full_requested = False
        if message.ordered != self._order_seq:
            # made for an older sort/filter request (a newer one is computed, or was cancelled): stale;
            # a new read of every entry is kept, and ordered for the newer request before it shows
            if message.full:
                self._pending = snap
                self._reorder_now()
            self._schedule()
            return
        if snap is self._pending:
            self._pending = None
        self._ordering = False
        self._order_progress = None
        self.snapshot = snap
        self.read_snapshot = message.read or snap
        self.since = message.since
        self._order_settings = self._requested_settings
        self._frames += 1
        table = self.query_one("#entries", EntryTable)
        if not self._ordering:
            self._shown_sort = (table.sort_col, table.sort_reverse)
        table.set_frame(snap, message.previous, message.prev_index, message.order)
        self.query_one("#facts", MapHeader).show(snap.facts, self.read_snapshot.count, snap.kind)
        self.sub_title = f"map {snap.facts.row.id} · {snap.facts.row.name}"
        self._explain(snap)
        if snap.facts.row.percpu and message.since is None:
            self._record_history(snap, table)
        self._update_status()
        if message.paced:
            self.pacer.record(message.cost + cpu() - start)  # the worker's reading and ordering, this drawing
        self._schedule()
        if (snap.facts.hist is not None and not self._hist_opened and self.explorer.hist_guess
                and snap.kind == "entries" and self.is_current):
            self.action_histogram()

    def _explain(self, snap: MapSnapshot) -> None:
        explain = self.query_one("#explain", Static)
        table = self.query_one("#entries", EntryTable)
        row = snap.facts.row
        text = ""
        if snap.kind == "unlisted":
            text = snap.note or f"{row.type_name} maps cannot be listed."
        elif snap.kind == "peek":
            if snap.count == 0:
                text = (
                    f"This {row.type_name} is empty: nothing to peek at.\n"
                    f"A {row.type_name} cannot be iterated; the explorer shows its "
                    f"{'oldest' if row.type_name == 'queue' else 'newest'} element by peek, "
                    "which never removes it."
                )
        elif snap.count == 0:
            text = (
                f"No entries: this {row.type_name} holds 0 of {row.max_entries:,} entries right now.\n"
                "The view refreshes live: entries appear as the programs using the map add them."
            )
        elif table.row_count == 0:
            text = "No entry matches the filter (Escape clears it)."
        explain.update(text)
        explain.display = bool(text)
        self.query_one("#entry-filter").display = snap.kind == "entries" and snap.count > 0
        table.display = not (
            snap.kind == "unlisted" or (snap.kind == "peek" and snap.count == 0) or snap.count == 0
        )
        if snap.kind == "peek" and snap.count:
            order = "oldest (the next pop)" if row.type_name == "queue" else "newest (the next pop)"
            self.query_one("#status", StatusLine).update(
                f"head of the {row.type_name}: {order}, read by peek"
            )

    def _record_history(self, snap: MapSnapshot, table: EntryTable) -> None:
        plan = table.plan
        if plan is None or plan.hex_mode:
            return
        rows = table.visible_rows()
        cur = table.current_row()
        if cur is not None and cur not in rows:
            rows.append(cur)
        for i in rows:
            key = snap.key_raw(i)
            rv = table._row(i).values
            if rv is None:
                continue
            h = self.history.get(key)
            if h is None:
                h = deque(maxlen=HISTORY)
                self.history[key] = h
            else:
                self.history.move_to_end(key)
            if not h or h[-1][0] != snap.taken_at:
                h.append((snap.taken_at, rv.cpus))
        while len(self.history) > HISTORY_KEYS:
            self.history.popitem(last=False)

    def _cursor_moved(self, row: int) -> None:
        self._update_status()

    def _update_status(self) -> None:
        snap = self.snapshot
        if snap is None or snap.kind == "peek":
            return
        table = self.query_one("#entries", EntryTable)
        interval = self.explorer.refresh_interval
        parts = []
        if self._ordering and self._order_progress is not None:
            verb = "filtering" if self._requested_settings[2:3] != ("",) else "sorting"
            parts.append(f"{verb}… {self._order_progress:.0%} (Escape cancels)")
        if snap.kind == "entries":
            n = table.row_count
            total = self.read_snapshot.count if self.read_snapshot is not None else snap.count
            parts.append(f"{n:,} of {total:,} entries" if n != total else f"{total:,} entries")
            if table.row_count:
                parts.append(f"row {table.cursor_row + 1:,}")
        if self.paused or interval <= 0:
            parts.append("⏸ paused (p)" if self.paused else "manual refresh (r)")
        elif self.is_big(snap):
            every = round(self.next_interval(), 1)
            if self.full_wanted() or self.reread.current is not None:
                passes = math.ceil(snap.count / self.reread.slice_entries(interval))
                text = f"⟳ {every:g}s, full re-read every {passes * every:.0f} s"
                done = self.reread.progress(snap.count)
                parts.append(text + (f" ({done:.0%} read)" if done is not None and passes > 1 else ""))
            else:
                parts.append(f"⟳ {every:g}s rows on screen (all: r)")
        elif self.pacer.stretched(interval):
            parts.append(f"⟳ {self.next_interval():.0f}s (budget {self.pacer.budget * 100:g} %)")
        else:
            parts.append(f"⟳ {interval:g}s")
        if table.sort_col is not None and table.plan is not None:
            label = table.plan.columns[table.sort_col].label
            parts.append(f"sort {label} {'▼' if table.sort_reverse else '▲'}")
        if table.hex_mode:
            parts.append("hex")
        if self.since is not None:
            a, r, c = self.since
            parts.append(f"since the mark: +{a} added, -{r} removed, ~{c} changed (c: all)")
        elif self.mark is not None:
            parts.append("marked (c: changes since)")
        hint = {
            True: "Enter: per-CPU drill-down",
        }.get(snap.facts.row.percpu, "Enter: entry details")
        if snap.facts.row.type_name in MAP_OF_MAPS_TYPES:
            hint = "Enter: open the inner map"
        if snap.kind == "entries":
            parts.append(hint)
        if snap.note:
            parts.append(snap.note)
        self.query_one("#status", StatusLine).update("  ·  ".join(parts))

    def on_map_vanished(self, message: MapVanished) -> None:
        message.stop()
        if message.map_id == self.map_id and not self._gone:
            self._gone = True
            self.explorer.map_vanished(self, message.reason)

    def on_source_failed(self, message: SourceFailed) -> None:
        message.stop()
        self.notify(f"{message.what}: {message.reason}", severity="error", timeout=6)
        if self.snapshot is None:
            # nothing shown yet: say what failed where the entries would be
            explain = self.query_one("#explain", Static)
            explain.update(
                f"Could not read map {self.map_id}: {message.reason}.\n\n"
                "The view tries again at every refresh (r: now). Escape goes back to the map list."
            )
            explain.display = True
            self.query_one("#entries").display = False
            self.query_one("#entry-filter").display = False
            self.query_one("#facts", MapHeader).update(f"map {self.map_id}: read failed")
            self.query_one("#status", StatusLine).update(f"{message.what}: {message.reason}")
        self._schedule()

    # -- actions -------------------------------------------------------------------------------------

    @on(EntryTable.Selected)
    def _entry_selected(self, event: EntryTable.Selected) -> None:
        snap = self.snapshot
        if snap is None:
            return
        row = snap.facts.row
        value = snap.value(event.row)
        if row.type_name in MAP_OF_MAPS_TYPES and isinstance(value, dict) and value.get("inner_map_id"):
            self.post_message(OpenMap(int(value["inner_map_id"])))
            return
        if row.percpu:
            from mapexplorer.screens.drilldown import DrillDownScreen

            key = snap.key_raw(event.row)
            table = self.query_one("#entries", EntryTable)
            paths = table.plan.numeric_paths if table.plan is not None else ()
            history = list(self.history.get(key, ()))
            self.app.push_screen(DrillDownScreen(self.map_id, snap, event.row, history, paths))
            return
        from mapexplorer.screens.detail import EntryDetailScreen

        self.app.push_screen(EntryDetailScreen(snap, event.row))

    @on(EntryTable.HeaderClicked)
    def _header_clicked(self, event: EntryTable.HeaderClicked) -> None:
        self.action_sort()

    @on(Input.Changed, "#entry-filter")
    def _filter_changed(self) -> None:
        self._reorder_now()

    @on(Input.Submitted, "#entry-filter")
    def _filter_submitted(self) -> None:
        self.set_focus(self.query_one("#entries", EntryTable))

    def _reorder_now(self) -> None:
        snap = self._pending or self.snapshot
        if snap is None:
            return
        table = self.query_one("#entries", EntryTable)
        self._order_request(table)
        self._order_seq += 1
        self._ordering = True
        self._order_progress = None
        # a new request cancels the running one (exclusive worker group): each keystroke starts over
        self._reorder(
            snap,
            table.previous,
            table.sort_col,
            table.sort_reverse,
            self.query_one("#entry-filter", Input).value.strip(),
            table.hex_mode,
            table.plan_moving(),
            self.read_snapshot if self.since is not None else None,
            self.since,
            self._order_seq,
        )

    def on_order_progress(self, message: OrderProgress) -> None:
        message.stop()
        if message.map_id == self.map_id and message.ordered == self._order_seq and self._ordering:
            self._order_progress = message.fraction
            self._update_status()

    def cancel_ordering(self) -> bool:
        """Stop a running sort/filter (Escape): the order on screen stays, with its sort. False when none
        runs."""
        if not self._ordering:
            return False
        self.workers.cancel_group(self, "order")
        self._ordering = False
        self._order_progress = None
        self._order_seq += 1  # a frame the cancelled worker still posts is stale
        table = self.query_one("#entries", EntryTable)
        table.sort_col, table.sort_reverse = self._shown_sort
        table.refresh()
        self.notify("sort/filter cancelled", timeout=2)
        self._update_status()
        self._schedule()
        return True

    def action_mark(self) -> None:
        """Remember the current frame: ``c`` then shows only what changed since."""
        snap = self.read_snapshot
        if snap is None or snap.kind != "entries":
            self.notify("only a map with entries can be marked", severity="warning")
            return
        self.mark = snap
        stamp = time.strftime("%H:%M:%S", time.localtime(snap.taken_at))
        self.notify(f"marked the frame of {stamp} ({snap.count:,} entries): c shows only what changed since",
                    timeout=4)
        self._update_status()

    def action_toggle_changes(self) -> None:
        if self.mark is None:
            self.notify("press m first to mark a frame to compare with", severity="warning")
            return
        self.changes_only = not self.changes_only
        if not self.changes_only:
            self.since = None
        self.poll()

    def action_escape(self) -> None:
        """Escape: clear an active filter (or leave the empty filter) first, otherwise back."""
        f = self.query_one("#entry-filter", Input)
        if f.value or f.has_focus:
            f.value = ""
            self.set_focus(None)
            self.restore_focus()
            return
        if self.cancel_ordering():
            return
        self.action_back()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_focus_filter(self) -> None:
        f = self.query_one("#entry-filter", Input)
        if not f.display:
            return
        if f.has_focus:
            f.insert_text_at_cursor("/")  # a "/" typed in the filter itself (pin paths)
        else:
            self.set_focus(f)

    def action_toggle_hex(self) -> None:
        table = self.query_one("#entries", EntryTable)
        table.sort_col = None
        table.set_modes(hex_mode=not table.hex_mode)
        self._explain_refresh()

    def action_toggle_deltas(self) -> None:
        table = self.query_one("#entries", EntryTable)
        table.sort_col = None
        table.set_modes(deltas=not table.deltas)
        self._explain_refresh()

    def _explain_refresh(self) -> None:
        if self.snapshot is not None:
            self._update_status()

    def action_sort(self) -> None:
        table = self.query_one("#entries", EntryTable)
        if table.plan is None or not table.plan.columns:
            return
        col = min(table.cursor_col, len(table.plan.columns) - 1)
        if table.sort_col == col:
            table.sort_reverse = not table.sort_reverse
        else:
            table.sort_col, table.sort_reverse = col, False
        self.notify(f"sorting by {table.plan.columns[col].label}…", timeout=1.5)
        self._reorder_now()

    def action_reverse_sort(self) -> None:
        table = self.query_one("#entries", EntryTable)
        if table.sort_col is None:
            self.action_sort()
            return
        table.sort_reverse = not table.sort_reverse
        self._reorder_now()

    def action_clear_sort(self) -> None:
        table = self.query_one("#entries", EntryTable)
        table.sort_col = None
        self._reorder_now()

    def action_refresh_now(self) -> None:
        self._full_requested = True  # r reads everything, also for a map refreshed row by row
        self.poll()

    def next_interval(self) -> float:
        """The refresh interval, stretched when a refresh costs more CPU than the budget allows."""
        return self.pacer.interval(self.explorer.refresh_interval)

    def show_refresh_state(self) -> None:
        self._update_status()

    def action_watch(self) -> None:
        snap = self.snapshot
        if snap is None or snap.facts.row.type_name not in STREAM_TYPES:
            self.notify("w watches ringbuf and perf_event_array maps only", severity="warning")
            return
        self.explorer.watch_map(self.map_id)

    def action_edit_entry(self) -> None:
        self.writes.edit()

    def action_add_entry(self) -> None:
        self.writes.add()

    def action_delete_entry(self) -> None:
        self.writes.delete()

    def action_histogram(self) -> None:
        """Open the histogram view: the detected shape, else any integer-keyed or integer-array shape."""
        snap = self.snapshot
        if snap is None:
            return
        spec = snap.facts.hist or snap.facts.hist_any
        if spec is None or snap.kind != "entries":
            self.notify("H shows maps with integer keys and integer counts, struct keys ending in 'slot', or "
                        "integer array values as histograms: this map has none of these", severity="warning")
            return
        from mapexplorer.screens.histogram import HistogramScreen

        self._hist_opened = True
        self.app.push_screen(HistogramScreen(self.map_id, snap.facts, spec))

    def palette_commands(self) -> list[tuple[str, str, str]]:
        cmds = [
            ("Back to the map list", "Close this map (Escape)", "back"),
            ("Filter entries", "Filter on any column (/)", "focus_filter"),
            ("Toggle hex view", "Raw key and value bytes (x)", "toggle_hex"),
            ("Sort by the current column", "Sort, again to reverse (s)", "sort"),
            ("Clear sort", "Back to map order", "clear_sort"),
            ("Toggle delta and rate columns", "Δ and /s columns (D)", "toggle_deltas"),
            ("Edit entry", "Edit the selected entry's value (e, needs --write)", "edit_entry"),
            ("Add entry", "Add an entry, or push onto a queue/stack (a, needs --write)", "add_entry"),
            ("Delete entry", "Delete the selected entry, or pop a queue/stack (d, needs --write)",
             "delete_entry"),
            ("Pause / resume refresh", "Stop or restart live refresh (p)", "toggle_pause"),
            ("Refresh now", "Read the map again (r)", "refresh_now"),
            ("Refresh faster", "Halve the refresh interval (+)", "faster"),
            ("Refresh slower", "Double the refresh interval (-)", "slower"),
            ("Mark this frame", "Remember the entries now, to compare with later (m)", "mark"),
            ("Changes since the mark", "Only keys added, removed or changed since the mark (c)",
             "toggle_changes"),
        ]
        if self.snapshot is not None and self.snapshot.facts.row.type_name in STREAM_TYPES:
            cmds.append(("Watch events", "Stream this map's events (w)", "watch"))
        if self.snapshot is not None and (self.snapshot.facts.hist or self.snapshot.facts.hist_any):
            cmds.append(("Histogram view", "Buckets as a live bar chart with percentiles (H)", "histogram"))
        if self._replaying:
            cmds = [c for c in cmds if c[2] not in WRITE_ACTIONS]
        return cmds

    @property
    def _replaying(self) -> bool:
        return getattr(self.app, "timeline", None) is not None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # a recording cannot be written: in a replay the write keys are absent
        return not (action in WRITE_ACTIONS and self._replaying)
