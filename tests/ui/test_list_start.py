"""The map list at start-up: a quick first listing (no owners, programs, pins or memlock yet) is shown at
once, marked as such, and the same worker completes it right away; the completing read is not held
against the refresh budget."""

from __future__ import annotations

import threading
from dataclasses import replace

from mapexplorer.app import make_app
from mapexplorer.model import ListSnapshot
from mapexplorer.replay_source import ReplaySource
from mapexplorer.screens.map_list import MapListScreen, MapTable
from mapexplorer.widgets.common import StatusLine
from tests.ui.helpers import FIXTURE, settle


class _QuickFirst(ReplaySource):
    """The recording, its first listing quick (as KernelSource's first is); the second waits for a gate."""

    def __init__(self) -> None:
        super().__init__(FIXTURE, follow_reads=True)
        self.gate = threading.Event()
        self.calls = 0

    def list_maps(self) -> ListSnapshot:
        snap = super().list_maps()
        self.calls += 1
        if self.calls == 1:
            rows = tuple(replace(r, memlock=-1, owners=(), progs=(), pinned=()) for r in snap.rows)
            return replace(snap, rows=rows, partial=True)
        self.gate.wait(30)
        return snap


async def test_quick_first_listing_then_completed_by_the_same_worker() -> None:
    source = _QuickFirst()
    app = make_app(source, refresh=0)
    async with app.run_test(size=(160, 36)) as pilot:
        for _ in range(200):
            await pilot.pause(0.02)
            screen = app.screen
            if isinstance(screen, MapListScreen) and screen.snapshot is not None:
                break
        screen = app.screen
        assert isinstance(screen, MapListScreen) and screen.snapshot is not None
        assert screen.snapshot.partial
        table = screen.query_one("#maps", MapTable)
        assert table.row_count == len(screen.snapshot.rows) > 0
        key = table.rows[0].key
        assert [table.cell(key, c) for c in ("memlock", "owners", "progs", "pinned")] == ["…"] * 4
        status = str(screen.query_one("#status", StatusLine).render())
        assert "reading owners, programs, pins…" in status and "… memlock" in status
        source.gate.set()
        await settle(pilot)
        assert source.calls == 2  # the worker completed the listing on its own, no key pressed
        assert not screen.snapshot.partial
        assert table.cell(key, "memlock") != "…" and table.cell(key, "owners") != "…"
        status = str(screen.query_one("#status", StatusLine).render())
        assert "reading owners" not in status
        assert screen.pacer.cost == 0.0  # the start-up reads are not held against the budget
