"""Pilot tests of navigation and behaviour over the recorded fixtures (no kernel needed)."""

from __future__ import annotations

from textual.command import CommandList
from textual.widgets import Input

from mapexplorer.model import MapGone
from mapexplorer.replay_source import ReplaySource
from mapexplorer.screens.drilldown import DrillDownScreen
from mapexplorer.screens.help import HelpScreen
from mapexplorer.screens.map_list import MapListScreen, MapTable
from mapexplorer.screens.map_view import MapViewScreen
from mapexplorer.widgets.common import TooSmall
from mapexplorer.widgets.entry_table import EntryTable
from tests.ui.helpers import FIXTURE, fixture_app, fixture_source, press, settle

SIZE = (120, 36)


def _ids(name: str) -> int:
    return fixture_source().resolve(name)


async def test_filter_enter_enter_opens_the_percpu_map() -> None:
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "slash", *"pcpu_st", "enter")
        table = app.screen.query_one("#maps", MapTable)
        assert table.row_count == 1
        assert app.screen.focused is table
        await press(pilot, "enter")
        assert isinstance(app.screen, MapViewScreen)
        assert app.screen.map_id == _ids("fx_pcpu_stats")
        entries = app.screen.query_one("#entries", EntryTable)
        labels = [c.label for c in entries.plan.columns]
        assert labels[0] == "key"
        assert {"packets.sum", "packets.cpu0", "packets.cpu1", "packets.cpu3", "bytes.cpu3"} <= set(labels)
        assert "packets.cpu4" not in labels
        await press(pilot, "escape")
        assert isinstance(app.screen, MapListScreen)
        assert app.screen.query_one("#filter", Input).value == "pcpu_st"


async def test_percpu_64_columns_and_drilldown() -> None:
    app = fixture_app(ncpus=64, open_map="fx_pcpu_stats")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "r", "r", "down")
        entries = app.screen.query_one("#entries", EntryTable)
        labels = [c.label for c in entries.plan.columns]
        assert "packets.cpu63" in labels and "bytes.cpu63" in labels
        cells, _ = entries._row(entries.current_row()).cells, None
        sum_col = labels.index("packets.sum")
        cpu_cols = [labels.index(f"packets.cpu{c}") for c in range(64)]
        assert int(cells[sum_col]) == sum(int(cells[j]) for j in cpu_cols)
        await press(pilot, "enter")
        assert isinstance(app.screen, DrillDownScreen)
        screen = app.screen
        assert screen.ncpus == 64 and len(screen.query("CpuRow")) == 64
        assert len(screen.history) >= 2
        await press(pilot, "f")
        assert screen.path == "bytes"
        await press(pilot, "escape")
        assert isinstance(app.screen, MapViewScreen)


async def test_horizontal_scroll_keeps_the_key_pinned() -> None:
    app = fixture_app(ncpus=64, open_map="fx_pcpu_stats")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, *["right"] * 60)
        entries = app.screen.query_one("#entries", EntryTable)
        assert entries.scroll_offset.x > 0
        line = "".join(seg.text for seg in entries.render_line(1))
        assert line.startswith("0 ")  # key column of the first row still on the left


async def test_cursor_kept_on_the_same_key_across_refresh() -> None:
    app = fixture_app(open_map="demo_proc_stats")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "down", "down", "down")
        entries = app.screen.query_one("#entries", EntryTable)
        snap = entries.snapshot
        key = snap.key_raw(entries.current_row())
        await press(pilot, "r", "r")
        assert entries.snapshot is not snap
        assert entries.snapshot.key_raw(entries.current_row()) == key


async def test_map_of_maps_enter_opens_the_inner_map() -> None:
    app = fixture_app(open_map="demo_hom_tenant")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        outer = app.screen
        entries = outer.query_one("#entries", EntryTable)
        inner_id = entries.snapshot.value(entries.current_row())["inner_map_id"]
        await press(pilot, "enter")
        assert isinstance(app.screen, MapViewScreen) and app.screen is not outer
        assert app.screen.map_id == inner_id
        await press(pilot, "escape")
        assert app.screen is outer


