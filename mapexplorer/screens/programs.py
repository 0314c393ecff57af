"""The programs screen (``P``): every BPF program, or the programs of one map, live, with bpftop's run
statistics while the screen is on top; and the maps of one program (Enter), each opening its map view.

Run statistics cost a little on every program run, so the screen asks the source to turn them on
(BPF_ENABLE_STATS) when it becomes current and to turn them off when it is covered or closed (unless the
session was started with ``--prog-stats``). The header says which.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.worker import get_current_worker

from mapexplorer.messages import OpenMap, ProgListReady, SourceFailed
from mapexplorer.progmodel import ProgListSnapshot, ProgRate, ProgRow, rates
from mapexplorer.screens.polling import PollingScreen
from mapexplorer.units import human_bytes
from mapexplorer.widgets.common import FilterBar, StatusLine, TooSmall
from mapexplorer.widgets.row_table import Column, Row, RowTable

DASH = "\u2013"

# The table's columns, in order: what moves (bpftop's statistics) comes right after the name.
COLUMNS: list[Column] = [
    Column("id", "ID", numeric=True),
    Column("name", "Name", max_width=44),
    Column("type", "Type"),
    Column("rate", "Runs/s", numeric=True),
    Column("avg", "Avg ns", numeric=True),
    Column("cpu", "CPU%", numeric=True),
    Column("runs", "Runs", numeric=True),
    Column("maps", "Maps (r/w)", max_width=60),
    Column("attach", "Attach", max_width=48),
    Column("owners", "Owners", max_width=40),
    Column("loaded", "Loaded"),
    Column("insns", "Insns", numeric=True),
    Column("jited", "JITed", numeric=True),
    Column("memlock", "Memlock", numeric=True),
]
ACCESS_COLUMN = Column("access", "Access")
STAT_KEYS = ("rate", "avg", "cpu", "runs")


def loaded_text(ts: float) -> str:
    return time.strftime("%m-%d %H:%M:%S", time.localtime(ts)) if ts else DASH


def maps_text(row: ProgRow) -> str:
    if not row.maps:
        return ""
    return ", ".join(f"{m.name or '#' + str(m.map_id)}:{m.mode}" for m in row.maps)


def _num(value: float | None, fmt: str) -> str:
    return DASH if value is None else format(value, fmt)


def _rate_of(rate: ProgRate | None, field: str) -> float:
    value = getattr(rate, field) if rate is not None else None
    return -1.0 if value is None else value


SORT_KEYS: dict[str, Callable[[ProgRow, ProgRate | None], Any]] = {
    "id": lambda r, _: r.id,
    "name": lambda r, _: r.name.lower(),
    "type": lambda r, _: r.type_name,
    "access": lambda r, _: r.id,
    "attach": lambda r, _: ",".join(r.attach),
    "owners": lambda r, _: ",".join(r.owners),
    "loaded": lambda r, _: r.loaded_at,
    "insns": lambda r, _: r.verified_insns,
    "jited": lambda r, _: r.jited_size,
    "memlock": lambda r, _: r.memlock,
    "maps": lambda r, _: len(r.maps),
    "runs": lambda r, _: r.run_cnt,
    "rate": lambda _, rate: _rate_of(rate, "runs_per_s"),
    "avg": lambda _, rate: _rate_of(rate, "avg_ns"),
    "cpu": lambda _, rate: _rate_of(rate, "cpu_pct"),
}


def sort_value(row: ProgRow, key: str, rate: ProgRate | None) -> Any:
    return SORT_KEYS[key](row, rate)


class ProgramsScreen(PollingScreen):
    """Every program (or those of one map), refreshed live; Enter lists a program's maps."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back"),
        Binding("slash", "focus_filter", "Filter", priority=True),
        Binding("enter", "open_prog", "Maps", show=False),
        Binding("s", "cycle_sort", "Sort"),
        Binding("S", "reverse_sort", "Reverse", show=False),
        Binding("p", "toggle_pause", "Pause"),
        Binding("r", "refresh_now", "Refresh"),
        Binding("plus,equals_sign", "faster", "Faster", show=False),
        Binding("minus", "slower", "Slower", show=False),
        Binding("question_mark", "app.help", "Help"),
    ]

    def __init__(self, map_id: int | None = None, map_name: str = "") -> None:
        super().__init__(name="programs" if map_id is None else f"programs-of-{map_id}")
        self.map_id = map_id
        """Only the programs using this map (None: every program)."""
        self.map_name = map_name
        self.snapshot: ProgListSnapshot | None = None
        self.previous: ProgListSnapshot | None = None
        self.rates: dict[int, ProgRate] = {}
        self.sort_key = "id"
        self.sort_reverse = False
        self._static_cells: dict[int, tuple[tuple[object, ...], dict[str, tuple[str, str]]]] = {}
        self._stale = False
        self._head_shown: Text | None = None
        self._rows_made: dict[int, tuple[tuple[object, ...], Row]] = {}
        self._empty_shown: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="progs-head")
        yield FilterBar(placeholder="/ filter programs by name, type, attach point, owner or map",
                        next_focus="#progs", id="progs-filter")
        columns = list(COLUMNS)
        if self.map_id is not None:
            columns.insert(3, ACCESS_COLUMN)
        yield RowTable(columns, id="progs")
        yield Static("", id="progs-empty")
        yield StatusLine("loading programs…", id="status")
        yield Footer()
        yield TooSmall()

    def on_mount(self) -> None:
        self.query_one("#progs-empty").display = False
        self.query_one("#progs", RowTable).focus()
        self._show_head()

    # -- statistics on while current ---------------------------------------------------------------------

    def on_screen_resume(self) -> None:
        self._set_stats(True)
        self.previous = None  # rates start again: the counters did not run while covered
        if self._stale or self.snapshot is None:
            self._stale = False
            self.poll()

    def on_screen_suspend(self) -> None:
        self._set_stats(False)

    def on_unmount(self) -> None:
        self._set_stats(False)

    def _set_stats(self, on: bool) -> None:
        source = self.explorer.source

        def apply() -> None:
            try:
                source.set_prog_stats(on)
            except OSError as exc:
                self.app.call_from_thread(self.app.notify, f"run statistics: {exc.strerror or exc}")

        # an app worker: it must also run when this screen is being removed
        self.app.run_worker(apply, thread=True, group="prog-stats", exit_on_error=False,
                            description=f"run statistics {'on' if on else 'off'}")

    # -- polling -----------------------------------------------------------------------------------------

    def poll(self) -> None:
        if not self.on_top:
            self._stale = True
            return
        self._poll_programs()

    @work(thread=True, exclusive=True, group="programs", exit_on_error=False, description="list programs")
    def _poll_programs(self) -> None:
        source = self.explorer.source
        worker = get_current_worker()
        try:
            snap = source.list_programs()
        except OSError as exc:
            self.post_message(SourceFailed("listing programs", exc.strerror or str(exc)))
            return
        if not worker.is_cancelled:
            self.post_message(ProgListReady(snap))

    def on_prog_list_ready(self, message: ProgListReady) -> None:
        snap = message.snapshot
        if self.map_id is not None:
            snap = ProgListSnapshot(
                tuple(r for r in snap.rows if r.use_of(self.map_id) is not None),
                snap.taken_at, snap.stats_on, snap.stats_note, snap.ncpus,
            )
        self.previous, self.snapshot = self.snapshot, snap
        self.rates = rates(self.previous, snap) if snap.stats_on else {}
        alive = {r.id for r in snap.rows}
        self._static_cells = {k: v for k, v in self._static_cells.items() if k in alive}
        self._render_rows()
        self._show_head()
        self._schedule()

    def on_source_failed(self, message: SourceFailed) -> None:
        self.notify(f"{message.what}: {message.reason}", severity="error", timeout=6)
        self._schedule()

    # -- rendering ---------------------------------------------------------------------------------------

    def _show_head(self) -> None:
        snap = self.snapshot
        t = Text()
        if self.map_id is not None:
            t.append("programs of map ", "dim")
            t.append(f"{self.map_name or '#' + str(self.map_id)}", "bold")
            t.append(f"  id {self.map_id}  ", "dim")
        if snap is None:
            t.append("reading programs…", "dim")
        elif snap.stats_on:
            t.append("run statistics ON", "bold green")
            always = getattr(self.explorer.source, "prog_stats", False)
            when = "all session: --prog-stats" if always else "while this screen shows"
            t.append(f" (BPF_ENABLE_STATS, {when})", "dim")
        elif snap.stats_note:
            t.append(snap.stats_note, "bold yellow")
        else:
            t.append("run statistics off", "yellow")
        if t != self._head_shown:
            self._head_shown = t
            self.query_one("#progs-head", Static).update(t)

    def _filtered(self) -> list[ProgRow]:
        if self.snapshot is None:
            return []
        needle = self.query_one("#progs-filter", Input).value.strip().lower()
        rows = list(self.snapshot.rows)
        if needle:
            rows = [r for r in rows if needle in r.search_text()]
        if self.sort_key != "id" or self.sort_reverse:
            get, rates = SORT_KEYS[self.sort_key], self.rates
            rows.sort(key=lambda r: get(r, rates.get(r.id)), reverse=self.sort_reverse)
        return rows

    def _static(self, r: ProgRow) -> dict[str, tuple[str, str]]:
        """(text, style) of the cells that do not change while the program stays loaded, made once."""
        key = (r.name, r.type_name, r.attach, r.owners, r.loaded_at, r.verified_insns, r.jited_size,
               r.memlock, r.maps, r.maps_hidden)
        hit = self._static_cells.get(r.id)
        if hit is not None and hit[0] == key:
            return hit[1]
        cells = {
            "id": (str(r.id), ""),
            "name": (r.name or "(no name)", "bold" if r.name else "dim"),
            "type": (r.type_name, "cyan"),
            "maps": (maps_text(r) or ("?" if r.maps_hidden else ""), "yellow" if r.maps_hidden else ""),
            "attach": ("; ".join(r.attach), ""),
            "owners": (", ".join(r.owners), ""),
            "loaded": (loaded_text(r.loaded_at), ""),
            "insns": (f"{r.verified_insns:,}", ""),
            "jited": (human_bytes(r.jited_size), ""),
            "memlock": (human_bytes(r.memlock), ""),
        }
        if self.map_id is not None:
            use = r.use_of(self.map_id)
            cells["access"] = (use.mode if use else "?", "bold yellow" if use and use.writes else "bold")
        self._static_cells[r.id] = (key, cells)
        return cells

    def _stats(self, r: ProgRow) -> dict[str, tuple[str, str]]:
        snap = self.snapshot
        if snap is None or not snap.stats_on:
            return dict.fromkeys(STAT_KEYS, (DASH, "dim"))
        rate = self.rates.get(r.id)
        return {
            "rate": (_num(rate.runs_per_s if rate else None, ",.0f"), ""),
            "avg": (_num(rate.avg_ns if rate else None, ",.0f"), ""),
            "cpu": (_num(rate.cpu_pct if rate else None, ".2f"), ""),
            "runs": (f"{r.run_cnt:,}", ""),
        }

    def _row(self, r: ProgRow, keys: list[str]) -> Row:
        """The table row of a program, made again only when its cells can have changed."""
        snap = self.snapshot
        stats_on = snap is not None and snap.stats_on
        rate = self.rates.get(r.id) if stats_on else None
        static = self._static(r)
        sig = (id(static), stats_on, r.run_cnt, r.run_time_ns, rate)
        hit = self._rows_made.get(r.id)
        if hit is not None and hit[0] == sig:
            return hit[1]
        cells = {**static, **self._stats(r)}
        row = Row(str(r.id), tuple(cells[k][0] for k in keys), tuple(cells[k][1] for k in keys))
        self._rows_made[r.id] = (sig, row)
        return row

    def _render_rows(self) -> None:
        table = self.query_one("#progs", RowTable)
        rows = self._filtered()
        keys = [c.key for c in table.columns]
        if self.snapshot is not None and len(self._rows_made) > 2 * len(self.snapshot.rows) + 64:
            alive = {r.id for r in self.snapshot.rows}
            self._rows_made = {k: v for k, v in self._rows_made.items() if k in alive}
        table.set_rows([self._row(r, keys) for r in rows])
        self._update_status(len(rows))
        self._explain_empty(rows)

    def _explain_empty(self, rows: list[ProgRow]) -> None:
        text = ""
        if self.snapshot is not None and not self.snapshot.rows:
            text = ("No BPF programs use this map right now." if self.map_id is not None
                    else "No BPF programs are loaded right now (try: mapexplorer --demo).")
        elif self.snapshot is not None and not rows:
            needle = self.query_one("#progs-filter", Input).value.strip()
            text = f"No program matches {needle!r}. Escape clears the filter."
        if text == self._empty_shown:
            return  # no layout pass when nothing changed (it runs at every refresh)
        self._empty_shown = text
        empty = self.query_one("#progs-empty", Static)
        empty.update(text)
        empty.display = bool(text)
        self.query_one("#progs", RowTable).display = not text

    def _update_status(self, shown: int) -> None:
        total = len(self.snapshot.rows) if self.snapshot else 0
        interval = self.explorer.refresh_interval
        parts = [f"{shown} of {total} programs" if shown != total else f"{total} programs"]
        if self.paused or interval <= 0:
            parts.append("⏸ paused (p resumes)" if self.paused else "manual refresh (r)")
        else:
            parts.append(f"⟳ every {interval:g}s (p pauses, +/- rate)")
        arrow = "▼" if self.sort_reverse else "▲"
        parts.append(f"sort {self.sort_key} {arrow} (s)")
        parts.append("Enter: its maps")
        self.query_one("#status", StatusLine).update("  ·  ".join(parts))

    # -- actions -----------------------------------------------------------------------------------------

    @on(Input.Changed, "#progs-filter")
    def _filter_changed(self) -> None:
        self._render_rows()

    @on(Input.Submitted, "#progs-filter")
    def _filter_submitted(self) -> None:
        self.set_focus(self.query_one("#progs", RowTable))

    @on(RowTable.Selected, "#progs")
    def _row_selected(self, event: RowTable.Selected) -> None:
        self._open(int(event.key))

    @on(RowTable.HeaderClicked, "#progs")
    def _header_selected(self, event: RowTable.HeaderClicked) -> None:
        key = event.column
        if key == "access":
            return
        if key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = key, key in STAT_KEYS
        self._render_rows()

    def _open(self, prog_id: int) -> None:
        if self.snapshot is None:
            return
        for r in self.snapshot.rows:
            if r.id == prog_id:
                self.app.push_screen(ProgramMapsScreen(r))
                return

    def action_open_prog(self) -> None:
        key = self.query_one("#progs", RowTable).current_key()
        if key is not None:
            self._open(int(key))

    def action_focus_filter(self) -> None:
        f = self.query_one("#progs-filter", Input)
        if f.has_focus:
            f.insert_text_at_cursor("/")
        else:
            self.set_focus(f)

    def action_back(self) -> None:
        f = self.query_one("#progs-filter", Input)
        if f.value:
            f.value = ""
            self.set_focus(self.query_one("#progs", RowTable))
            return
        self.app.pop_screen()

    def action_cycle_sort(self) -> None:
        keys = [c.key for c in COLUMNS]
        self.sort_key = keys[(keys.index(self.sort_key) + 1) % len(keys)]
        self.sort_reverse = self.sort_key in STAT_KEYS
        self._render_rows()

    def action_reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._render_rows()

    def show_refresh_state(self) -> None:
        self._update_status(self.query_one("#progs", RowTable).row_count)

    def palette_commands(self) -> list[tuple[str, str, str]]:
        return [
            ("Filter programs", "Focus the filter (/)", "focus_filter"),
            ("Maps of the selected program", "List the maps it reads and writes (Enter)", "open_prog"),
            ("Sort by next column", "Cycle the sort column (s)", "cycle_sort"),
            ("Reverse sort", "Reverse the sort order (S)", "reverse_sort"),
            ("Pause / resume refresh", "Stop or restart live refresh (p)", "toggle_pause"),
            ("Refresh now", "Reload the programs (r)", "refresh_now"),
        ]


