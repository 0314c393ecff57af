"""The help screen (``?``): every key of the screen in front, generated from its bindings
(:func:`mapexplorer.widgets.keys.key_rows`), then the keys that work everywhere and the screen's legend."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from mapexplorer.widgets.keys import KeyRow

EVERYWHERE: list[tuple[str, str]] = [
    ("ctrl+p", "command palette: every action of this screen by name"),
    ("escape", "clear an active filter, otherwise back (never quits)"),
    ("q", "back (quits on the map list)"),
    ("ctrl+c", "quit"),
    ("mouse", "click a row to select it, a header to sort, double-click to open"),
]


class HelpScreen(ModalScreen[None]):
    """Every key of the screen in front (``?``)."""

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

    def __init__(self, title: str = "This screen", rows: list[KeyRow] | None = None,
                 legend: str = "") -> None:
        super().__init__()
        self.sections: list[tuple[str, list[tuple[str, str]]]] = [
            (title, [(r.keys, r.description) for r in rows or []]),
            ("Everywhere", EVERYWHERE),
        ]
        self.legend = legend
        """Words about the screen in front (the event view's tap / consume / takeover)."""

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            for title, rows in self.sections:
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
            if self.legend:
                yield Static(self.legend, classes="legend")
            yield Static(
                "[dim]mapexplorer is read-only unless started with --write.  Escape closes this help.[/]"
            )