async def test_queue_is_peeked_not_listed() -> None:
    app = fixture_app(open_map="demo_queue_exec")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        entries = app.screen.query_one("#entries", EntryTable)
        assert entries.snapshot.kind == "peek" and entries.row_count == 1
        assert "read by peek" in str(app.screen.query_one("#status").render())


async def test_stream_maps_explain_instead_of_an_empty_table() -> None:
    app = fixture_app(open_map="demo_ringbuf")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        explain = app.screen.query_one("#explain")
        assert explain.display and not app.screen.query_one("#entries").display
        assert "press w" in str(explain.render()).lower() or "w to watch" in str(explain.render())


async def test_vanished_map_returns_to_the_list_with_a_notice() -> None:
    app = fixture_app(
        open_map="demo_proc_stats", errors={"demo_proc_stats": lambda i: MapGone(f"map {i} is gone")}
    )
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, MapListScreen)
        assert any("is gone" in n.message for n in app._notifications)


async def test_sort_list_by_name_and_reverse() -> None:
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "l", "s")  # the column cursor moves from ID to Name; s sorts by it
        screen = app.screen
        assert screen.sort_key == "name"
        table = screen.query_one("#maps", MapTable)
        header = "".join(seg.text for seg in table.render_line(0))
        assert header.split()[:4] == ["ID", "Name", "▲", "Type"]  # the arrow moved to the sorted column
        names = [r.cells[1] for r in table.rows]
        assert names == sorted(names, key=str.lower)
        await press(pilot, "S")
        names = [r.cells[1] for r in table.rows]
        assert names == sorted(names, key=str.lower, reverse=True)
        assert "Name ▼" in "".join(seg.text for seg in table.render_line(0))


async def test_entry_sort_by_column() -> None:
    app = fixture_app(open_map="fx_pcpu_stats")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "right", "s", "s")  # packets.sum, descending
        entries = app.screen.query_one("#entries", EntryTable)
        assert entries.sort_col == 1 and entries.sort_reverse
        sums = [int(entries._row(entries.snapshot_row(v)).cells[1]) for v in range(entries.row_count)]
        assert sums == sorted(sums, reverse=True)


async def test_entry_filter_on_a_column() -> None:
    app = fixture_app(open_map="demo_proc_stats")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "slash", *"comm:bash", "enter")
        entries = app.screen.query_one("#entries", EntryTable)
        comm = [c.label for c in entries.plan.columns].index("comm")
        rows = [entries._row(entries.snapshot_row(v)).cells[comm] for v in range(entries.row_count)]
        assert rows and all("bash" in r for r in rows)
        assert entries.row_count < entries.snapshot.count


async def test_hex_toggle() -> None:
    app = fixture_app(open_map="demo_proc_stats")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "x")
        entries = app.screen.query_one("#entries", EntryTable)
        assert [c.label for c in entries.plan.columns] == ["key (hex)", "value (hex)"]
        row = entries._row(0).cells
        assert row[0] == entries.snapshot.key_raw(0).hex(" ")


async def test_help_and_palette_commands() -> None:
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Filter maps", "Pause / resume refresh", "Help"} <= set(titles)
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        await press(pilot, "escape")
        assert isinstance(app.screen, MapListScreen)


async def test_pause_stops_the_list_refresh() -> None:
    source = fixture_source()
    from mapexplorer.app import make_app

    app = make_app(source, refresh=30.0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen._timer is not None  # live: the next poll is scheduled after the last one finished
        await press(pilot, "p")
        assert screen.paused
        calls = source.list_calls
        await press(pilot, "r")  # a manual refresh still works while paused...
        assert source.list_calls == calls + 1
        assert "paused" in str(screen.query_one("#status").render())


async def test_too_small_terminal_says_so() -> None:
    app = fixture_app()
    async with app.run_test(size=(70, 20)) as pilot:
        await settle(pilot)
        assert app.screen.query_one(TooSmall).display
    app = fixture_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert not app.screen.query_one(TooSmall).display


async def test_unknown_map_name_is_a_notice_on_the_list() -> None:
    app = fixture_app(open_map="no_such_map")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, MapListScreen)
        assert any("no map named 'no_such_map'" in n.message for n in app._notifications)


