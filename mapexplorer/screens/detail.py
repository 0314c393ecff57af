"""One entry in full: the decoded key and value as indented JSON (stack traces as one frame per line) and the
raw bytes beside them, for values too wide for a table cell.

Rendered lazily: the lines are a :class:`EntryLines` sequence that formats a JSON or hexdump line only when
the view asks for it (Textual's line API renders what is on screen), so a 64 KiB value opens as fast as a
small one and a screenful costs the same whatever the entry's size.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Footer, Header

from mapexplorer.model import MapSnapshot
from mapexplorer.widgets.common import TooSmall
from mapexplorer.widgets.keys import KeyedScreen

BOLD = Style(bold=True)
TITLE = Style(bold=True, color="cyan")
DIM_TITLE = Style(bold=True, dim=True)
DIM = Style(dim=True)
PLAIN = Style()
LOOKAHEAD = 200
"""JSON lines made ahead of the last one shown (a page or two of scrolling without more encoding)."""


def hexdump_line(b: bytes, n: int) -> str:
    """Line ``n`` (16 bytes) of the hexdump of ``b``."""
    off = n * 16
    chunk = b[off : off + 16]
    ascii_ = "".join(chr(x) if 32 <= x < 127 else "." for x in chunk)
    return f"{off:04x}  {chunk.hex(' '):<47}  {ascii_}"


class HexLines:
    """The hexdump of ``data`` as a sequence of lines, each formatted when asked for."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.n = max((len(data) + 15) // 16, 1)

    def known(self) -> int:
        return self.n

    def width(self) -> int:
        return 75

    def done(self) -> bool:
        return True

    def ensure(self, n: int) -> None:
        return None

    def line(self, n: int) -> str:
        return hexdump_line(self.data, n) if self.data else "(no bytes)"


class JsonLines:
    """``json.dumps(value, indent=2)`` split in lines, encoded only as far as the view has looked."""

    def __init__(self, value: Any) -> None:
        self._chunks: Iterator[str] = json.JSONEncoder(indent=2).iterencode(value)
        self._lines: list[str] = []
        self._partial = ""
        self._done = False
        self._width = 0

    def known(self) -> int:
        return len(self._lines) + (0 if self._done else 1)

    def width(self) -> int:
        return self._width

    def done(self) -> bool:
        return self._done

    def ensure(self, n: int) -> None:
        """Encode until line ``n`` exists (or the value ends)."""
        while len(self._lines) <= n and not self._done:
            chunk = next(self._chunks, None)
            if chunk is None:
                self._lines.append(self._partial)
                self._width = max(self._width, len(self._partial))
                self._partial = ""
                self._done = True
                break
            parts = (self._partial + chunk).split("\n")
            if len(parts) > 1:
                self._width = max(self._width, *(len(p) for p in parts[:-1]))
                self._lines.extend(parts[:-1])
            self._partial = parts[-1]

    def line(self, n: int) -> str:
        self.ensure(n)
        return self._lines[n] if n < len(self._lines) else "…"


class FixedLines:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def known(self) -> int:
        return len(self.lines)

    def width(self) -> int:
        return max((len(line) for line in self.lines), default=0)

    def done(self) -> bool:
        return True

    def ensure(self, n: int) -> None:
        return None

    def line(self, n: int) -> str:
        return self.lines[n]


Section = tuple[str | None, Style, Any]
"""(title line or None, style of the body, the body's lines: HexLines, JsonLines or FixedLines)."""


