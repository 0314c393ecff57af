"""The findings screen (``d`` in the map list): what ``mapexplorer doctor`` says, one finding per row,
errors first; Enter opens the (first) map a finding is about; ``r`` checks again.

The findings come from the source in a thread worker (``source.doctor()``), never from the kernel layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from mapexplorer.messages import OpenMap
from mapexplorer.widgets.common import StatusLine, TooSmall

if TYPE_CHECKING:
    from mapexplorer.doctor import Finding

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow"}


@dataclass
class FindingsReady(Message):
    """The findings of one check of every map (``error``: why the check failed, else empty)."""

    findings: tuple[Finding, ...]
    maps: int
    error: str = ""


class DoctorScreen(Screen):
    """Health findings for every map; Enter opens the map of the finding under the cursor."""

    DEFAULT_CSS: ClassVar[str] = """
    DoctorScreen #findings { height: 1fr; }
    DoctorScreen #finding-detail { height: auto; max-height: 6; padding: 0 1; background: $panel; }
    DoctorScreen #findings-empty {
        height: 1fr; padding: 1 2; content-align: center middle; text-align: center; color: $text-muted;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("enter", "open_finding", "Open map", show=False),
        Binding("r", "check", "Check again"),
        Binding("question_mark", "app.help", "Help"),
    ]

    def __init__(self) -> None:
        super().__init__(name="doctor")
        self.findings: tuple[Finding, ...] = ()

    def compose(self) -> ComposeResult:
        yield Header()
        table: DataTable[object] = DataTable(id="findings", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static("", id="findings-empty")
        yield Static("", id="finding-detail")
        yield StatusLine("checking every map…", id="doctor-status")
        yield Footer()
        yield TooSmall()

    def on_mount(self) -> None:
        self.sub_title = "doctor"
        self.query_one("#findings-empty").display = False
        table = self.query_one("#findings", DataTable)
        table.add_column("Severity", key="severity")
        table.add_column("Maps", key="maps")
        table.add_column("Finding", key="message")
        table.focus()
        self.action_check()

    def action_check(self) -> None:
        self.query_one("#doctor-status", StatusLine).update("checking every map…")
        self._check()

    @work(thread=True, exclusive=True, group="doctor", exit_on_error=False, description="doctor")
    def _check(self) -> None:
        source = self.app.source  # type: ignore[attr-defined]
        try:
            findings, nmaps = source.doctor()
        except OSError as exc:
            self.post_message(FindingsReady((), 0, exc.strerror or str(exc)))
            return
        self.post_message(FindingsReady(tuple(findings), nmaps))

    def on_findings_ready(self, message: FindingsReady) -> None:
        self.findings = message.findings
        table = self.query_one("#findings", DataTable)
        table.clear()
        for i, f in enumerate(message.findings):
            table.add_row(
                Text(f.severity, style=SEVERITY_STYLE.get(f.severity, "")),
                Text(",".join(map(str, f.map_ids)), justify="right"),
                f.message,
                key=str(i),
            )
        errors = sum(f.severity == "error" for f in message.findings)
        status = self.query_one("#doctor-status", StatusLine)
        empty = self.query_one("#findings-empty", Static)
        if message.error:
            status.update(f"check failed: {message.error}")
        elif message.findings:
            warnings = len(message.findings) - errors
            status.update(f"{message.maps} maps checked · {errors} error(s), {warnings} warning(s)"
                          " · Enter opens the map · r checks again")
        else:
            status.update(f"{message.maps} maps checked · no findings · r checks again")
        empty.update("" if message.findings or message.error else "No findings: every map looks healthy.")
        empty.display = not message.findings
        table.display = bool(message.findings)
        self._show_detail(table.cursor_row)

    @on(DataTable.RowHighlighted, "#findings")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail(event.cursor_row)

    def _show_detail(self, row: int) -> None:
        """The whole sentence of the finding under the cursor (the table cell may be cut)."""
        detail = self.query_one("#finding-detail", Static)
        if 0 <= row < len(self.findings):
            f = self.findings[row]
            detail.update(Text.assemble((f"{f.severity}: ", SEVERITY_STYLE.get(f.severity, "")), f.message))
            detail.display = True
        else:
            detail.display = False

    @on(DataTable.RowSelected, "#findings")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self._open(event.cursor_row)

    def action_open_finding(self) -> None:
        self._open(self.query_one("#findings", DataTable).cursor_row)

    def _open(self, row: int) -> None:
        if 0 <= row < len(self.findings) and self.findings[row].map_ids:
            self.app.post_message(OpenMap(self.findings[row].map_ids[0]))

    def palette_commands(self) -> list[tuple[str, str, str]]:
        return [("Check again", "Run every check again (r)", "check"),
                ("Back", "Back to the map list (Escape)", "app.pop_screen")]
