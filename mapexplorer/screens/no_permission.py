"""The one screen shown when the kernel will not let us read BPF maps: why, what to do, and ``q`` to quit
(exit code 1). Shown by :class:`NoPermissionApp` when the capabilities are missing at start, and pushed by
the explorer when the kernel refuses a read (EPERM) although they are there; nothing polls behind it.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Static

EXIT_CODE = 1


class NoPermissionScreen(Screen[None]):
    """Why the explorer cannot read maps here; ``q`` (or escape, ctrl+c) quits with exit code 1."""

    DEFAULT_CSS = """
    NoPermissionScreen {
        align: center middle;
    }
    NoPermissionScreen > Vertical {
        width: 80;
        max-width: 100%;
        height: auto;
        padding: 1 2;
        border: thick $error;
        background: $surface;
    }
    NoPermissionScreen #np-title {
        text-style: bold;
        margin-bottom: 1;
    }
    NoPermissionScreen #np-keys {
        margin-top: 1;
        color: $text-muted;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q,escape", "quit", "Quit"),
    ]

    def __init__(self, explanation: str) -> None:
        super().__init__()
        self.explanation = explanation

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("mapexplorer cannot read BPF maps here", id="np-title", markup=False)
            yield Static(self.explanation, id="np-text", markup=False)
            yield Static("q: quit", id="np-keys", markup=False)

    def action_quit(self) -> None:
        self.app.exit(EXIT_CODE, return_code=EXIT_CODE)


class NoPermissionApp(App[int]):
    """An app of one :class:`NoPermissionScreen` (the capabilities are missing: nothing else can work)."""

    TITLE = "mapexplorer"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+c", "quit_now", "Quit", show=False, priority=True),
    ]

    def __init__(self, explanation: str) -> None:
        super().__init__()
        self.explanation = explanation

    def on_mount(self) -> None:
        self.push_screen(NoPermissionScreen(self.explanation))

    def action_quit_now(self) -> None:
        self.exit(EXIT_CODE, return_code=EXIT_CODE)