async def test_hex_toggle_after_refreshes_and_back() -> None:
    app = fixture_app(open_map="demo_lpm_routes")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "r", "r", "x")
        entries = app.screen.query_one("#entries", EntryTable)
        assert entries.plan.hex_mode and entries._row(0).cells[0] == entries.snapshot.key_raw(0).hex(" ")
        await press(pilot, "x")
        assert not entries.plan.hex_mode and "/" in entries._row(0).cells[0]  # CIDR key again


class _ChangingSource(ReplaySource):
    """The recorded maps, minus the first one from the second listing on (a map freed between refreshes)."""

    def list_maps(self):  # type: ignore[no-untyped-def]
        snap = super().list_maps()
        if self.list_calls > 1:
            return type(snap)(snap.rows[1:], snap.taken_at)
        return snap


async def test_list_refresh_keeps_the_cursor_on_its_map_when_another_disappears() -> None:
    from mapexplorer.app import make_app

    app = make_app(_ChangingSource(FIXTURE, follow_reads=True), refresh=0)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#maps", MapTable)
        first_count = table.row_count
        await press(pilot, "down", "down", "down")
        key = table.current_key()
        row = table.cursor_row
        await press(pilot, "r")
        assert table.row_count == first_count - 1
        assert table.current_key() == key and table.cursor_row == row - 1


async def test_palette_commands_run_the_screen_actions() -> None:
    app = fixture_app(open_map="demo_proc_stats")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        assert {
            "Toggle hex view",
            "Filter entries",
            "Sort by the current column",
            "Help",
            "Back to the map list",
        } <= set(commands)
        commands["Toggle hex view"].callback()
        await settle(pilot)
        assert app.screen.query_one("#entries", EntryTable).hex_mode


async def test_command_palette_typed_action() -> None:
    app = fixture_app(open_map="demo_proc_stats")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "ctrl+p", *"toggle hex")
        commands = app.screen.query_one(CommandList)
        for _ in range(100):  # the palette searches in the background: wait for its first hit
            if commands.option_count:
                break
            await pilot.pause(0.05)
        await press(pilot, "enter")
        assert isinstance(app.screen, MapViewScreen)
        assert app.screen.query_one("#entries", EntryTable).hex_mode


async def test_filter_matching_nothing_says_so() -> None:
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "slash", *"zzz")
        empty = app.screen.query_one("#list-empty")
        assert empty.display and "No map matches 'zzz'" in str(empty.render())
        await press(pilot, "escape")
        assert not empty.display and app.screen.query_one("#maps", MapTable).row_count > 0


async def test_watch_key_on_a_stream_map_routes_to_the_event_view_or_says_why() -> None:
    app = fixture_app(open_map="demo_ringbuf")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "w")
        # the fixture source records no events: the app says so instead of opening an empty view
        assert isinstance(app.screen, MapViewScreen)
        assert any("cannot stream" in n.message for n in app._notifications)
    app = fixture_app(open_map="demo_proc_stats")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "w")
        assert any("ringbuf and perf_event_array" in n.message for n in app._notifications)


async def test_table_takes_focus_back_when_maps_appear_in_an_empty_kernel() -> None:
    """`mapexplorer --demo` on a fresh box starts with no maps: hiding the empty table moves focus to the
    filter, and it must come back to the table once maps appear, so `/` focuses the filter again."""
    app = fixture_app()
    source = app.source
    recorded, source._rows = source._rows, {}
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.screen.query_one("#list-empty").display
        source._rows = recorded
        app.screen.poll()  # the next timed refresh (a key would land in the focused filter)
        await settle(pilot)
        table = app.screen.query_one("#maps", MapTable)
        assert table.display and table.has_focus
        await press(pilot, "slash", *"pcpu")
        assert app.screen.query_one("#filter", Input).value == "pcpu"
