"""Pilot tests of the programs screen over the recorded programs (tests/fixtures/programs.json): P from
anywhere, run statistics on only while the screen shows, rates between two refreshes, sorting, Enter on a
program (its maps) and on a map (its view), P from a map view (that map's programs), writers and readers in
the map header, and a program whose instructions the kernel hides."""

from __future__ import annotations

import json

from textual.widgets import DataTable, Static

from mapexplorer.screens.map_list import MapListScreen
from mapexplorer.screens.map_view import MapViewScreen
from mapexplorer.screens.programs import ProgramMapsScreen, ProgramsScreen
from mapexplorer.widgets.common import MapHeader
from mapexplorer.widgets.row_table import RowTable
from tests.ui.helpers import PROGRAMS_FIXTURE, fixture_app, press, settle

SIZE = (160, 40)
RECORDED = {p["id"]: p for p in json.loads(PROGRAMS_FIXTURE.read_text())["programs"]}


def _cell(table: DataTable | RowTable, row_key: str, col: str) -> str:
    if isinstance(table, RowTable):
        return table.cell(row_key, col)
    return str(table.get_cell(row_key, col))


def _row_keys(table: DataTable | RowTable) -> list[str]:
    if isinstance(table, RowTable):
        return [r.key for r in table.rows]
    return [str(table.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(table.row_count)]


async def test_p_lists_every_program_with_rates_and_stats_only_while_shown() -> None:
    app = fixture_app(programs=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.source._programs.stats_on is False
        await press(pilot, "P")
        screen = app.screen
        assert isinstance(screen, ProgramsScreen)
        assert app.source._programs.stats_on is True
        table = screen.query_one("#progs", RowTable)
        assert sorted(int(k) for k in _row_keys(table)) == sorted(RECORDED)
        assert "run statistics ON" in str(screen.query_one("#progs-head", Static).render())
        await press(pilot, "r")  # a second frame: rates over one second
        runs = RECORDED[301]["runs"]
        d_cnt, d_ns = runs[1][0] - runs[0][0], runs[1][1] - runs[0][1]
        assert _cell(table, "301", "rate") == f"{d_cnt:,.0f}"
        assert _cell(table, "301", "avg") == f"{d_ns / d_cnt:,.0f}"
        assert _cell(table, "301", "cpu") == f"{100 * d_ns / (1e9 * 4):.2f}"
        assert _cell(table, "301", "name") == "tracepoint__raw_syscalls__sys_enter"
        assert _cell(table, "311", "maps") == "fx_pcpu_stats:?"  # instructions hidden by the kernel
        await press(pilot, "escape")
        assert isinstance(app.screen, MapListScreen)
        await settle(pilot)
        assert app.source._programs.stats_on is False


async def test_sort_by_runs_per_second_puts_the_busiest_first() -> None:
    app = fixture_app(programs=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "P", "r")
        screen = app.screen
        assert isinstance(screen, ProgramsScreen)
        while screen.sort_key != "rate":
            await press(pilot, "s")
        keys = [int(k) for k in _row_keys(screen.query_one("#progs", RowTable))]
        rates = {pid: p["runs"][1][0] - p["runs"][0][0] for pid, p in RECORDED.items()}
        assert keys == sorted(rates, key=lambda pid: rates[pid], reverse=True)


async def test_enter_program_maps_then_map_view_then_p_lists_its_programs() -> None:
    app = fixture_app(programs=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "P")
        await press(pilot, "enter")  # the first row: program 301
        screen = app.screen
        assert isinstance(screen, ProgramMapsScreen)
        table = screen.query_one("#prog-maps", DataTable)
        assert [(int(k), _cell(table, k, "access")) for k in _row_keys(table)] == [
            tuple(m) for m in RECORDED[301]["maps"]
        ]
        await press(pilot, "enter")  # demo_proc_stats (rw)
        view = app.screen
        assert isinstance(view, MapViewScreen) and view.map_id == 2492
        header = str(view.query_one("#facts", MapHeader).render())
        writers = "tracepoint__raw_syscalls__sys_enter, tracepoint__sched__sched_process_exit"
        assert f"written by {writers}" in header
        assert "read by tracepoint__raw_syscalls__sys_enter" in header
        await press(pilot, "P")
        progs = app.screen
        assert isinstance(progs, ProgramsScreen) and progs.map_id == 2492
        t = progs.query_one("#progs", RowTable)
        assert {k: _cell(t, k, "access") for k in _row_keys(t)} == {"301": "rw", "302": "w"}
        await press(pilot, "escape")
        assert app.screen is view
        await settle(pilot)
        assert app.source._programs.stats_on is False


async def test_probable_writer_and_hidden_instructions_are_said() -> None:
    app = fixture_app(programs=True, open_map="demo_last_event")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        header = str(app.screen.query_one("#facts", MapHeader).render())
        assert "written by tracepoint__syscalls__sys_enter_openat (probably)" in header
        await press(pilot, "P", "escape", "escape", "P")
        screen = app.screen
        assert isinstance(screen, ProgramsScreen) and screen.map_id is None
        table = screen.query_one("#progs", RowTable)
        table.move_to_key("311")
        await press(pilot, "enter")
        head = str(app.screen.query_one("#prog-head", Static).render())
        assert "reads/writes unknown: constant blinding is on" in head


async def test_without_recorded_programs_the_screen_says_so() -> None:
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await press(pilot, "P")
        empty = app.screen.query_one("#progs-empty", Static)
        assert empty.display and "No BPF programs are loaded" in str(empty.render())
