"""The help screen (``?``): every key, per screen."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

SECTIONS: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Everywhere",
        [
            ("?", "this help"),
            ("ctrl+p", "command palette: every action by name"),
            ("P", "programs: every BPF program (from a map view: the programs of that map)"),
            ("escape / q", "back (quit on the map list)"),
            ("mouse", "click a row to select it, a header to sort, double-click to open"),
        ],
    ),
    (
        "Map list",
        [
            ("/", "filter by name, type, owner, program or pin path (Enter: back to the table)"),
            ("Enter", "open the map"),
            ("s / S", "sort by the next column / reverse the order"),
            ("p", "pause or resume the live refresh"),
            ("+ / -", "refresh faster / slower;  r: refresh now"),
        ],
    ),
    (
        "Map view",
        [
            ("↑ ↓ PgUp PgDn Home End", "move through the entries (1,000,000 are fine)"),
            ("← →", "move the column cursor (per-CPU columns scroll, the key stays)"),
            ("s / S", "sort by the column under the cursor (again: reverse) / map order"),
            ("/", "filter: text in any cell, or column:text"),
            ("x", "hex view of the raw key and value bytes"),
            ("D", "show or hide the Δ and rate columns"),
            ("e", "edit the selected entry (with --write; per-CPU: the CPU column under the cursor)"),
            ("a", "add an entry; push onto a queue or stack (with --write)"),
            ("d", "delete the selected entry; pop a queue or stack (with --write)"),
            ("Enter", "per-CPU drill-down, inner map (maps of maps) or the whole entry"),
            ("w", "watch the events of a ringbuf or perf_event_array"),
            ("m / c", "mark this frame / only the keys added, removed or changed since the mark"),
            ("H", "histogram view (opens by itself for maps that look like histograms)"),
            ("p, r, + -", "pause, refresh now, refresh rate"),
        ],
    ),
    (
        "Histogram view",
        [
            ("↑ ↓", "per-key histograms: pick a key, or all keys (their sum)"),
            ("l", "read the slots as log2 or linear buckets"),
            ("p, r, + -", "pause, refresh now, refresh rate;  Escape: the entries"),
        ],
    ),
    (
        "Programs",
        [
            ("Enter", "the maps of the program (r / w / rw; w? = probable write); Enter again opens one"),
            ("s / S, /", "sort by the next column / reverse; filter"),
            ("p, r, + -", "pause, refresh now, refresh rate (run statistics are on while this screen shows)"),
        ],
    ),
    (
        "Drill-down",
        [
            ("f", "next numeric field of the value"),
            ("c", "history as a chart per CPU or a CPU x time heatmap (the default from 32 CPUs)"),
            ("p / r", "pause / refresh now"),
        ],
    ),
    (
        "Replay (mapexplorer --replay FILE)",
        [
            ("space", "play / pause the recording"),
            (", / .", "step back / forward one refresh"),
            ("g", "jump to a time (seconds) or a frame (frame N)"),
            ("[ / ]", "replay slower / faster"),
        ],
    ),
]


class HelpScreen(ModalScreen[None]):
    """Every key binding of the explorer."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "app.pop_screen", "Close"),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%;
        max-width: 100;
        height: 90%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            for title, rows in SECTIONS:
                table = Table(
                    title=title,
                    title_style="bold",
                    title_justify="left",
                    show_header=False,
                    box=None,
                    expand=True,
                    padding=(0, 1),
                )
                table.add_column(style="bold cyan", no_wrap=True, width=24)
                table.add_column(ratio=1)
                for key, what in rows:
                    table.add_row(key, what)
                yield Static(table)
            yield Static(
                "[dim]mapexplorer is read-only unless started with --write.  Escape closes this help.[/]"
            )
