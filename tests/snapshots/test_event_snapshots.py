"""Snapshot tests of the event view, the event detail (Enter on an event) and the entry detail screen.

The events come from tests/fixtures/events.jsonl, a recording (docs/recording.md) of bench/event_producer.py's
ringbuf (30 ``struct evx_bench_event`` records, decoded with the BTF recorded for the programs' map of that
struct, as a live stream decodes them); the screen runs against a fixed clock set from the recording's own
clocks, so arrival times, ages and the BPF timestamps read the same on every run and every day. Entries come
from the maps fixture (tests/fixtures/maps.jsonl). Update baselines with
``.venv/bin/python -m pytest tests/snapshots --snapshot-update`` and look at them as images.
"""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from mapexplorer.app import make_app
from mapexplorer.replay_source import ReplaySource
from mapexplorer.semantics import Clock
from mapexplorer.widgets.event_detail import EventDetailScreen
from mapexplorer.widgets.event_view import EventLog, EventViewScreen
from tests.ui.helpers import FIXTURES, fixture_app, press, settle

SIZE = (120, 36)
EVENTS = FIXTURES / "events.jsonl"
ROUNDS = 500


class FixedClock:
    """Now, as the recording's clocks would say ``after`` seconds past its last event; moved only by
    :meth:`advance`."""

    def __init__(self, source: ReplaySource, map_id: int, after: float) -> None:
        h = source.recording.header
        last = source.recording.events[map_id][-1].t
        self.mono = last + after
        self.wall = h.wall + (self.mono - h.mono)

    def __call__(self) -> Clock:
        return Clock(self.wall, int(self.mono * 1e9))

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


async def _until(pilot: Pilot, cond: Any) -> None:
    for _ in range(ROUNDS):
        if cond():
            return
        await pilot.pause(0.02)
    assert cond()


def _event_view_run(*keys: str):
    """run_before: open the recorded ringbuf's event view on a fixed clock, wait for its 30 events, let
    2.5 s pass on that clock (ages), repaint, then press ``keys``."""

    async def run(pilot: Pilot) -> None:
        await settle(pilot)
        app = pilot.app
        source = app.source
        assert isinstance(source, ReplaySource)
        map_id = source.resolve("evx_bench_rb")
        clock = FixedClock(source, map_id, after=0.5)
        factory = source.stream_factory(map_id)
        assert factory is not None
        view = EventViewScreen(factory, title=f"events of evx_bench_rb (map {map_id})", map_id=map_id,
                               clock=clock)
        await app.push_screen(view)
        log = view.query_one(EventLog)
        await _until(pilot, lambda: len(log.rows) == 30 and view.type_name is not None)
        await _until(pilot, lambda: log.scroll_y == log.max_scroll_y)  # following: at the bottom
        clock.advance(2.5)
        await pilot.pause(0.1)  # past the table's clock reuse (one clock per repaint)
        view.query_one(EventLog).refresh()
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        if keys and keys[-1] == "enter":
            await _until(pilot, lambda: isinstance(app.screen, EventDetailScreen))
        await pilot.pause()

    return run


def _events_app():
    return make_app(ReplaySource(EVENTS, follow_reads=True), refresh=0)


def test_event_view_decoded_with_times(snap_compare) -> None:
    """Newest at the bottom, one column per field, arrival and age, ts_ns as wall-clock time and age."""
    assert snap_compare(_events_app(), terminal_size=SIZE, run_before=_event_view_run())


def test_event_view_scrolled_back(snap_compare) -> None:
    """The cursor moved up: its row highlighted, the status says scrolled back instead of live."""
    assert snap_compare(_events_app(), terminal_size=SIZE, run_before=_event_view_run("k", "k", "k"))


def test_event_detail(snap_compare) -> None:
    """Enter on an event: every field untruncated, friendly with the raw number beside, the bytes."""
    assert snap_compare(_events_app(), terminal_size=SIZE, run_before=_event_view_run("k", "enter"))


def test_entry_detail_struct_value(snap_compare) -> None:
    """Enter on an entry: its key and value in full (indented JSON) and the raw bytes."""

    async def run(pilot: Pilot) -> None:
        await settle(pilot)
        await press(pilot, "j", "j", "enter")

    assert snap_compare(fixture_app(open_map="demo_proc_stats"), terminal_size=SIZE, run_before=run)


def test_entry_detail_stack_trace(snap_compare) -> None:
    """A stack trace entry: one frame per line."""

    async def run(pilot: Pilot) -> None:
        await settle(pilot)
        await press(pilot, "enter")

    assert snap_compare(fixture_app(open_map="demo_stacks"), terminal_size=SIZE, run_before=run)
