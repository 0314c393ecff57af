"""The live event view (EventViewScreen) driven by Pilot.

Most tests feed a :class:`ListStream`, an in-memory stream with the EventStream interface, so the
screen's behaviour (columns, newest at the bottom, pause, filter, bounded memory, counters, end of
stream, closing) is checked with exact events; the last test reads a real ringbuf filled by a BCC
program.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.widgets import Static

from mapexplorer.semantics import Clock
from mapexplorer.widgets.event_view import KEEP, ConfirmScreen, EventLog, EventViewScreen

ROUNDS = 500  # pilot.pause(0.02) rounds a test waits at most for the worker (a bound, not a timing)


@dataclass(frozen=True, slots=True)
class FakeEvent:
    cpu: int | None
    size: int
    fields: Any
    raw: bytes


class ListStream:
    """Events handed over by the test, read by the screen's worker thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: list[FakeEvent] = []
        self._end: str | None = None
        self.total = 0
        self.lost = 0
        self.dropped = 0
        self.closed = False
        self.notices = ["tap mode: reading without moving the consumer position"]

    def describe(self) -> str:
        return "ringbuf 7 (test_events): tap"

    def take_notices(self) -> list[str]:
        out, self.notices = self.notices, []
        return out

    def feed(self, events: list[FakeEvent]) -> None:
        with self._cond:
            self._queue.extend(events)
            self._cond.notify_all()

    def end(self, reason: str) -> None:
        with self._cond:
            self._end = reason
            self._cond.notify_all()

    def make_event(self, cpu: int | None, raw: FakeEvent) -> FakeEvent:
        return raw  # the records handed out below carry the event itself

    def read_records(
        self, timeout: float, max_events: int | None = None, keep_last: int | None = None,
        linger: float = 0.0,
    ) -> list[tuple[int | None, FakeEvent]]:
        with self._cond:
            if not self._queue and self._end is None:
                self._cond.wait(timeout)
            if not self._queue and self._end is not None:
                raise EOFError(self._end)
            out, self._queue = self._queue, []
            self.total += len(out)
            return [(e.cpu, e) for e in (out[-keep_last:] if keep_last else out)]

    def close(self) -> None:
        self.closed = True


def seq_events(start: int, n: int, comm: str = "bash") -> list[FakeEvent]:
    return [
        FakeEvent(None, 24, {"seq": i, "comm": comm, "args": [i, 1]}, b"") for i in range(start, start + n)
    ]


class EventApp(App[None]):
    def __init__(self, factory: Callable[[], Any]) -> None:
        super().__init__()
        self.factory = factory

    def on_mount(self) -> None:
        self.push_screen(EventViewScreen(self.factory))


async def wait_for(pilot: Any, cond: Callable[[], bool]) -> bool:
    for _ in range(ROUNDS):
        if cond():
            return True
        await pilot.pause(0.02)
    return cond()


def seqs(screen: EventViewScreen, rows: Any) -> list[int]:
    """The ``seq`` field of each kept row (rows hold (n, (cpu, raw)); the screen makes the event)."""
    return [screen.make_event(*r[1]).fields["seq"] for r in rows]


def line_text(log: EventLog, y: int) -> str:
    return log.render_line(y).text


def screen_of(app: App) -> EventViewScreen:
    assert isinstance(app.screen, EventViewScreen)
    return app.screen


async def test_one_column_per_field_and_newest_at_the_bottom():
    stream = ListStream()
    app = EventApp(lambda: stream)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = screen_of(app)
        stream.feed(seq_events(0, 500))
        log = screen.query_one(EventLog)
        assert await wait_for(pilot, lambda: screen.total == 500 and len(log.rows) == 500)
        await pilot.pause()
        assert log.columns == ("#", "arrived", "age", "seq", "comm", "args")
        header = line_text(log, 0).split()
        assert header == ["#", "arrived", "age", "seq", "comm", "args"]
        last = line_text(log, log.scrollable_content_region.height - 1).split()
        assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", last[1])  # wall-clock arrival
        assert last[2] in ("now", "ago") or last[3] == "ago"  # its age
        assert last[:1] + last[-3:] == ["500", "499", "bash", "[499,1]"]
        status = str(screen.query_one("#ev-status").render())
        assert "total 500" in status and "lost 0" in status and "dropped 0" in status


async def test_memory_is_bounded_to_the_newest_events():
    stream = ListStream()
    app = EventApp(lambda: stream)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = screen_of(app)
        for start in range(0, 25_000, 5_000):
            stream.feed(seq_events(start, 5_000))
        assert await wait_for(pilot, lambda: screen.total == 25_000)
        await pilot.pause()
        assert len(screen.events) == KEEP
        assert seqs(screen, [screen.events[0], screen.events[-1]]) == [25_000 - KEEP, 24_999]
        assert screen.events[0][0] == 25_000 - KEEP + 1  # numbered by the stream's total
        assert f"kept {KEEP:,}/{KEEP:,}" in str(screen.query_one("#ev-status").render())


