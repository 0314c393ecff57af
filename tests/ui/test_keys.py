"""The keyboard model on every screen (Pilot): j/k/g/G/Home/End, q back (quit on the list), Escape clears a
filter first and never quits, s/S, Enter everywhere, and focus returning where it was after every
sub-screen closes (the event view's `w` then Escape used to leave focus on a hidden filter that swallowed
q/w/p/x/s). Help and the palette list the keys of the screen in front."""

from __future__ import annotations

from typing import Any

from textual.binding import Binding
from textual.widgets import Input

from mapexplorer.app import make_app
from mapexplorer.replay_source import ReplaySource
from mapexplorer.screens.detail import EntryDetailScreen
from mapexplorer.screens.drilldown import DrillDownScreen
from mapexplorer.screens.help import HelpScreen
from mapexplorer.screens.map_list import MapListScreen, MapTable
from mapexplorer.screens.map_view import MapViewScreen
from mapexplorer.widgets.entry_table import EntryTable
from mapexplorer.widgets.event_detail import EventDetailScreen
from mapexplorer.widgets.event_view import EventLog, EventViewScreen
from ui.helpers import FIXTURE, fixture_app, press, settle
from ui.test_event_view import FakeEvent, ListStream, wait_for

SIZE = (120, 36)


class StreamingSource(ReplaySource):
    """The recorded maps, and an in-memory stream for every stream map (the fixtures record no events)."""

    def __init__(self) -> None:
        super().__init__(FIXTURE, follow_reads=True)
        self.stream = ListStream()
        self.stream.feed([FakeEvent(None, 16, {"seq": i, "comm": "bash", "kernel_stack_id": 7}, b"x" * 16)
                          for i in range(30)])

    def stream_factory(self, map_id: int) -> Any:
        return lambda: self.stream


async def _until(pilot: Any, cond: Any) -> None:
    assert await wait_for(pilot, cond)


def _focus_is_not_a_hidden_filter(app: Any) -> None:
    focused = app.screen.focused
    assert not isinstance(focused, Input) or focused.display


async def test_the_whole_walk_without_a_swallowed_key() -> None:
    """list -> map -> drill-down -> back -> ringbuf -> w -> Enter on an event -> back -> back -> q."""
    app = make_app(StreamingSource(), refresh=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#maps", MapTable)
        names = [r.cells[1] for r in table.rows]
        await press(pilot, "G")
        assert table.cursor_row == table.row_count - 1
        await press(pilot, "g")
        assert table.cursor_row == 0
        await press(pilot, *["j"] * names.index("fx_pcpu_stats"), "enter")
        assert isinstance(app.screen, MapViewScreen)
        await press(pilot, "enter")
        assert isinstance(app.screen, DrillDownScreen)
        await press(pilot, "escape")
        assert isinstance(app.screen, MapViewScreen)
        assert isinstance(app.screen.focused, EntryTable)  # focus came back to the entries
        await press(pilot, "q")
        assert isinstance(app.screen, MapListScreen) and app.screen.focused is table
        await press(pilot, "g", *["j"] * names.index("demo_ringbuf"), "enter")
        assert isinstance(app.screen, MapViewScreen)
        await pilot.press("w")  # not press(): its settle would wait for the stream reader, which never ends
        await _until(pilot, lambda: isinstance(app.screen, EventViewScreen))
        view = app.screen
        assert isinstance(view, EventViewScreen)
        log = view.query_one(EventLog)
        await _until(pilot, lambda: len(log.rows) == 30)
        assert "demo_ringbuf" in view.title_text  # the title names the map
        await pilot.press("k", "k", "enter")
        await _until(pilot, lambda: isinstance(app.screen, EventDetailScreen))
        assert app.screen.number == 28  # the newest is 30: two up
        await pilot.press("escape")
        await _until(pilot, lambda: app.screen is view)
        await pilot.pause()
        assert app.screen.focused is log
        assert "scrolled back" in str(view.query_one("#ev-status").render())  # not "live" while back
        await pilot.press("escape")
        await _until(pilot, lambda: isinstance(app.screen, MapViewScreen))
        await pilot.pause()
        _focus_is_not_a_hidden_filter(app)
        await press(pilot, "x")  # reaches the screen (the bug: the hidden filter swallowed it)
        assert app.screen.query_one("#entries", EntryTable).hex_mode
        await press(pilot, "q")
        assert isinstance(app.screen, MapListScreen)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0 and not app.is_running


async def test_escape_clears_a_filter_first_and_never_quits() -> None:
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "slash", *"proc", "enter")
        f = app.screen.query_one("#filter", Input)
        assert f.value == "proc"
        await press(pilot, "escape")
        assert f.value == "" and isinstance(app.screen.focused, MapTable)
        await press(pilot, "escape", "escape")
        assert isinstance(app.screen, MapListScreen) and app.is_running
    app = fixture_app(open_map="demo_proc_stats")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "slash", *"bash", "enter")
        f = app.screen.query_one("#entry-filter", Input)
        await press(pilot, "escape")
        assert isinstance(app.screen, MapViewScreen) and f.value == ""
        await press(pilot, "escape")
        assert isinstance(app.screen, MapListScreen)


async def test_entry_detail_and_back_keep_the_cursor_row() -> None:
    app = fixture_app(open_map="demo_proc_stats")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        entries = app.screen.query_one("#entries", EntryTable)
        await press(pilot, "j", "j", "enter")
        assert isinstance(app.screen, EntryDetailScreen)
        await press(pilot, "q")
        assert app.screen.focused is entries and entries.cursor_row == 2


async def test_map_view_s_sorts_by_cursor_column_and_S_reverses() -> None:
    app = fixture_app(open_map="fx_pcpu_stats")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        entries = app.screen.query_one("#entries", EntryTable)
        await press(pilot, "l", "s")
        assert entries.sort_col == 1 and not entries.sort_reverse
        await press(pilot, "S")
        assert entries.sort_col == 1 and entries.sort_reverse


async def test_help_lists_the_keys_of_the_screen_in_front() -> None:
    app = make_app(StreamingSource(), refresh=0, open_map="demo_ringbuf")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        first = dict(app.screen.sections[0][1])
        assert first["w"] == "Watch events" and first["x"] == "Toggle hex view" and first["q"]
        await press(pilot, "escape")
        await pilot.press("w")  # not press(): its settle would wait for the stream reader, which never ends
        await _until(pilot, lambda: isinstance(app.screen, EventViewScreen))
        titles = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert titles["Open the event"] == "key: " + app.get_key_display(Binding("enter", "select"))
        assert "Pause" in titles
        await pilot.press("question_mark")
        await _until(pilot, lambda: isinstance(app.screen, HelpScreen))
        keys = dict(app.screen.sections[0][1])
        assert "Open the event" in keys.values() and "Newest" in keys.values()
        assert "takeover" in app.screen.legend and "tap" in app.screen.legend
