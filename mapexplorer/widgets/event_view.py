"""The live event view of a ringbuf or perf_event_array map: :class:`EventViewScreen`.

The screen gets a zero-argument ``stream_factory`` returning an event-stream object (in production
``mapexplorer.streams.EventStream``; this module never imports the layers below it). A thread worker
opens the stream, reads records in bulk (``read_records``: raw bytes, nothing decoded) and posts what it
read at most every :data:`POST_EVERY_S` seconds as one immutable message, so the table is repainted at
most :data:`REPAINTS_PER_S` times a second whatever the event rate, and only when what it shows changed
(new rows while following the newest, a filter, a resume); only the newest :data:`KEEP` events are kept,
as their raw records.

The table is a Line-API :class:`EventLog` that decodes and renders only the visible rows: one column per event
field (``#``, then ``cpu`` for perf rings, then the fields, or the bytes as hex and ASCII when the
record has no BTF type), with the wall-clock arrival time and age of each event next to its fields;
times, addresses and errnos in their friendly forms (:mod:`mapexplorer.semantics`). Newest at the bottom
and followed until the user moves the cursor up (``j``/``k``, PageUp/PageDown, ``g``/Home; ``G``/End
follows again); Enter opens the event under the cursor in full; ``p`` pauses the display (reading
continues, counters keep moving), ``/`` filters (case-insensitive text of any cell).
"""

from __future__ import annotations

import bisect
import json
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol, cast

from rich.segment import Segment
from rich.style import Style
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.geometry import Size
from textual.message import Message
from textual.reactive import Reactive
from textual.screen import ModalScreen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Button, Footer, Header, Input, Static
from textual.worker import Worker, get_current_worker

from mapexplorer.semantics import Clock, fmt_age, fmt_wall, humanize
from mapexplorer.widgets.common import FilterBar, StatusLine, TooSmall, report_worker_error
from mapexplorer.widgets.event_ring import EventRing, Row
from mapexplorer.widgets.keys import KeyedScreen

KEEP = 10_000
"""Events kept in memory (the newest); older ones are forgotten, not counted as dropped."""
REPAINTS_PER_S = 4
"""The table is repainted at most this many times a second (when new rows are on screen)."""
POST_EVERY_S = 1 / REPAINTS_PER_S
"""The worker posts what it read at most this often (one message, one repaint)."""
READ_WAIT_S = 0.05
SWITCH_INTERVAL_S = 0.0005
IDLE_POST_S = 0.5
"""With no events, the counters (events/s falling to 0) are still refreshed this often."""
CLOCK_REUSE_S = 0.05
"""Rows rendered within this many seconds share one clock (ages and times agree across a repaint)."""
AGES_EVERY_S = 1.0
"""With no new rows, ages on screen are repainted this often at most (and less often as they grow: a
tenth of the newest row's age), so a quiet stream's ages do not freeze at their last paint."""
FIELDS_CACHE = 512
"""Decoded events remembered by the table (a page scrolled back and forth is decoded once)."""
MAX_COLUMNS = 40
LEARN_SAMPLE = 16
"""Rows of each batch (spread over it) whose fields and widths shape the columns."""
CELL_MAX = 48
DATA_MAX = 96
GAP = 2


class EventLike(Protocol):
    cpu: int | None
    size: int
    fields: Any
    raw: bytes


class EventStreamLike(Protocol):
    """What the screen needs from a stream (``mapexplorer.streams.EventStream`` provides it).

    Records travel as ``(cpu, raw)`` pairs; ``make_event`` turns one into an event (with ``cpu``,
    ``size``, ``fields``, ``raw``) only when the screen shows or filters it.
    """

    total: int
    lost: int
    dropped: int

    def describe(self) -> str: ...

    def take_notices(self) -> list[str]: ...

    def read_records(
        self, timeout: float, max_events: int | None = None, keep_last: int | None = None,
        linger: float = 0.0,
    ) -> list[tuple[int | None, Any]]: ...

    def make_event(self, cpu: int | None, raw: Any) -> Any: ...

    def close(self) -> None: ...


# -- cell text -----------------------------------------------------------------------------------------


