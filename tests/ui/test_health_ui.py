"""Map health in the TUI over the real kernel: fill with colour bands, sort by fill, the doctor's findings
screen (Enter opens the map), memory by owner, and counts that come from the BPF iterator, not from
reading maps. The maps (hl_ui_*) are created by the test and freed at its end."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from textual.widgets import DataTable, Static

from mapexplorer.app import make_app
from mapexplorer.kernel import health, maps
from mapexplorer.kernel.names import map_type_id
from mapexplorer.screens.doctor import DoctorScreen
from mapexplorer.screens.map_list import MapListScreen, MapTable
from mapexplorer.screens.map_view import MapViewScreen
from mapexplorer.widgets.health_cells import GroupTable
from tests.ui.helpers import press, settle

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for bpf()"),
]


@pytest.fixture
def health_maps() -> Iterator[dict[str, maps.Map]]:
    with ExitStack() as stack:
        out = {}
        for name, kind, max_entries, fill in [
            ("hl_ui_full", "hash", 16, 16),
            ("hl_ui_ninety", "hash", 100, 90),
            ("hl_ui_half", "lru_hash", 100, 50),
        ]:
            m = maps.Map(maps.create_map(map_type_id(kind), 4, 8, max_entries, name=name))
            stack.callback(m.close)
            for k in range(fill):
                m.update(struct.pack("<I", k), struct.pack("<Q", k))
            out[name] = m
        yield out


def _row_cells(screen: MapListScreen, map_id: int) -> dict[str, tuple[str, str]]:
    """Column key -> (text, style) of the map's row as the table holds it."""
    table = screen.query_one("#maps", MapTable)
    row = next(r for r in table.rows if r.key == str(map_id))
    return {c.key: (text, style) for c, text, style in zip(table.columns, row.cells, row.styles, strict=True)}


async def test_fill_bands_sort_and_summary(health_maps, monkeypatch) -> None:
    read: list[int] = []
    real = health.count_by_reading
    monkeypatch.setattr(health, "count_by_reading", lambda mid: read.append(mid) or real(mid))
    ids = {n: m.info.id for n, m in health_maps.items()}
    app = make_app(refresh=0)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MapListScreen)
        full = _row_cells(screen, ids["hl_ui_full"])
        assert (full["entries"][0], full["fill"][0]) == ("16", "100.0%")
        assert "red" in full["fill"][1]
        ninety = _row_cells(screen, ids["hl_ui_ninety"])
        assert ninety["fill"] == ("90.0%", "yellow")
        half = _row_cells(screen, ids["hl_ui_half"])
        assert half["fill"] == ("50.0%", "")
        status = str(screen.query_one("#status", Static).render())
        assert "memlock" in status and "above 80 %" in status
        # sort by fill, fullest first: our full map comes before the 90 % one, which comes before 50 %
        from mapexplorer.screens.map_list import COLUMNS

        for _ in range([k for _, k in COLUMNS].index("fill")):
            await press(pilot, "l")  # the column cursor onto Fill
        await press(pilot, "s")
        assert screen.sort_key == "fill"
        assert screen.sort_reverse
        table = screen.query_one("#maps", MapTable)
        order = [r.key for r in table.rows]
        mine = [o for o in order if int(o) in ids.values()]
        assert mine == [str(ids["hl_ui_full"]), str(ids["hl_ui_ninety"]), str(ids["hl_ui_half"])]
    # hash maps are counted by the kernel's iterator: the explorer read none of ours
    assert not set(read) & set(ids.values())


async def test_doctor_screen_opens_the_map_of_a_finding(health_maps) -> None:
    full_id = health_maps["hl_ui_full"].info.id
    app = make_app(refresh=0)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await press(pilot, "d")
        screen = app.screen
        assert isinstance(screen, DoctorScreen)
        rows = [i for i, f in enumerate(screen.findings) if f.map_ids == (full_id,)]
        assert rows and screen.findings[rows[0]].severity == "error"
        assert "E2BIG" in screen.findings[rows[0]].message
        table = screen.query_one("#findings", DataTable)
        table.move_cursor(row=rows[0])
        await settle(pilot)
        detail = str(screen.query_one("#finding-detail", Static).render())
        assert detail.startswith("error: map ") and "hl_ui_full" in detail
        await press(pilot, "enter")
        assert isinstance(app.screen, MapViewScreen) and app.screen.map_id == full_id
        await press(pilot, "escape")
        assert isinstance(app.screen, DoctorScreen)


async def test_memory_by_owner_toggle_and_enter_filters(health_maps) -> None:
    me = f"[{os.getpid()}]"
    app = make_app(refresh=0)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        await press(pilot, "o")
        groups = screen.query_one("#groups", GroupTable)
        assert groups.display and not screen.query_one("#maps", MapTable).display
        assert groups.by == "owner"
        (g,) = [g for g in groups.groups if g.key.endswith(me)]
        assert {m.info.id for m in health_maps.values()} <= set(g.map_ids)
        groups.move_cursor(row=groups.groups.index(g))
        await press(pilot, "enter")
        assert screen.group_by is None
        assert screen.query_one("#maps", MapTable).display
        shown = {r.id for r in screen._filtered()}
        assert {m.info.id for m in health_maps.values()} <= shown
        assert all(any(o.endswith(me) for o in r.owners) for r in screen._filtered())
        await press(pilot, "o", "o", "o", "o")  # owner, pin-dir, name, back to the maps
        assert screen.group_by is None and screen.query_one("#maps", MapTable).display