class EntryLines:
    """Every line of the entry's view: sections of a title and lazily made body lines."""

    def __init__(self, sections: list[Section]) -> None:
        self.sections = sections
        self.made = 0
        """How many lines were formatted (for tests: a screenful, not the whole entry)."""

    def count(self) -> int:
        """Lines known so far (a JSON body not encoded to its end counts as one line more)."""
        return sum((1 if title is not None else 0) + body.known() for title, _, body in self.sections)

    def width(self) -> int:
        """The longest line known so far (the horizontal scroll range)."""
        return max((max(len(t or ""), body.width()) for t, _, body in self.sections), default=0)

    def complete(self) -> bool:
        return all(body.done() for _, _, body in self.sections)

    def ensure(self, n: int) -> None:
        """Make lines known up to ``n`` (scrolling down reveals more of a JSON body)."""
        start = 0
        for title, _, body in self.sections:
            start += 1 if title is not None else 0
            if not body.done() and n >= start:
                body.ensure(n - start)
            start += body.known()
            if start > n:
                return

    def line(self, n: int) -> tuple[str, Style]:
        for title, style, body in self.sections:
            if title is not None:
                if n == 0:
                    return title, (TITLE if style is not DIM else DIM_TITLE)
                n -= 1
            if n < body.known():
                self.made += 1
                return body.line(n), style
            n -= body.known()
        return "", PLAIN


def entry_sections(snap: MapSnapshot, i: int) -> list[Section]:
    r = snap.facts.row
    sections: list[Section] = [(None, BOLD, FixedLines([f"{r.name} (map {r.id}, {r.type_name})", ""]))]
    if snap.key_size:
        sections.append(("key", PLAIN, JsonLines(snap.key(i))))
        sections.append((None, PLAIN, FixedLines([""])))
    value = snap.value(i)
    if isinstance(value, dict) and "frames" in value:
        frames = [f"  #{n:<3} {frame}" for n, frame in enumerate(value["frames"])]
        title = f"stack ({value.get('depth', 0)} frames, innermost first)"
        sections.append((title, PLAIN, FixedLines(frames)))
    else:
        sections.append(("value", PLAIN, JsonLines(value)))
    sections.append((None, PLAIN, FixedLines([""])))
    sections.append(("raw key", DIM, HexLines(snap.key_raw(i))))
    sections.append(("raw value", DIM, HexLines(snap.value_raw(i))))
    return sections


class EntryView(ScrollView, can_focus=True):
    """The entry's lines, rendered on demand (Textual's line API)."""

    DEFAULT_CSS = """
    EntryView { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "scroll_up", "Up", show=False),
        Binding("down,j", "scroll_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown,space", "page_down", "Page down", show=False),
        Binding("home,g", "scroll_home", "Top", show=False),
        Binding("end,G", "scroll_end", "Bottom", show=False),
    ]

    def __init__(self, lines: EntryLines, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines = lines
        self._width = 0

    def on_mount(self) -> None:
        self._grow(0)

    def _grow(self, last: int) -> None:
        """Make lines known through ``last`` plus a look-ahead, and size the scroll area to them."""
        self.lines.ensure(last + LOOKAHEAD)
        self._width = max(self._width, self.lines.width())
        self.virtual_size = Size(self._width, self.lines.count())

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._grow(int(new) + self.size.height)

    def action_scroll_end(self) -> None:
        while not self.lines.complete():
            self.lines.ensure(self.lines.count() + 10 * LOOKAHEAD)
        self._grow(self.lines.count())
        self.scroll_end(animate=False)

    def render_line(self, y: int) -> Strip:
        n = int(self.scroll_offset.y) + y
        width = self.size.width
        if n >= self.lines.count():
            return Strip.blank(width)
        text, style = self.lines.line(n)
        x = int(self.scroll_offset.x)
        return Strip([Segment(text[x : x + width], style)]).extend_cell_length(width)


class EntryDetailScreen(KeyedScreen):
    """The whole of one entry."""

    help_title = "Entry"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("question_mark", "app.help", "Help"),
    ]

    def __init__(self, snapshot: MapSnapshot, row: int) -> None:
        super().__init__(name="entry")
        self.snapshot = snapshot
        self.row = row
        self.lines = EntryLines(entry_sections(snapshot, row))

    def compose(self) -> ComposeResult:
        yield Header()
        yield EntryView(self.lines, id="detail")
        yield Footer()
        yield TooSmall()

    def on_mount(self) -> None:
        self.sub_title = f"map {self.snapshot.map_id} · entry"
        self.query_one(EntryView).focus()

    def palette_commands(self) -> list[tuple[str, str, str]]:
        return [("Back", "Close the entry (Escape)", "app.pop_screen")]