ACCESS_WORDS = {
    "r": "reads",
    "w": "writes",
    "rw": "reads and writes",
    "w?": "probably writes (stores through a value pointer)",
    "rw?": "reads, probably writes (stores through a value pointer)",
    "?": "unknown",
}


class ProgramMapsScreen(Screen):
    """The maps one program uses and how; Enter opens a map's view."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("enter", "open_map", "Open map", show=False),
        Binding("question_mark", "app.help", "Help"),
    ]

    def __init__(self, row: ProgRow) -> None:
        super().__init__(name=f"prog-{row.id}-maps")
        self.row = row

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self._head(), id="prog-head")
        table: DataTable[object] = DataTable(id="prog-maps", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static("", id="prog-maps-empty")
        yield StatusLine("Enter opens the map · Escape goes back", id="status")
        yield Footer()
        yield TooSmall()

    def _head(self) -> Text:
        r = self.row
        t = Text()
        t.append(r.name or "(no name)", "bold")
        t.append(f"  id {r.id}  ", "dim")
        t.append(r.type_name, "bold cyan")
        t.append(f"  tag {r.tag}" if r.tag else "", "dim")
        t.append("\nattached ", "dim")
        t.append("; ".join(r.attach) or "nowhere the kernel reports")
        t.append("  owners ", "dim")
        t.append(", ".join(r.owners) or "none")
        t.append(f"\nloaded {loaded_text(r.loaded_at)} · {r.verified_insns:,} verified insns · "
                 f"JITed {human_bytes(r.jited_size)} · memlock {human_bytes(r.memlock)}")
        if r.maps_hidden:
            t.append(f"\nreads/writes unknown: {r.maps_hidden}", "italic yellow")
        return t

    def on_mount(self) -> None:
        table = self.query_one("#prog-maps", DataTable)
        for label, key in (("Map ID", "id"), ("Name", "name"), ("Type", "type"), ("Access", "access"),
                           ("Meaning", "meaning")):
            table.add_column(label, key=key)
        for m in self.row.maps:
            table.add_row(
                Text(str(m.map_id), justify="right"),
                Text(m.name or "(no name)", style="bold"),
                Text(m.type_name, style="cyan"),
                Text(m.mode, style="bold yellow" if m.writes else "bold"),
                ACCESS_WORDS.get(m.mode, m.mode),
                key=str(m.map_id),
            )
        empty = self.query_one("#prog-maps-empty", Static)
        if not self.row.maps:
            empty.update("This program uses no maps.")
            table.display = False
        else:
            empty.display = False
            table.focus()

    @on(DataTable.RowSelected, "#prog-maps")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.post_message(OpenMap(int(event.row_key.value)))

    def action_open_map(self) -> None:
        table = self.query_one("#prog-maps", DataTable)
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            if key is not None:
                self.app.post_message(OpenMap(int(key)))
