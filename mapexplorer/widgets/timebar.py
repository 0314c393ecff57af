"""The replay time bar (``mapexplorer --replay FILE``): where the replay is in the recording, whether it
plays, at which speed, and the keys that move it. Shown above the footer of every screen of a replay."""

from __future__ import annotations

from typing import Protocol

from textual.content import Content
from textual.widgets import Static

BAR_WIDTH = 30


class TimelineLike(Protocol):
    duration: float
    playing: bool
    speed: float

    def now(self) -> float: ...


def timebar_text(timeline: TimelineLike, width: int = BAR_WIDTH) -> Content:
    """``▶ 3.0 / 10.0 s x1  ━━━━━━──────  space pause · , . step · g jump · [ ] speed``."""
    pos, total = timeline.now(), timeline.duration
    filled = round(width * pos / total) if total > 0 else width
    state = "▶" if timeline.playing else "⏸"
    keys = f"space {'pause' if timeline.playing else 'play'} · , . step · g jump · [ ] speed"
    return Content.assemble(
        (f"{state} {pos:.1f} / {total:.1f} s", "bold"),
        f" x{timeline.speed:g}  ",
        ("━" * filled, "$accent"),
        ("─" * (width - filled), "$text-muted"),
        (f"  {keys}", "$text-muted"),
    )


class TimeBar(Static):
    """One line: the replay's position, play state and speed (see :func:`timebar_text`)."""

    DEFAULT_CSS = """
    TimeBar {
        dock: bottom;
        height: 1;
        margin-bottom: 1;
        padding: 0 1;
        background: $panel;
    }
    """

    def __init__(self, timeline: TimelineLike, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(timebar_text(timeline), name=name, id=id, classes=classes)
        self.timeline = timeline

    def show(self) -> None:
        """Repaint from the timeline."""
        self.update(timebar_text(self.timeline))
