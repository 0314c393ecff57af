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
        if self.calls == 1:  # the first rows of every map, quickly (KernelSource: the lowest 1,000 ids)
            rows = tuple(replace(r, memlock=-1, owners=(), progs=(), pinned=()) for r in snap.rows[:5])
            return replace(snap, rows=rows, partial=True, total=len(snap.rows))
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
        assert table.row_count == len(screen.snapshot.rows) == 5
        key = table.rows[0].key
        assert [table.cell(key, c) for c in ("memlock", "owners", "progs", "pinned")] == ["…"] * 4
        status = str(screen.query_one("#status", StatusLine).render())
        assert "reading owners, programs, pins…" in status and "… memlock" in status
        assert status.startswith(f"listing {screen.snapshot.total} maps (5 so far)")
        source.gate.set()
        await settle(pilot)
        assert source.calls == 2  # the worker completed the listing on its own, no key pressed
        assert not screen.snapshot.partial
        assert table.row_count == len(screen.snapshot.rows) > 5
        assert table.cell(key, "memlock") != "…" and table.cell(key, "owners") != "…"
        status = str(screen.query_one("#status", StatusLine).render())
        assert "reading owners" not in status and "listing" not in status
        assert screen.pacer.cost == 0.0  # the start-up reads are not held against the budget


class _Counting(ReplaySource):
    """The recording once, then at each listing one map's entry count moves by one, and the source says
    so (``changed`` relative to its previous rows), as KernelSource does between refreshes."""

    def __init__(self) -> None:
        super().__init__(FIXTURE, follow_reads=True)
        self.last: ListSnapshot | None = None
        self.target = 0

    def list_maps(self) -> ListSnapshot:
        if self.last is None:
            self.last = super().list_maps()
            return self.last
        rows = list(self.last.rows)
        n = next(i for i, r in enumerate(rows) if r.id == self.target)
        old = rows[n]
        assert old.count is not None and old.count.entries is not None
        rows[n] = replace(old, count=replace(old.count, entries=old.count.entries + 1))
        snap = replace(self.last, rows=tuple(rows), changed=(old.id,), base=self.last.rows)
        self.last = snap
        return snap


async def test_a_source_saying_what_changed_patches_rows_in_place() -> None:
    source = _Counting()
    app = make_app(source, refresh=0)
    async with app.run_test(size=(160, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MapListScreen)
        table = screen.query_one("#maps", MapTable)
        counted = [r for r in screen.snapshot.rows if r.count is not None and r.count.entries]
        source.target = counted[0].id
        table.move_to_key(str(counted[1].id))
        await settle(pilot)
        before = {r.key: r for r in table.rows}
        entries = int(table.cell(str(source.target), "entries").replace(",", ""))
        full_renders: list[int] = []
        render = screen._render_rows
        screen._render_rows = lambda: full_renders.append(1) or render()  # type: ignore[method-assign]
        await pilot.press("r")
        await settle(pilot)
        assert full_renders == []  # patched in place, not made again
        assert int(table.cell(str(source.target), "entries").replace(",", "")) == entries + 1
        assert all(r is before[r.key] for r in table.rows if r.key != str(source.target))  # only that row
        assert table.current_key() == str(counted[1].id)
        # sorted by entries, the change can move the row: the table is made again in the new order
        await pilot.press(*["l"] * 3, "s")
        await settle(pilot)
        assert screen.sort_key == "entries"
        await pilot.press("r")
        await settle(pilot)
        assert full_renders  # sorted by the column that moved: made again
        order = screen.index.order(screen.sort_key, screen.sort_reverse)
        assert [r.key for r in table.rows] == [str(i) for i in order]
        assert table.current_key() == str(counted[1].id)
