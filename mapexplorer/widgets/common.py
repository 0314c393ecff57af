"""Small widgets shared by the screens: the status line, the too-small overlay, the filter bar and the
map header (facts plus key/value types as C)."""

from __future__ import annotations

from rich.markup import escape
from rich.text import Text
from textual.dom import DOMNode
from textual.visual import VisualType
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from mapexplorer.model import MapFacts
from mapexplorer.units import human_bytes

MIN_WIDTH = 80
MIN_HEIGHT = 24


class StatusLine(Static):
    """One line under the main table: counts, refresh rate, pause state, sort and filter."""

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $text-muted;
    }
    """

    _last: object = None

    def update(self, content: VisualType = "", *, layout: bool = False) -> None:
        """Repaint only (one fixed line: no layout), and only when the text changed."""
        if content != self._last:
            self._last = content
            super().update(content, layout=layout)


class TooSmall(Static):
    """Covers the screen when the terminal is smaller than 80x24, saying so."""

    DEFAULT_CSS = """
    TooSmall {
        layer: overlay;
        display: none;
        width: 100%;
        height: 100%;
        content-align: center middle;
        text-align: center;
        background: $background;
        color: $text-warning;
        text-style: bold;
    }
    Screen.-too-narrow TooSmall, Screen.-too-short TooSmall { display: block; }
    """

    def __init__(self) -> None:
        super().__init__(
            f"mapexplorer needs a terminal of at least {MIN_WIDTH}x{MIN_HEIGHT}.\n"
            "Enlarge the window (or make the font smaller); q quits."
        )


class FilterBar(Input):
    """A one-line filter input (``/`` focuses it, Enter returns to the table, Escape clears it)."""

    DEFAULT_CSS = """
    FilterBar {
        border: none;
        height: 1;
        padding: 0 1;
        background: $surface;
    }
    FilterBar:focus { border: none; background: $boost; }
    """

    def __init__(self, *, placeholder: str, next_focus: str, id: str | None = None) -> None:
        super().__init__(placeholder=placeholder, id=id)
        self.next_focus = next_focus
        """Selector of the widget that Enter moves focus to."""

    async def action_submit(self) -> None:
        # Move focus now, not when Submitted is handled: an Enter typed right after must reach the table.
        await super().action_submit()
        self.screen.set_focus(self.screen.query_one(self.next_focus))


def flag_names(flags: int) -> str:
    names = {
        0x1: "NO_PREALLOC",
        0x2: "NO_COMMON_LRU",
        0x4: "NUMA_NODE",
        0x8: "RDONLY",
        0x10: "WRONLY",
        0x20: "STACK_BUILD_ID",
        0x40: "ZERO_SEED",
        0x80: "RDONLY_PROG",
        0x100: "WRONLY_PROG",
        0x200: "CLONE",
        0x400: "MMAPABLE",
        0x800: "PRESERVE_ELEMS",
        0x1000: "INNER_MAP",
        0x2000: "LINK",
        0x4000: "PATH_FD",
        0x8000: "VTYPE_BTF_OBJ_FD",
        0x10000: "TOKEN_FD",
        0x20000: "SEGV_ON_FAULT",
        0x40000: "NO_USER_CONV",
    }
    out = [n for bit, n in names.items() if flags & bit]
    rest = flags & ~sum(names)
    if rest:
        out.append(hex(rest))
    return "|".join(out) or "0"


class MapHeader(Static):
    """The open map's facts and its key/value types printed as C."""

    DEFAULT_CSS = """
    MapHeader {
        height: auto;
        max-height: 12;
        padding: 0 1;
        background: $panel;
        overflow-y: auto;
    }
    """

    _shown: tuple[object, ...] = ()

    def show(self, facts: MapFacts, count: int | None, kind: str) -> None:
        """Show the facts (no repaint or layout when nothing changed since the last refresh)."""
        if (facts, count, kind) == self._shown:
            return
        self._shown = (facts, count, kind)
        r = facts.row
        t = Text()
        t.append(f"{r.name or '(no name)'}", "bold")
        t.append(f"  id {r.id}  ", "dim")
        t.append(r.type_name, "bold cyan")
        t.append(f"  key {r.key_size}B · value {r.value_size}B · max {r.max_entries:,}")
        if count is not None and kind == "entries":
            t.append(f" · {count:,} entries", "bold")
        t.append(f" · memlock {human_bytes(r.memlock)} · flags {flag_names(r.flags)}")
        if r.percpu:
            t.append(f" · {facts.ncpus} possible CPUs", "bold magenta")
        if r.frozen:
            t.append(" · frozen", "yellow")
        t.append("\n")
        owners = _first(r.owners, 3)
        progs = _first(r.progs, 3)
        t.append("owners ", "dim")
        t.append(owners)
        t.append("  programs ", "dim")
        t.append(progs)
        if r.pinned:
            t.append("  pinned ", "dim")
            t.append(", ".join(r.pinned))
        t.append("  BTF ", "dim")
        t.append("yes" if facts.has_btf else "no", "green" if facts.has_btf else "yellow")
        users = r.users
        if users.writers or users.readers:
            t.append("\n")
            if users.writers:
                t.append("written by ", "dim")
                t.append(_first(users.writers, 3), "bold")
            if users.writers and users.readers:
                t.append(" · ", "dim")
            if users.readers:
                t.append("read by ", "dim")
                t.append(_first(users.readers, 3))
            t.append("  (P: its programs)", "dim")
        if users.note:
            t.append("\n")
            t.append(users.note, "italic yellow")
        if facts.key_c or facts.value_c:
            t.append("\n")
            t.append("key:   ", "dim")
            t.append(_one_line(facts.key_c or "?"), "green")
            t.append("\nvalue: ", "dim")
            t.append(_one_line(facts.value_c or "?"), "green")
        if facts.note:
            t.append("\n")
            t.append(facts.note, "italic yellow")
        self.update(t)


def _first(items: tuple[str, ...], n: int) -> str:
    """At most ``n`` items, then how many more (the header stays a few lines high)."""
    if not items:
        return "none"
    more = len(items) - n
    return ", ".join(items[:n]) + (f" +{more} more" if more > 0 else "")


def _one_line(c_text: str) -> str:
    """C type text squeezed on one line (``struct x { u32 a; u64 b; }``) so the table keeps its room."""
    return " ".join(c_text.split())


def markup_escape(text: str) -> str:
    return escape(text)


def report_worker_error(node: DOMNode, event: Worker.StateChanged) -> None:
    """Show a worker that died of an unexpected error instead of failing silently.

    ``Worker.StateChanged`` does not bubble: the app sees only its own workers, so every screen with
    workers calls this from its ``on_worker_state_changed`` (a view stuck at "opening…" with nothing said
    is what happens otherwise).
    """
    if event.state == WorkerState.ERROR and event.worker.error is not None:
        err = event.worker.error
        node.log.error(f"worker {event.worker.name} failed", err)
        node.app.notify(f"{event.worker.name}: {type(err).__name__}: {err}", severity="error", timeout=10)
