"""The replay's "jump to" prompt: a time in seconds from the start of the recording, or ``frame N``."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


def parse_jump(text: str, rounds: list[float], duration: float) -> float | None:
    """Seconds from the start for ``12.5``, ``12.5s`` or ``frame 3`` (refresh round 3, from 0); None when
    the text is neither."""
    s = text.strip().lower()
    if s.startswith("frame"):
        try:
            n = int(s[5:].strip())
        except ValueError:
            return None
        return rounds[min(max(n, 0), len(rounds) - 1)] if rounds else 0.0
    try:
        t = float(s.removesuffix("s"))
    except ValueError:
        return None
    return min(max(t, 0.0), duration)


class JumpScreen(ModalScreen[str | None]):
    """Asks where to jump; dismisses with the text typed (None when cancelled)."""

    DEFAULT_CSS = """
    JumpScreen { align: center middle; }
    JumpScreen > Vertical {
        width: 60; height: auto; padding: 1 2; background: $panel; border: round $accent;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, duration: float, frames: int) -> None:
        super().__init__()
        self.duration = duration
        self.frames = frames

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Jump to a time (0 to {self.duration:.1f} s) or a frame (frame 0 to "
                         f"frame {max(self.frames - 1, 0)}):")
            yield Input(placeholder="e.g. 4.5 or frame 3", id="jump-to")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