def cell_text(value: Any) -> str:
    """A decoded value as one cell: strings bare, containers as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def hex_ascii(raw: bytes, limit: int = 32) -> str:
    part = raw[:limit]
    text = "".join(chr(b) if 32 <= b < 127 else "." for b in part)
    return f"{part.hex(' ')}{'…' if len(raw) > limit else ''} |{text}|"


ARRIVED, AGE = "arrived", "age"
"""The columns the view adds: when the event reached the explorer (wall clock) and how long ago."""


def event_kinds(ev: Any) -> dict[str, str]:
    """What the event's fields mean (set by the stream on its decoder), {} when unknown."""
    return getattr(getattr(ev, "decoder", None), "kinds", None) or {}


def friendly_fields(ev: Any, clock: Clock) -> Any:
    """The event's decoded fields with times, addresses and errnos shown for people."""
    fields = ev.fields
    kinds = event_kinds(ev)
    return humanize(fields, kinds, clock) if kinds and fields is not None else fields


def row_cells(n: int, ev: Any, columns: tuple[str, ...], arrived: float | None = None,
              clock: Clock | None = None) -> list[str]:
    """The text of each column for event number ``n`` (decoded once here)."""
    clock = clock or Clock.now()
    fields = friendly_fields(ev, clock)
    out = []
    for col in columns:
        if col == "#":
            out.append(str(n))
        elif col == ARRIVED:
            out.append("" if arrived is None else fmt_wall(arrived, now=clock.wall))
        elif col == AGE:
            out.append("" if arrived is None else fmt_age(clock.wall - arrived))
        elif col == "cpu":
            out.append("" if ev.cpu is None else str(ev.cpu))
        elif col == "size":
            out.append(str(ev.size))
        elif col == "data":
            out.append(hex_ascii(ev.raw) if fields is None else "")
        elif col == "value":
            out.append("" if fields is None or isinstance(fields, dict) else cell_text(fields))
        elif isinstance(fields, dict) and col in fields:
            out.append(cell_text(fields[col]))
        else:
            out.append("")
    return out


def event_matches(ev: Any, needle: str) -> bool:
    """Whether the lower-cased ``needle`` is in the event's text (``field=value`` pairs, ``cpu=N``)."""
    fields = ev.fields
    if isinstance(fields, dict):
        hay = " ".join(f"{k}={cell_text(v)}" for k, v in fields.items())
    elif fields is not None:
        hay = cell_text(fields)
    else:
        hay = hex_ascii(ev.raw, 1 << 16)
    if ev.cpu is not None:
        hay += f" cpu={ev.cpu}"
    return needle in hay.lower()


# -- the table -----------------------------------------------------------------------------------------