async def test_pause_freezes_the_table_while_counting_goes_on():
    stream = ListStream()
    app = EventApp(lambda: stream)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = screen_of(app)
        log = screen.query_one(EventLog)
        stream.feed(seq_events(0, 10))
        assert await wait_for(pilot, lambda: len(log.rows) == 10)
        await pilot.press("p")
        stream.feed(seq_events(10, 5))
        assert await wait_for(pilot, lambda: screen.total == 15)
        await pilot.pause()
        assert len(log.rows) == 10
        assert "paused" in str(screen.query_one("#ev-status").render())
        await pilot.press("p")
        assert seqs(screen, log.rows) == list(range(15))


async def test_filter_keeps_matching_events_only():
    stream = ListStream()
    app = EventApp(lambda: stream)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = screen_of(app)
        log = screen.query_one(EventLog)
        stream.feed(seq_events(0, 6, "bash") + seq_events(6, 4, "curl"))
        assert await wait_for(pilot, lambda: len(log.rows) == 10)
        await pilot.press("slash", *"comm=curl", "enter")
        assert seqs(screen, log.rows) == [6, 7, 8, 9]
        stream.feed(seq_events(10, 2, "bash") + seq_events(12, 1, "curl"))
        assert await wait_for(pilot, lambda: screen.total == 13)
        await pilot.pause()
        assert seqs(screen, log.rows) == [6, 7, 8, 9, 12]
        assert "4 match" not in str(screen.query_one("#ev-status").render())
        assert "5 match" in str(screen.query_one("#ev-status").render())


async def test_scrolled_back_rows_stay_put_and_the_newest_row_follows_again():
    stream = ListStream()
    app = EventApp(lambda: stream)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = screen_of(app)
        log = screen.query_one(EventLog)

        def status() -> str:
            return str(screen.query_one("#ev-status").render())

        stream.feed(seq_events(0, 100))
        assert await wait_for(pilot, lambda: len(log.rows) == 100)
        await pilot.press("k", "k")
        assert "scrolled back" in status()  # said at once, not at the next batch
        stream.feed(seq_events(100, 50))
        assert await wait_for(pilot, lambda: screen.total == 150)
        await pilot.pause()
        # what the user looks at stays put: the new events are kept, counted, not painted under them
        assert len(log.rows) == 100 and log.cursor_n == 98 and len(screen.events) == 150
        await pilot.press("j", "j")  # back on the newest row: following again, with what came meanwhile
        assert await wait_for(pilot, lambda: len(log.rows) == 150)
        assert log.follow and status().startswith("live")
        assert seqs(screen, log.rows[-1:]) == [149]


class StoppedClock:
    """A clock that moves only when told (Clock.now() otherwise)."""

    def __init__(self) -> None:
        self.wall, self.mono = 1_700_000_000.0, 1000.0

    def __call__(self) -> Clock:
        return Clock(self.wall, int(self.mono * 1e9))

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


async def test_ages_are_repainted_while_no_event_comes_only_when_they_read_differently():
    stream = ListStream()
    clock = StoppedClock()

    class ClockApp(App[None]):
        def on_mount(self) -> None:
            self.push_screen(EventViewScreen(lambda: stream, clock=clock))

    app = ClockApp()
    async with app.run_test(size=(120, 30)) as pilot:
        screen = screen_of(app)
        log = screen.query_one(EventLog)
        stream.feed(seq_events(0, 3))
        assert await wait_for(pilot, lambda: len(log.rows) == 3)
        repaints: list[int] = []
        refresh = log.refresh

        def counting_refresh(*args: Any, **kw: Any) -> Any:
            repaints.append(1)
            return refresh(*args, **kw)

        log.refresh = counting_refresh  # type: ignore[method-assign]
        await pilot.pause(1.2)  # idle batches come every 0.5 s: the clock stood still, nothing to repaint
        assert repaints == []
        clock.advance(5.0)
        assert await wait_for(pilot, lambda: bool(repaints))
        await pilot.pause(0.1)
        assert "5s ago" in line_text(log, 3)  # the newest row's age, as repainted


async def test_undecoded_events_show_cpu_size_and_bytes():
    stream = ListStream()
    app = EventApp(lambda: stream)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = screen_of(app)
        log = screen.query_one(EventLog)
        stream.feed([FakeEvent(1, 4, None, b"ab\x00\x01")])
        assert await wait_for(pilot, lambda: len(log.rows) == 1)
        await pilot.pause()
        assert log.columns == ("#", "cpu", "arrived", "age", "size", "data")
        cells = line_text(log, 1).split()
        assert cells[:2] + cells[-6:] == ["1", "1", "4", "61", "62", "00", "01", "|ab..|"]


