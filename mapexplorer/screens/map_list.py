"""The map list: every BPF map in a live-refreshing table with a filter, sorting, entry counts and fill
(from the source's BPF iterator read: nothing here reads maps), memory by owner (``o``) and the doctor's
findings (``d``).

The table is a :class:`~mapexplorer.widgets.row_table.RowTable` (Line API: only the lines on screen are
drawn), fed from a :class:`~mapexplorer.list_index.ListIndex` that keeps one row object per map until the
map changes: a refresh where nothing changed repaints nothing, and 20,000 maps cost what a screenful does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.worker import get_current_worker

from mapexplorer.caps import explain_refusal
from mapexplorer.list_index import Changes, ListIndex
from mapexplorer.memory import GROUPINGS
from mapexplorer.messages import MapListReady, NoPermission, OpenMap, SourceFailed
from mapexplorer.model import ListSnapshot, MapRow
from mapexplorer.pacing import Pacer
from mapexplorer.screens.doctor import DoctorScreen
from mapexplorer.screens.polling import PollingScreen
from mapexplorer.units import human_bytes
from mapexplorer.widgets.common import FilterBar, StatusLine, TooSmall
from mapexplorer.widgets.health_cells import GroupTable, entries_cell, fill_cell, fill_sort_value, summary
from mapexplorer.widgets.row_table import Column, Row, RowTable

DESCENDING_FIRST = frozenset({"entries", "fill", "memlock"})
"""Sorting by these starts with the largest (the fullest map first)."""

# (label, sort key) per column; the table columns follow this order.
COLUMNS: list[tuple[str, str]] = [
    ("ID", "id"),
    ("Name", "name"),
    ("Type", "type"),
    ("Entries", "entries"),
    ("Fill", "fill"),
    ("Max", "max"),
    ("Memlock", "memlock"),
    ("Key", "key"),
    ("Value", "value"),
    ("Owners", "owners"),
    ("Programs", "progs"),
    ("Pinned", "pinned"),
    ("BTF", "btf"),
]
NUMERIC = frozenset({"id", "entries", "fill", "max", "memlock", "key", "value"})
"""Right-aligned columns."""
WIDEST = {"name": 32, "type": 24, "owners": 48, "progs": 48, "pinned": 64}
"""Columns cut (with …) beyond this many cells; the others are at most 48."""
TABLE_COLUMNS = [Column(key, label, key in NUMERIC, WIDEST.get(key, 48)) for label, key in COLUMNS]


SORT_VALUES: dict[str, Callable[[MapRow], object]] = {
    "id": lambda r: r.id,
    "name": lambda r: r.name.lower(),
    "type": lambda r: r.type_name,
    "key": lambda r: r.key_size,
    "value": lambda r: r.value_size,
    "max": lambda r: r.max_entries,
    "entries": lambda r: r.count.entries if r.count is not None and r.count.entries is not None else -1,
    "fill": fill_sort_value,
    "memlock": lambda r: r.memlock,
    "owners": lambda r: ",".join(r.owners),
    "progs": lambda r: ",".join(r.progs),
    "pinned": lambda r: ",".join(r.pinned),
    "btf": lambda r: r.btf_id,
}
"""What each column sorts by (cached per map by :class:`ListIndex`)."""


def _sort_value(row: MapRow, key: str) -> object:
    return SORT_VALUES[key](row)


def _row(r: MapRow) -> Row:
    """The table row of a map (made again only when the map changed: :class:`ListIndex` caches it)."""
    entries, fill = entries_cell(r), fill_cell(r)
    if r.memlock < 0:  # a quick first listing: memlock, owners, programs and pins come with the next one
        return Row(str(r.id), (
            str(r.id), r.name or "(no name)", r.type_name, entries.text, fill.text + fill.note,
            f"{r.max_entries:,}", "…", str(r.key_size), str(r.value_size), "…", "…", "…",
            "yes" if r.btf_id else "no",
        ), (
            "", "bold" if r.name else "dim", "magenta" if r.percpu else "cyan", entries.style, fill.style,
            "", "dim", "", "", "dim", "dim", "dim", "green" if r.btf_id else "dim",
        ), ((4, len(fill.text), "dim"),) if fill.note else ())
    cells = (
        str(r.id),
        r.name or "(no name)",
        r.type_name,
        entries.text,
        fill.text + fill.note,
        f"{r.max_entries:,}",
        human_bytes(r.memlock),
        str(r.key_size),
        str(r.value_size),
        ", ".join(r.owners),
        ", ".join(r.progs),
        ", ".join(r.pinned),
        "yes" if r.btf_id else "no",
    )
    styles = (
        "",
        "bold" if r.name else "dim",
        "magenta" if r.percpu else "cyan",
        entries.style,
        fill.style,
        "", "", "", "", "", "", "",
        "green" if r.btf_id else "dim",
    )
    spans = ((4, len(fill.text), "dim"),) if fill.note else ()
    return Row(str(r.id), cells, styles, spans)


class MapTable(RowTable):
    """The map list's table: a row cursor (``j``/``k``, ``g``/Home, ``G``/End, PageUp/PageDown), and
    ``h``/``l`` (← →) move the column that ``s`` sorts by, underlined in the header."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("k", "cursor_up", "Up", show=False),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("home,g", "first", "First row", show=False),
        Binding("end,G", "last", "Last row", show=False),
        Binding("left,h", "column(-1)", "Column left", show=False),
        Binding("right,l", "column(1)", "Column right", show=False),
        Binding("enter", "select", "Open", show=False),
    ]

    def action_column(self, step: int) -> None:
        screen = self.screen
        if isinstance(screen, MapListScreen):
            screen.move_column(step)