class EventLog(ScrollView, can_focus=True):
    """The events as a virtual table: a header line, then only the visible rows rendered.

    A row cursor (the newest row while following) moves with ``j``/``k``, PageUp/PageDown and
    ``g``/Home; Enter posts :class:`EventLog.Selected` for the event under it.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "first", "First event", show=False),
        Binding("left,h", "scroll_left", "Scroll left", show=False),
        Binding("right,l", "scroll_right", "Scroll right", show=False),
        Binding("enter", "select", "Open the event", show=False),
    ]

    class Selected(Message):
        """Enter on a row: the event's number, record and arrival time."""

        def __init__(self, row: Row) -> None:
            super().__init__()
            self.row = row

    DEFAULT_CSS = """
    EventLog {
        height: 1fr;
        background: $surface;
    }
    """
    _HEADER = Style(bold=True, reverse=True)
    _NUM = Style(dim=True)
    _CPU = Style(color="cyan")
    _DATA = Style(color="yellow")
    _CURSOR = Style(reverse=True)

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.rows: Sequence[Row] = []
        """The rows shown (already filtered), oldest first: a frozen sequence (the screen's
        :meth:`~mapexplorer.widgets.event_ring.EventRing.snapshot`, or a list when filtered)."""
        self.make_event: Callable[[int | None, Any], Any] = _no_stream
        self.columns: tuple[str, ...] = ("#",)
        self.widths: dict[str, int] = {"#": 6}
        self._follow = True
        self.cursor_n: int | None = None
        """Number of the event under the cursor; None: the newest (while following)."""
        self._styles: tuple[tuple[str, ...], list[Style], list[Style]] = ((), [], [])
        """(columns, their styles, the same under the cursor), rebuilt when the columns change."""
        self._events: dict[int, Any] = {}
        """Event number -> the event made (and decoded) for a row on screen, the last few hundred."""
        self._clock: tuple[float, Clock] = (-1.0, Clock.now())
        self.now: Callable[[], Clock] = Clock.now
        """The clock rows are rendered against (the screen's: a fixed one in snapshot tests)."""
        self._painted_ns = 0
        """CLOCK_MONOTONIC (of ``now``) of the last repaint asked for."""

    class FollowChanged(Message):
        """The table started or stopped following the newest row (the status says which)."""

    @property
    def follow(self) -> bool:
        """Keep the newest row at the bottom (off once the user scrolls up; End turns it back on)."""
        return self._follow

    @follow.setter
    def follow(self, value: bool) -> None:
        if value != self._follow:
            self._follow = value
            if self.is_attached:
                self.post_message(self.FollowChanged())

    def set_rows(
        self, rows: Sequence[Row], columns: tuple[str, ...], widths: dict[str, int],
        follow: bool | None = None,
    ) -> None:
        """Show these rows; ``follow`` (None: unchanged) keeps the newest in view. Repaints only when
        what is on screen changed."""
        changed = (columns != self.columns or widths != self.widths
                   or self._visible_numbers(rows, follow) != self._visible_numbers(self.rows, None))
        self.rows = rows
        self.columns = columns
        self.widths = widths
        if follow is not None:
            self.follow = follow
        total = sum(widths.get(c, 8) + GAP for c in columns)
        self._grow(Size(total, len(rows) + 1))
        if self.follow:
            # now (one repaint with the rows: Textual merges the two refreshes of this frame), and again
            # after the refresh in case the size went through a layout (a scrollbar came)
            self._to_bottom()
            self.call_after_refresh(self._to_bottom)
        if changed:
            self._painted_ns = self.now().mono_ns
            self.refresh()

    def _grow(self, size: Size) -> None:
        """Set the virtual size. A layout of the whole screen only when a scrollbar comes or goes: while
        the ring fills, the row count changes at every batch, and a layout each time cost more than the
        repaint itself (what Textual does for a size change without layout: set it, update the
        scrollbars)."""
        old = self.virtual_size
        if size == old:
            return
        width, height = self.container_size
        if (old.width > width) != (size.width > width) or (old.height > height) != (size.height > height):
            self.virtual_size = size
            return
        self.set_reactive(cast("Reactive[Size]", EventLog.virtual_size), size)  # the descriptor
        self._scroll_update(size)

    def refresh_ages(self) -> None:
        """Repaint for the ages alone (nothing new to show) when the last paint is old enough for them
        to read differently: every :data:`AGES_EVERY_S`, or a tenth of the newest row's age if longer."""
        if not self.rows:
            return
        now = self.now()
        newest_age = now.wall - self.rows[-1][2]
        if (now.mono_ns - self._painted_ns) / 1e9 >= max(AGES_EVERY_S, newest_age / 10):
            self._painted_ns = now.mono_ns
            self.refresh()

    def _visible_numbers(self, rows: Sequence[Row], follow: bool | None) -> tuple[int, int, int]:
        """(first, last, count) event numbers of what ``rows`` puts on screen."""
        if not rows:
            return (0, 0, 0)
        height = max(1, self.scrollable_content_region.height - 1)
        if follow if follow is not None else self.follow:
            top = max(0, len(rows) - height)
        else:
            top = min(int(self.scroll_y), len(rows) - 1)
        shown = rows[top : top + height]
        return (shown[0][0], shown[-1][0], len(shown))

    def cursor_index(self) -> int:
        """Index in ``rows`` of the row under the cursor (-1 when there are none)."""
        if not self.rows:
            return -1
        if self.follow or self.cursor_n is None:
            return len(self.rows) - 1
        i = bisect.bisect_left(self.rows, self.cursor_n, key=lambda r: r[0])
        return min(i, len(self.rows) - 1)

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _move_to(self, idx: int) -> None:
        if not self.rows:
            return
        idx = max(0, min(len(self.rows) - 1, idx))
        if idx == len(self.rows) - 1:  # back on the newest row: follow again (as G does)
            if not self.follow:
                self.cursor_n = None
                self.follow = True
                self.call_after_refresh(self._to_bottom)
                self.refresh()
            return
        self.follow = False
        self.cursor_n = self.rows[idx][0]
        top, page = int(self.scroll_y), self._page()
        if idx < top:
            self.scroll_to(y=idx, animate=False, immediate=True)
        elif idx >= top + page:
            self.scroll_to(y=idx - page + 1, animate=False, immediate=True)
        self.follow = False  # scrolling to the end turns following on: the cursor says otherwise
        self.refresh()

    def action_cursor(self, step: int) -> None:
        self._move_to(self.cursor_index() + step)

    def action_page(self, step: int) -> None:
        self._move_to(self.cursor_index() + step * self._page())

    def action_first(self) -> None:
        self._move_to(0)

    def action_select(self) -> None:
        i = self.cursor_index()
        if i >= 0:
            self.post_message(self.Selected(self.rows[i]))

    def _to_bottom(self) -> None:
        if self.follow:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)

    def on_resize(self) -> None:
        # A layout after the last batch can shrink the viewport (a scrollbar or the filter came): while
        # following, stay at the bottom, or the scrollbar says "top" under the newest rows until a batch.
        if self.follow:
            self.call_after_refresh(self._to_bottom)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value >= self.max_scroll_y and self.cursor_n is None:
            self.follow = True  # at the bottom (by the user, or a clamp): follow the newest again
        elif new_value < old_value:
            self.follow = False  # the user scrolled up: stay on what they look at
            if self.cursor_n is None and self.rows:
                top = min(int(new_value), len(self.rows) - 1)
                self.cursor_n = self.rows[top + min(self._page(), len(self.rows) - top) - 1][0]

    def top_row(self) -> int:
        """Index of the first row on screen."""
        if self.follow:
            return max(0, len(self.rows) - (self.scrollable_content_region.height - 1))
        return int(self.scroll_y)

    def _column_styles(self, cursor: bool) -> list[Style]:
        """The style of each column's cells (reversed under the cursor), built once per set of columns."""
        cols, plain, under = self._styles
        if cols != self.columns:
            plain = [
                self._NUM if c == "#" else self._CPU if c == "cpu" else self._DATA if c == "data" else Style()
                for c in self.columns
            ]
            under = [st + self._CURSOR for st in plain]
            self._styles = (self.columns, plain, under)
        return under if cursor else plain

    def _event(self, row: Row) -> Any:
        """The event of a row, made and decoded once while it stays among the last rows rendered."""
        n, (cpu, raw), _ = row
        ev = self._events.get(n)
        if ev is None:
            if len(self._events) >= FIELDS_CACHE:
                self._events.clear()
            ev = self._events[n] = _Decoded(self.make_event(cpu, raw))
        return ev

    def clock(self) -> Clock:
        """Now, shared by the rows rendered together (one repaint)."""
        at, clock = self._clock
        now = time.monotonic()
        if now - at > CLOCK_REUSE_S:
            clock = self.now()
            self._clock = (now, clock)
        return clock

    def forget_events(self) -> None:
        """Drop the decoded events (the stream was replaced: numbers start again)."""
        self._events.clear()

    def _strip(self, cells: list[str], styles: list[Style], scroll_x: int, width: int,
               pad: Style | None) -> Strip:
        """One line: each cell padded to its column's width, cut at ``scroll_x`` to ``width`` cells.
        Neighbouring cells of one style make one segment (most are unstyled): Textual's work per line
        follows the number of segments."""
        segs: list[Segment] = []
        run: list[str] = []
        run_style: Style | None = None
        widths = self.widths
        for col, text, style in zip(self.columns, cells, styles, strict=True):
            w = widths.get(col, 8)
            if len(text) > w:
                text = text[: w - 1] + "…"
            if style is not run_style and run:
                segs.append(Segment("".join(run), run_style))
                run = []
            run_style = style
            run.append(text.ljust(w) + " " * GAP)
        if run:
            segs.append(Segment("".join(run), run_style))
        strip = Strip(segs)
        if scroll_x == 0 and strip.cell_length == width:
            return strip
        return strip.crop_extend(scroll_x, scroll_x + width, pad)

    def render_line(self, y: int) -> Strip:
        scroll_x = self.scroll_offset.x
        width = self.scrollable_content_region.width
        if y == 0:
            return self._strip(list(self.columns), [self._HEADER] * len(self.columns), scroll_x, width,
                               self._HEADER)
        idx = self.top_row() + y - 1
        if idx >= len(self.rows):
            return Strip.blank(width, self.rich_style)
        row = self.rows[idx]
        styles = self._column_styles(idx == self.cursor_index() and self.has_focus)
        cells = row_cells(row[0], self._event(row), self.columns, row[2], self.clock())
        return self._strip(cells, styles, scroll_x, width, None)