async def test_counters_and_end_of_stream_are_shown_and_back_closes_the_stream():
    stream = ListStream()
    stream.lost, stream.dropped = 5, 3
    app = EventApp(lambda: stream)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = screen_of(app)
        stream.feed(seq_events(0, 2))
        stream.end("map 7 (test_events) was freed: no program, process or pin holds it any more")
        assert await wait_for(pilot, lambda: screen.state.startswith("ended:"))
        await pilot.pause()
        status = str(screen.query_one("#ev-status").render())
        assert "lost 5" in status and "dropped 3" in status and "was freed" in status
        assert screen.total == 2
        assert stream.closed
        await pilot.press("escape")
        assert not isinstance(app.screen, EventViewScreen)


async def test_back_cancels_the_reader_and_closes_the_stream():
    stream = ListStream()
    app = EventApp(lambda: stream)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = screen_of(app)
        assert await wait_for(pilot, lambda: screen.state == "live")
        await pilot.press("escape")
        assert await wait_for(pilot, lambda: stream.closed)


async def test_a_stream_that_cannot_open_says_why():
    def factory() -> Any:
        raise OSError(16, "every slot of perf_event_array 9 is used by another reader")

    app = EventApp(factory)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = screen_of(app)
        assert await wait_for(pilot, lambda: screen.state.startswith("failed:"))
        assert "used by another reader" in str(screen.query_one("#ev-status").render())


class BrokenStream(ListStream):
    """A stream with a bug: describing itself raises (an unexpected error in the reader worker)."""

    def describe(self) -> str:
        raise TypeError("describe() is broken")


async def test_an_unexpected_error_in_the_reader_is_shown_not_silent():
    # Worker.StateChanged does not bubble to the app: the screen must report its own worker's death.
    app = EventApp(BrokenStream)
    async with app.run_test(size=(120, 30)) as pilot:
        assert await wait_for(pilot, lambda: any("TypeError" in n.message for n in app._notifications))
        (note,) = [n for n in app._notifications if "TypeError" in n.message]
        assert "describe() is broken" in note.message and note.severity == "error"


class NeedsConsent(Exception):
    def __init__(self, stream: ListStream) -> None:
        super().__init__("consent needed")
        self.question = "perf_event_array 9 is held by python[1]. Install mapexplorer's perf rings?"
        self.accepted = 0
        self._stream = stream

    def accept(self) -> ListStream:
        self.accepted += 1
        return self._stream


@pytest.mark.parametrize("answer", ["y", "n"])
async def test_installing_into_another_process_map_asks_first(answer):
    stream = ListStream()
    asked = NeedsConsent(stream)

    def factory() -> Any:
        raise asked

    app = EventApp(factory)
    async with app.run_test(size=(120, 30)) as pilot:
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Install mapexplorer's perf rings?" in str(app.screen.query_one(Static).render())
        await pilot.press(answer)
        screen = screen_of(app)
        if answer == "y":
            stream.feed(seq_events(0, 3))
            assert await wait_for(pilot, lambda: screen.total == 3)
            assert asked.accepted == 1
        else:
            await pilot.pause()
            assert asked.accepted == 0
            assert screen.state.startswith("not started: nothing was installed")


@pytest.mark.skipif(os.geteuid() != 0, reason="bpf() needs root")
async def test_real_ringbuf_events_through_open_stream():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "kernel"))
    import stream_producer as sp

    from mapexplorer.streams import open_stream

    producer = sp.Producer()
    try:
        app = EventApp(lambda: open_stream(producer.ringbuf_id, type_name="test_ev"))
        async with app.run_test(size=(120, 30)) as pilot:
            screen = screen_of(app)
            assert await wait_for(pilot, lambda: screen.state == "live")
            producer.emit(50)
            log = screen.query_one(EventLog)
            assert await wait_for(pilot, lambda: len(log.rows) == 50)
            assert seqs(screen, log.rows) == list(range(50))
            assert log.columns == ("#", "arrived", "age", "seq", "pid", "neg", "comm", "arr")
            assert "struct test_ev" in str(screen.query_one("#ev-status").render())
            await pilot.press("escape")
    finally:
        producer.close()


async def test_a_stream_shared_with_the_demo_says_so_in_the_status_line():
    """Under --demo, the demo's own streams are shared in-process (streams.open_stream sets status_note):
    no question is asked and the status line says whose stream it is."""
    stream = ListStream()
    stream.status_note = "sharing the demo's stream"  # type: ignore[attr-defined]
    app = EventApp(lambda: stream)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = screen_of(app)
        stream.feed(seq_events(0, 3))
        assert await wait_for(pilot, lambda: screen.total == 3)
        await pilot.pause()
        status = str(screen.query_one("#ev-status").render())
        assert status.startswith("live  ·  sharing the demo's stream  ·  ")
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("p")
        assert "paused" in str(screen.query_one("#ev-status").render())
        assert "sharing the demo's stream" in str(screen.query_one("#ev-status").render())