class MapListScreen(PollingScreen):
    """Every map, refreshed live; Enter opens one."""

    help_title = "Map list"
    MAIN_FOCUS: ClassVar[str] = "MapTable, GroupTable"

    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: handled as the key arrives, so the keys typed right after it land in the filter
        Binding("slash", "focus_filter", "Filter", priority=True),
        Binding("enter", "open_map", "Open", show=False),
        Binding("s", "sort", "Sort"),
        Binding("S", "reverse_sort", "Reverse", show=False),
        Binding("d", "doctor", "Doctor"),
        Binding("o", "cycle_groups", "Memory by owner"),
        Binding("p", "toggle_pause", "Pause"),
        Binding("r", "refresh_now", "Refresh"),
        Binding("plus,equals_sign", "faster", "Faster", show=False),
        Binding("minus", "slower", "Slower", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("q", "app.quit", "Quit"),
        Binding("question_mark", "app.help", "Help"),
    ]

    def __init__(self) -> None:
        super().__init__(name="maps")
        self.snapshot: ListSnapshot | None = None
        self.sort_key = "id"
        self.sort_reverse = False
        self.column = 0
        """Index in COLUMNS of the column under the cursor (``s`` sorts by it)."""
        self.pacer = Pacer()
        """The refresh's CPU cost against the budget (``--budget``, set on mount)."""
        self.index: ListIndex[Row] = ListIndex(_sort_value, _row)
        """The rows by id with cached sort values, search texts and table rows (only changed maps are
        redone)."""
        self._summary: tuple[object, str] = (None, "")
        self.group_by: str | None = None
        """Memory by owner: the grouping shown instead of the maps (None: the maps)."""
        self._stale = False
        self._shown = threading.Event()
        """Set once the quick first rows are on screen (the worker then completes them)."""
        self._empty_shown = ""
        self._status_shown = ""
        self._display_pos: dict[int, int] = {}
        """Map id -> its row's position in the table (as last made in full)."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield FilterBar(
            placeholder="/ filter maps by name, type, owner, program or pin", next_focus="#maps", id="filter"
        )
        yield MapTable(TABLE_COLUMNS, id="maps", sort_arrows=True)
        yield GroupTable(id="groups")
        yield Static("", id="list-empty")
        yield StatusLine("loading maps…", id="status")
        yield Footer()
        yield TooSmall()

    def on_mount(self) -> None:
        self.pacer.budget = self.explorer.budget
        self.query_one("#list-empty").display = False
        self.query_one("#groups").display = False
        table = self.query_one("#maps", MapTable)
        self._relabel()
        table.focus()
        self.poll()

    # -- polling -------------------------------------------------------------------------------------

    def poll(self) -> None:
        if not self.on_top:
            self._stale = True  # another screen is on top: poll again when this one resumes
            return
        self._poll_list()

    def on_screen_resume(self) -> None:
        if self._stale:
            self._stale = False
            self.poll()

    @work(thread=True, exclusive=True, group="list", exit_on_error=False, description="list maps")
    def _poll_list(self) -> None:
        source = self.explorer.source
        worker = get_current_worker()
        cpu = self.explorer.cpu_clock
        partial = True
        while partial:  # a quick first listing (rows first, at start-up) is completed right away
            start = cpu()
            try:
                snap = source.list_maps()
            except PermissionError as exc:  # one screen explains it; no further polls (and no toasts)
                self.post_message(NoPermission(explain_refusal(exc.strerror)))
                return
            except OSError as exc:
                self.post_message(SourceFailed("listing maps", exc.strerror or str(exc)))
                return
            if worker.is_cancelled:
                return
            self._shown.clear()
            self.post_message(MapListReady(snap, cpu() - start))
            partial = snap.partial
            # let the UI draw these rows before the next (longer) read; stop waiting if the app is leaving
            for _ in range(20 if partial else 0):
                if self._shown.wait(0.1) or worker.is_cancelled:
                    break
            if worker.is_cancelled:
                return

    def on_map_list_ready(self, message: MapListReady) -> None:
        cpu = self.explorer.cpu_clock
        start = cpu()
        first = self.snapshot is None
        snap = self.snapshot = message.snapshot
        changes = self.index.update(snap.rows, snap.changed, snap.base)
        if first or self.group_by is not None or (changes and not self._patch_rows(changes)):
            self._render_rows()
        if message.snapshot.partial:
            # rows first, at start-up: the same worker reads owners, programs, pins and memlock right
            # away, and that read (like every first read) is not held against the budget
            self.show_refresh_state()
            self.call_after_refresh(self._shown.set)
            return
        self.pacer.record(message.cost + cpu() - start)  # the worker's read and this thread's drawing
        self.show_refresh_state()
        self._schedule()

    def next_interval(self) -> float:
        """The refresh interval, stretched when a refresh costs more CPU than the budget allows."""
        return self.pacer.interval(self.explorer.refresh_interval)

    def on_source_failed(self, message: SourceFailed) -> None:
        self.notify(f"{message.what}: {message.reason}", severity="error", timeout=6)
        self._schedule()

    # -- rendering -----------------------------------------------------------------------------------

    def _needle(self) -> str:
        return self.query_one("#filter", Input).value.strip().lower()

    def _filtered(self) -> list[MapRow]:
        """The rows shown (filtered and sorted), from the index."""
        rows = self.index.rows
        return [rows[i] for i in self.index.order(self.sort_key, self.sort_reverse, self._needle())]

    def _render_rows(self) -> None:
        """Bring the table to the index's order (rows are made again only for maps that changed; the
        table repaints only the lines on screen that differ)."""
        table = self.query_one("#maps", MapTable)
        ids = self.index.order(self.sort_key, self.sort_reverse, self._needle())
        made = self.index.cells
        table.set_rows([made(i) for i in ids])
        self._display_pos = {i: n for n, i in enumerate(ids)}
        rows = self.index.rows
        shown = [rows[i] for i in ids]
        self._update_status(len(ids))
        self._explain_empty(shown)
        self._render_groups(shown)

    def _patch_rows(self, changes: Changes) -> bool:
        """Replace the rows of maps that changed in place, when that keeps the order and the filter's
        choice (no map came or went, no change in the sorted column, nor in the filtered text); False when
        the table must be made again."""
        moved = changes.moved
        if moved is None or changes.new or changes.gone or self.sort_key in moved:
            return False
        if "text" in moved and self._needle():
            return False
        table = self.query_one("#maps", MapTable)
        rows: list[Row] | None = None
        pos = self._display_pos
        for mid in changes.changed:
            p = pos.get(mid)
            if p is None:
                continue  # filtered out, and still so (its search text did not change)
            if rows is None:
                rows = list(table.rows)
            rows[p] = self.index.cells(mid)
        if rows is not None:
            table.set_rows(rows)
        self._update_status(len(pos))
        return True

    def _render_groups(self, rows: list[MapRow]) -> None:
        """Memory by owner instead of the maps while ``group_by`` is set (the filter applies to both)."""
        groups = self.query_one("#groups", GroupTable)
        if self.group_by is None or self.snapshot is None:
            groups.display = False
            return
        groups.show(rows, self.snapshot.inner, self.group_by)
        groups.display = True
        self.query_one("#maps", MapTable).display = False

    def _explain_empty(self, rows: list[MapRow]) -> None:
        """Words instead of an empty table: no maps at all, or none matching the filter."""
        empty = self.query_one("#list-empty", Static)
        text = ""
        if self.snapshot is not None and not self.snapshot.rows:
            text = (
                "No BPF maps in this kernel right now.\n"
                "They appear here as soon as a program creates one (try: mapexplorer --demo)."
            )
        elif self.snapshot is not None and not rows:
            needle = self.query_one("#filter", Input).value.strip()
            text = f"No map matches {needle!r} (name, type, owner, program or pin). Escape clears the filter."
        if text != self._empty_shown:  # no layout pass when nothing changed (it runs at every refresh)
            self._empty_shown = text
            empty.update(text)
            empty.display = bool(text)
        table = self.query_one("#maps", MapTable)
        was_hidden = not table.display
        table.display = not text
        # Hiding the table (no maps yet: a fresh box starting the demo) moves focus to the filter; take it
        # back when maps appear, unless the user is typing a filter.
        if was_hidden and not text and not self.query_one("#filter", Input).value:
            table.focus()

    def _update_status(self, shown: int) -> None:
        rows = self.snapshot.rows if self.snapshot else ()
        total = len(rows)
        interval = self.explorer.refresh_interval
        if self._summary[0] is not self.snapshot:  # one pass over every row per refresh, not per key
            text = summary(rows)
            listing = self.snapshot.total if self.snapshot is not None else None
            if listing:  # the first rows of a quick listing
                text = text.replace(f"{total} maps", f"listing {listing} maps ({total} so far)", 1)
            self._summary = (self.snapshot, text)
        text = self._summary[1]
        parts = [text if shown == total else f"{shown} of {text}"]
        if self.paused or interval <= 0:
            parts.append("⏸ paused (p resumes)" if self.paused else "manual refresh (r)")
        else:
            every = self.next_interval()
            if every > interval:
                parts.append(f"⟳ every {round(every, 1):g}s (budget {self.pacer.budget * 100:g} %, "
                             "p pauses, +/- rate)")
            else:
                parts.append(f"⟳ every {interval:g}s (p pauses, +/- rate)")
        arrow = "▼" if self.sort_reverse else "▲"
        parts.append(f"sort {self.sort_key} {arrow} (s)")
        if self.snapshot is not None and self.snapshot.partial:
            parts.append("reading owners, programs, pins…")
        if self.snapshot is not None and self.snapshot.count_reason:
            parts.append(f"counts by reading: {self.snapshot.count_reason}")
        if self.group_by:
            parts.append(f"memory by {self.group_by} (o: next, Enter filters)")
        parts.append(self.explorer.source.name)
        text = "  ·  ".join(parts)
        if text != self._status_shown:
            self._status_shown = text
            self.query_one("#status", StatusLine).update(text)

    # -- actions -------------------------------------------------------------------------------------

    @on(Input.Changed, "#filter")
    def _filter_changed(self) -> None:
        self._render_rows()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self.set_focus(self.query_one("#maps", MapTable))

    @on(RowTable.Selected, "#maps")
    def _row_selected(self, event: RowTable.Selected) -> None:
        self.post_message(OpenMap(int(event.key)))

    @on(RowTable.HeaderClicked, "#maps")
    def _header_selected(self, event: RowTable.HeaderClicked) -> None:
        key = event.column
        if key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = key, key in DESCENDING_FIRST
        self.column = [k for _, k in COLUMNS].index(key)
        self._relabel()
        self._render_rows()

    def action_focus_filter(self) -> None:
        f = self.query_one("#filter", Input)
        if f.has_focus:
            f.insert_text_at_cursor("/")  # a "/" typed in the filter itself (pin paths)
        else:
            self.set_focus(f)

    def action_clear_filter(self) -> None:
        """Escape: clear the filter and go back to the table (the map list is never left by Escape)."""
        f = self.query_one("#filter", Input)
        f.value = ""
        table = self.query_one("#maps", MapTable)
        if table.display:
            self.set_focus(table)

    def action_open_map(self) -> None:
        key = self.query_one("#maps", MapTable).current_key()
        if key is not None:
            self.post_message(OpenMap(int(key)))

    def _relabel(self) -> None:
        """The header: the sort arrow on the sorted column, the column under the cursor underlined."""
        self.query_one("#maps", MapTable).set_header(self.sort_key, self.sort_reverse, self.column)

    def move_column(self, step: int) -> None:
        """Move the column cursor (``h``/``l``), scrolling the table to show that column."""
        self.column = max(0, min(len(COLUMNS) - 1, self.column + step))
        self.query_one("#maps", MapTable).show_column(self.column)
        self._relabel()

    def action_sort(self) -> None:
        """Sort by the column under the cursor (again: reverse)."""
        key = COLUMNS[self.column][1]
        if key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = key, key in DESCENDING_FIRST
        self._relabel()
        self._render_rows()

    def action_doctor(self) -> None:
        """The doctor's findings for every map, each Enter-able to its map."""
        self.app.push_screen(DoctorScreen())

    def action_cycle_groups(self) -> None:
        """Memory by owner: the maps grouped by owner, then pin directory, then name, then the maps again."""
        order = [*GROUPINGS, None]
        self.group_by = order[(order.index(self.group_by) + 1) % len(order)]
        table = self.query_one("#maps", MapTable)
        if self.group_by is None:
            table.display = True
        self._render_rows()
        self.set_focus(self.query_one("#groups", GroupTable) if self.group_by else table)

    @on(DataTable.RowSelected, "#groups")
    def _group_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a group: back to the maps, filtered by the group's owner, directory or name."""
        group = self.query_one("#groups", GroupTable).current_group()
        if group is None:
            return
        self.group_by = None
        f = self.query_one("#filter", Input)
        f.value = "" if group.key.startswith("(") else group.key
        self.query_one("#maps", MapTable).display = True
        self._render_rows()
        self.set_focus(self.query_one("#maps", MapTable))

    def action_reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._relabel()
        self._render_rows()

    def show_refresh_state(self) -> None:
        self._update_status(self.query_one("#maps", MapTable).row_count)

    def palette_commands(self) -> list[tuple[str, str, str]]:
        """(title, help, action) for the command palette."""
        return [
            ("Filter maps", "Focus the filter (/)", "focus_filter"),
            ("Open selected map", "Open the map under the cursor (Enter)", "open_map"),
            ("Sort by the column under the cursor", "h/l move the column (s)", "sort"),
            ("Reverse sort", "Reverse the sort order (S)", "reverse_sort"),
            ("Doctor", "Health findings for every map (d)", "doctor"),
            ("Memory by owner", "Group maps by owner, pin directory, name (o)", "cycle_groups"),
            ("Pause / resume refresh", "Stop or restart live refresh (p)", "toggle_pause"),
            ("Refresh now", "Reload the map list (r)", "refresh_now"),
            ("Refresh faster", "Halve the refresh interval (+)", "faster"),
            ("Refresh slower", "Double the refresh interval (-)", "slower"),
        ]