# -- the screen ----------------------------------------------------------------------------------------


LEGEND = """[b]How this view reads the stream[/b]
[b]tap[/b]       a ringbuf is read without advancing its consumer position: the program's own reader
          still gets every record (a tap overtaken by a fast owner reports [i]dropped[/i] events).
[b]consume[/b]   only on request (watch --consume): records read here are taken from the ring.
[b]takeover[/b]  a perf_event_array carries one perf ring per CPU installed by its reader; the explorer
          adds its own rings to empty slots, and replaces occupied ones only when you confirm
          (the other reader stops receiving events until it reinstalls its rings).
[b]shared[/b]    under --demo the demo's own perf_event_array and ringbuf are shared in-process: the
          demo's reader hands a copy of each record here; nothing is installed, taken or consumed.
[b]lost[/b]      events the kernel could not write (ring full); [b]kept[/b] the newest events held here.
[b]arrived / age[/b]  when the event reached the explorer (wall clock) and how long ago; a BPF
          timestamp field (ts_ns) is shown as wall-clock time converted from the boot clock."""


class EventViewScreen(KeyedScreen):
    """Live events of one stream map, newest at the bottom.

    Args:
        stream_factory: called once, in a thread worker, to open the stream; the screen closes it.
        title: shown until the stream describes itself.
    """

    help_title = "Event view"

    DEFAULT_CSS = """
    EventViewScreen #ev-title {
        height: 1;
        padding: 0 1;
        background: $panel;
        text-style: bold;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "escape", "Clear filter, else back", show=False),
        Binding("q", "back", "Back"),
        Binding("p,space", "toggle_pause", "Pause"),
        Binding("slash", "focus_filter", "Filter"),
        Binding("c", "clear", "Clear"),
        Binding("end,G", "follow", "Newest"),
        Binding("C", "consume", "Consume", show=False),
        Binding("question_mark", "app.help", "Help", show=False),
    ]
    help_legend = LEGEND

    class Opened(Message):
        """The worker opened the stream."""

        def __init__(self, description: str, notices: tuple[str, ...],
                     make_event: Callable[[int | None, Any], Any],
                     consume_offer: tuple[str, Callable[[], EventStreamLike]] | None = None,
                     status_note: str | None = None) -> None:
            super().__init__()
            self.description = description
            self.notices = notices
            self.make_event = make_event
            self.consume_offer = consume_offer
            """A tapped ringbuf: the question naming whose records consuming takes, and the opener."""
            self.status_note = status_note
            """How the stream is read, for the status line, when unusual (shared with the --demo)."""

    class Batch(Message):
        """Records ``(cpu, raw)`` read since the last batch (the newest :data:`KEEP` at most) and the
        counters."""

        def __init__(self, events: tuple[Any, ...], total: int, lost: int, dropped: int,
                     notices: tuple[str, ...], at: float, type_name: str | None = None,
                     wall: float | None = None) -> None:
            super().__init__()
            self.wall = time.time() if wall is None else wall
            """Wall-clock time the records were read (their arrival time)."""
            self.type_name = type_name
            self.events = events
            self.total = total
            self.lost = lost
            self.dropped = dropped
            self.notices = notices
            self.at = at

    class ConsentAsked(Message):
        """Opening would touch another process's map (perf rings into its slots): ask the user."""

        def __init__(self, question: str, accept: Callable[[], EventStreamLike]) -> None:
            super().__init__()
            self.question = question
            self.accept = accept

    class Stopped(Message):
        """The stream ended (map freed) or failed to open or read."""

        def __init__(self, reason: str, error: bool) -> None:
            super().__init__()
            self.reason = reason
            self.error = error

    def __init__(self, stream_factory: Callable[[], EventStreamLike], title: str = "events",
                 *, map_id: int | None = None, clock: Callable[[], Clock] = Clock.now) -> None:
        super().__init__()
        self.clock = clock
        """Now (wall and CLOCK_MONOTONIC): arrival times, ages, rates. Tests pass a fixed one."""
        self.stream_factory = stream_factory
        self.title_text = title
        """Names the map; the stream's description (read mode, decoding) follows it once opened."""
        self.map_id = map_id
        self.events = EventRing(KEEP)
        """The newest events received (all of them, unfiltered), kept as the batches they came in."""
        self.shown: EventRing | deque[Row] = self.events
        """The newest events that pass the filter (``events`` itself when there is no filter)."""
        self.paused = False
        self.filter_text = ""
        self.total = 0
        self.lost = 0
        self.dropped = 0
        self.rate = 0.0
        self.state = "opening…"
        self.type_name: str | None = None
        """The BTF type events are decoded as, once the stream knows."""
        self.columns: list[str] = ["#", ARRIVED, AGE]
        self.widths: dict[str, int] = {"#": 6, ARRIVED: 12, AGE: 12}
        self.make_event: Callable[[int | None, Any], Any] = _no_stream
        self._rate_samples: deque[tuple[float, int]] = deque(maxlen=64)
        self._dirty = False
        self._consume_offer: tuple[str, Callable[[], EventStreamLike]] | None = None
        """A tapped ringbuf: (question naming whose records would be taken, opener of a consuming stream)."""
        self.status_note: str | None = None
        """Said in the status line after the state when set (a stream shared with the --demo)."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self.title_text, id="ev-title")
        yield FilterBar(
            placeholder="/ filter events (text of any field)", next_focus="#events", id="ev-filter"
        )
        yield EventLog(id="events")
        yield StatusLine("opening the stream…", id="ev-status")
        yield Footer()
        yield TooSmall()

    def on_mount(self) -> None:
        log = self.query_one("#events", EventLog)
        log.now = self.clock
        log.focus()
        # The reader thread holds the GIL for milliseconds at a time at high event rates; a shorter
        # switch interval (5 ms by default) bounds how long the UI thread waits for it after each
        # I/O, which is what key latency is made of. Restored when the screen goes away.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, SWITCH_INTERVAL_S))
        self._read()

    def on_unmount(self) -> None:
        sys.setswitchinterval(self._switch_interval)

    # -- the reader (thread) ------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="events", exit_on_error=False)
    def _read(self, factory: Callable[[], EventStreamLike] | None = None) -> None:
        worker = get_current_worker()
        try:
            stream = (factory or self.stream_factory)()
        except Exception as exc:  # shown to the user, who can only go back (or consent, below)
            question, accept = getattr(exc, "question", None), getattr(exc, "accept", None)
            if isinstance(question, str) and callable(accept):
                # streams.ConsentNeeded's contract: accept() opens the stream (duck-typed: no streams import)
                self.post_message(self.ConsentAsked(question, cast(Callable[[], EventStreamLike], accept)))
            else:
                self.post_message(self.Stopped(_reason(exc), error=True))
            return
        try:
            self.post_message(self.Opened(stream.describe(), tuple(stream.take_notices()), stream.make_event,
                                          getattr(stream, "consume_offer", None),
                                          getattr(stream, "status_note", None)))
            last_post = time.monotonic()  # pacing only: never shown
            pending: list[Any] = []
            while not worker.is_cancelled:
                try:
                    # Read in bulk for up to a frame (the stream lingers), keep the newest KEEP records,
                    # post at most one batch per POST_EVERY_S: one message and one repaint per frame.
                    pending += stream.read_records(READ_WAIT_S, keep_last=KEEP, linger=POST_EVERY_S)
                except EOFError as exc:  # the stream ended (its map was freed)
                    self._post(stream, pending)
                    self.post_message(self.Stopped(str(exc), error=False))
                    return
                except OSError as exc:
                    self._post(stream, pending)
                    self.post_message(self.Stopped(_reason(exc), error=True))
                    return
                if len(pending) > 2 * KEEP:
                    del pending[:-KEEP]
                now = time.monotonic()
                if (pending and now - last_post >= POST_EVERY_S) or now - last_post >= IDLE_POST_S:
                    self._post(stream, pending)
                    pending = []
                    last_post = now
        finally:
            stream.close()

    def _post(self, stream: EventStreamLike, pending: list[Any]) -> None:
        now = self.clock()
        self.post_message(
            self.Batch(tuple(pending[-KEEP:]), stream.total, stream.lost, stream.dropped,
                       tuple(stream.take_notices()), now.mono_ns / 1e9, getattr(stream, "type_name", None),
                       wall=now.wall)
        )

    # -- messages (UI thread) -----------------------------------------------------------------------

    def on_event_view_screen_opened(self, message: Opened) -> None:
        self.state = "live"
        self.make_event = message.make_event
        self.query_one("#events", EventLog).make_event = message.make_event
        self.query_one("#ev-title", Static).update(f"{self.title_text} · {message.description}")
        self.sub_title = self.title_text
        self._consume_offer = message.consume_offer
        self.status_note = message.status_note
        for note in message.notices:
            self.notify(note, timeout=6)
        if message.consume_offer is not None:
            self.notify("C consumes the ringbuf instead (it asks first)", timeout=6)
        self._update_status()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_worker_error(self, event)

    def on_event_view_screen_consent_asked(self, message: ConsentAsked) -> None:
        self.state = "waiting for your answer"
        self._update_status()

        def answered(yes: bool | None) -> None:
            if yes:
                self.state = "opening…"
                self._read(message.accept)
            else:
                self.state = "not started: nothing was installed (esc goes back)"
            self._update_status()

        self.app.push_screen(ConfirmScreen(message.question), answered)

    def on_event_view_screen_stopped(self, message: Stopped) -> None:
        self.state = ("failed: " if message.error else "ended: ") + message.reason
        self.notify(message.reason, severity="error" if message.error else "warning", timeout=8)
        self._update_status()

    def on_event_view_screen_batch(self, message: Batch) -> None:
        self.total, self.lost, self.dropped = message.total, message.lost, message.dropped
        self.type_name = message.type_name
        self._rate_samples.append((message.at, message.total))
        self.rate = self._compute_rate()
        for note in message.notices:
            self.notify(note, severity="warning", timeout=6)
        if message.events:
            self._add(message.events, message.total, message.wall)
        # New rows are painted only while the newest are followed: scrolled back, the rows the user
        # looks at stay put (G or scrolling to the bottom follows again).
        log = self.query_one("#events", EventLog)
        if not self.paused and self._dirty and log.follow:
            self._show()
        elif not self.paused:
            log.refresh_ages()
        self._update_status()

    def _compute_rate(self) -> float:
        samples = self._rate_samples
        now, total = samples[-1]
        for at, old in samples:
            if now - at <= 1.5:
                return (total - old) / (now - at) if now > at else 0.0
        return 0.0

    def _add(self, records: Sequence[tuple[int | None, Any]], total: int, wall: float | None = None) -> None:
        """Keep ``records``, the newest of the ``total`` events the stream delivered so far, arrived at
        ``wall`` (now when None)."""
        needle = self.filter_text.lower()
        at = self.clock().wall if wall is None else wall
        first = total - len(records) + 1
        self.events.add(first, at, records)  # as they came: no object per event
        step = max(1, len(records) // LEARN_SAMPLE)
        sample = range(len(records) - 1, -1, -step)[:LEARN_SAMPLE]
        self._learn_columns([(first + j, records[j], at) for j in sample])
        if needle and isinstance(self.shown, deque):
            make = self.make_event
            start = max(0, len(records) - KEEP)
            self.shown.extend((first + j, records[j], at) for j in range(start, len(records))
                              if event_matches(make(*records[j]), needle))
        self._dirty = True

    def _learn_columns(self, rows: list[Row]) -> None:
        cols = self.columns
        make = self.make_event
        events = [(n, make(cpu, raw), arrived) for n, (cpu, raw), arrived in rows]
        clock = self.clock()
        for _n, ev, _at in events:
            if ev.cpu is not None and "cpu" not in cols:
                cols.insert(1, "cpu")
            fields = ev.fields
            if isinstance(fields, dict):
                for k in fields:
                    if k not in cols and len(cols) < MAX_COLUMNS:
                        cols.append(k)
            elif fields is not None and "value" not in cols:
                cols.append("value")
            elif fields is None:
                for c in ("size", "data"):
                    if c not in cols:
                        cols.append(c)
        tcols = tuple(cols)
        for n, ev, arrived in events:
            for col, text in zip(tcols, row_cells(n, ev, tcols, arrived, clock), strict=True):
                cap = DATA_MAX if col == "data" else CELL_MAX
                w = max(self.widths.get(col, len(col)), min(len(text), cap), len(col))
                self.widths[col] = w

    def _show(self, follow: bool | None = None) -> None:
        log = self.query_one("#events", EventLog)
        shown = self.shown
        rows = shown.snapshot() if isinstance(shown, EventRing) else list(shown)
        log.set_rows(rows, tuple(self.columns), dict(self.widths), follow=follow)
        self._dirty = False

    def _update_status(self) -> None:
        log = self.query_one("#events", EventLog)
        state = self.state
        if self.paused:
            state = "⏸ paused (p resumes; reading continues)"
        elif state == "live" and not log.follow:
            state = "scrolled back (G: newest)"
        parts = [
            state,
            *([self.status_note] if self.status_note else []),
            f"{self.rate:,.0f} events/s",
            f"total {self.total:,}",
            f"lost {self.lost:,}",
            f"dropped {self.dropped:,}",
            f"kept {len(self.events):,}/{KEEP:,}",
        ]
        if self.type_name:
            parts.append(self.type_name)
        if self.filter_text:
            parts.append(f"filter {self.filter_text!r}: {len(self.shown):,} match")
        self.query_one("#ev-status", StatusLine).update("  ·  ".join(parts), layout=False)  # height 1

    # -- actions ------------------------------------------------------------------------------------

    def action_escape(self) -> None:
        """Escape: clear an active filter (or leave the empty filter) first, otherwise back."""
        f = self.query_one("#ev-filter", FilterBar)
        if f.value or f.has_focus:
            f.value = ""
            self.set_focus(self.query_one("#events", EventLog))
            return
        self.action_back()

    def action_back(self) -> None:
        self.workers.cancel_group(self, "events")
        self.dismiss()

    @on(EventLog.FollowChanged)
    def _follow_changed(self) -> None:
        if self.query_one("#events", EventLog).follow and self._dirty and not self.paused:
            self._show()  # what arrived while scrolled back
        self._update_status()

    @on(EventLog.Selected)
    def _open_event(self, message: EventLog.Selected) -> None:
        from mapexplorer.widgets.event_detail import EventDetailScreen, StackResolver

        n, (cpu, raw), arrived = message.row
        stacks = getattr(self.app, "stack_resolver", None)
        resolver = stacks(self.map_id) if callable(stacks) and self.map_id is not None else None
        self.app.push_screen(EventDetailScreen(self.make_event(cpu, raw), n, arrived, title=self.title_text,
                                               resolve_stack=cast("StackResolver | None", resolver),
                                               clock=self.clock()))

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            self._show()
        self._update_status()

    def action_focus_filter(self) -> None:
        self.query_one("#ev-filter", FilterBar).focus()

    def action_clear(self) -> None:
        self.events.clear()
        self.shown.clear()  # the same ring when there is no filter: clearing twice is harmless
        self.query_one("#events", EventLog).forget_events()
        self._show()
        self._update_status()

    def action_consume(self) -> None:
        """Switch a tapped ringbuf to consuming it, after a question naming whose records are taken."""
        offer = self._consume_offer
        if offer is None:
            self.notify("only a tapped ringbuf can be consumed", severity="warning", timeout=4)
            return
        question, accept = offer

        def answered(yes: bool | None) -> None:
            if not yes:
                return  # still tapping: nothing changed
            self._consume_offer = None
            self.action_clear()
            self.state = "opening…"
            self._update_status()
            self._read(accept)  # exclusive: the tapping worker is cancelled and closes its stream

        self.app.push_screen(ConfirmScreen(question), answered)

    def action_follow(self) -> None:
        log = self.query_one("#events", EventLog)
        log.cursor_n = None
        self._show(follow=True)
        self._update_status()

    @on(Input.Changed, "#ev-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        needle = self.filter_text.lower()
        make = self.make_event
        if needle:
            self.shown = deque((r for r in self.events if event_matches(make(*r[1]), needle)), maxlen=KEEP)
        else:
            self.shown = self.events
        self._show()
        self._update_status()


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question about touching another process's map; No is the default."""

    DEFAULT_CSS = """
    ConfirmScreen {
        align: center middle;
    }
    ConfirmScreen > Vertical {
        width: 72;
        height: auto;
        padding: 1 2;
        border: thick $warning;
        background: $surface;
    }
    ConfirmScreen #confirm-buttons {
        height: auto;
        margin-top: 1;
        align-horizontal: right;
    }
    ConfirmScreen Button {
        margin-left: 2;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question)
            with Horizontal(id="confirm-buttons"):
                yield Button("Yes (y)", id="yes", variant="warning")
                yield Button("No (n)", id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class _Decoded:
    """An event whose ``fields`` were decoded once (the stream's events decode on every read)."""

    __slots__ = ("cpu", "decoder", "fields", "raw", "size")

    def __init__(self, ev: Any) -> None:
        self.cpu = ev.cpu
        self.size = ev.size
        self.raw = ev.raw
        self.decoder = getattr(ev, "decoder", None)
        self.fields = ev.fields


def _no_stream(cpu: int | None, raw: Any) -> Any:
    raise LookupError("no stream is open")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
