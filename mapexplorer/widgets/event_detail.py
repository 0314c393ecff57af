"""One event in full (Enter in the event view): every field untruncated, in its friendly form with the raw
number beside it, stack ids followed through the stack map when one is known (user addresses resolved in
the event's process's /proc/PID/maps while it exists, as ``dump`` does), and the raw bytes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, Header, Static

from mapexplorer.model import ResolvedStack
from mapexplorer.semantics import Clock, fmt_age, fmt_wall, humanize
from mapexplorer.widgets.common import TooSmall
from mapexplorer.widgets.keys import KeyedScreen

StackResolver = Callable[[int, bool, int | None], ResolvedStack | None]
"""``(stack_id, user, pid) -> frames`` (None: no stack map known, or the id is not in it); ``pid`` is the
event's process, for user addresses. Blocking: the screen calls it from a thread worker."""


def hexdump(b: bytes) -> str:
    lines = []
    for off in range(0, len(b), 16):
        chunk = b[off : off + 16]
        lines.append(
            f"{off:04x}  {chunk.hex(' '):<47}  {''.join(chr(x) if 32 <= x < 127 else '.' for x in chunk)}"
        )
    return "\n".join(lines) or "(no bytes)"


def stack_ids(fields: Any) -> list[tuple[str, int, bool]]:
    """``(field, id, user)`` for the ``*stack_id`` fields of an event that hold an id (>= 0)."""
    if not isinstance(fields, dict):
        return []
    return [(k, v, "user" in k) for k, v in fields.items()
            if "stack" in k and isinstance(v, int) and not isinstance(v, bool) and v >= 0]


def event_pid(fields: Any) -> int | None:
    """The process an event names (its ``tgid``, else its ``pid`` field), for its user stack."""
    if not isinstance(fields, dict):
        return None
    for name in ("tgid", "pid"):
        v = fields.get(name)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return None


def field_lines(fields: Any, friendly: Any) -> list[tuple[str, str, str]]:
    """``(name, text, raw)`` per field: the friendly text, and the raw value when it differs."""
    if not isinstance(fields, dict):
        text = json.dumps(friendly, ensure_ascii=False) if not isinstance(friendly, str) else friendly
        return [("value", text, json.dumps(fields) if friendly != fields else "")]
    out = []
    for k, v in fields.items():
        f = friendly.get(k, v) if isinstance(friendly, dict) else v
        text = f if isinstance(f, str) else json.dumps(f, ensure_ascii=False)
        out.append((k, text, json.dumps(v, ensure_ascii=False) if f != v else ""))
    return out


class EventDetailScreen(KeyedScreen):
    """The whole of one event."""

    help_title = "Event"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("j", "scroll(1)", "Scroll down", show=False),
        Binding("k", "scroll(-1)", "Scroll up", show=False),
        Binding("question_mark", "app.help", "Help"),
    ]

    def __init__(self, event: Any, number: int, arrived: float | None, *, title: str = "event",
                 resolve_stack: StackResolver | None = None, clock: Clock | None = None) -> None:
        super().__init__(name="event")
        self.event = event
        self.number = number
        self.arrived = arrived
        self.title_text = title
        self.resolve_stack = resolve_stack
        self.clock = clock or Clock.now()
        self.stacks: dict[str, ResolvedStack | None] = {}
        """Frames per stack-id field, once resolved (None: not found)."""

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="event-detail"):
            yield Static(self._text(), id="event-text")
        yield Footer()
        yield TooSmall()

    def on_mount(self) -> None:
        self.sub_title = f"{self.title_text} · event #{self.number}"
        self.query_one("#event-detail", VerticalScroll).focus()
        if self.resolve_stack is not None and stack_ids(self.event.fields):
            self._resolve()

    @work(thread=True, exclusive=True, group="stacks", exit_on_error=False, description="resolve stacks")
    def _resolve(self) -> None:
        resolve = self.resolve_stack
        if resolve is None:
            return
        fields = self.event.fields
        pid = event_pid(fields)
        found = {name: resolve(sid, user, pid if user else None) for name, sid, user in stack_ids(fields)}
        self.app.call_from_thread(self._show_stacks, found)

    def _show_stacks(self, found: dict[str, ResolvedStack | None]) -> None:
        self.stacks = found
        self.query_one("#event-text", Static).update(self._text())

    def _text(self) -> Text:
        ev = self.event
        t = Text()
        t.append(f"{self.title_text}: event #{self.number}\n", "bold")
        if self.arrived is not None:
            t.append("arrived ", "dim")
            now = self.clock.wall
            t.append(f"{fmt_wall(self.arrived, now=now)} ({fmt_age(now - self.arrived)})")
        if ev.cpu is not None:
            t.append("  cpu ", "dim")
            t.append(str(ev.cpu))
        t.append("  size ", "dim")
        t.append(f"{ev.size} bytes\n\n")
        fields = ev.fields
        if fields is None:
            t.append("no BTF type fits this record: its bytes\n", "italic yellow")
        else:
            kinds = getattr(getattr(ev, "decoder", None), "kinds", None) or {}
            friendly = humanize(fields, kinds, self.clock) if kinds else fields
            width = max((len(n) for n, _, _ in field_lines(fields, friendly)), default=5)
            for name, text, raw in field_lines(fields, friendly):
                t.append(f"{name:<{width}}  ", "bold cyan")
                t.append(text)
                if raw:
                    t.append(f"   raw {raw}", "dim")
                t.append("\n")
                stack = self.stacks.get(name, ...)
                if stack is None:
                    note = "(not in the stack map: replaced since, or no stack map known)"
                    t.append(f"{'':<{width}}  {note}\n", "dim")
                elif stack is not ...:
                    if stack.pid is not None and any(f.startswith("[u]") for f in stack.frames):
                        note = (f"user addresses in /proc/{stack.pid}/maps" if stack.mapped else
                                f"pid {stack.pid} has exited: user addresses only")
                        t.append(f"{'':<{width}}  ({note})\n", "dim")
                    for i, frame in enumerate(stack.frames):
                        t.append(f"{'':<{width}}  #{i:<3} {frame}\n")
        t.append("\nraw bytes\n", "bold dim")
        t.append(hexdump(ev.raw), "dim")
        return t

    def action_scroll(self, step: int) -> None:
        view = self.query_one("#event-detail", VerticalScroll)
        view.scroll_relative(y=step, animate=False)
