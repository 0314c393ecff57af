"""The map list's refresh under a CPU budget, with a fake CPU clock: refreshes that cost 0.15 s of CPU with a
5 % budget are 3 s apart (shown in the status line); when they get cheap the interval comes back to 1 s."""

from __future__ import annotations

from pytest import approx

from mapexplorer.model import ListSnapshot
from mapexplorer.pacing import Pacer
from mapexplorer.screens.map_list import MapListScreen
from mapexplorer.widgets.common import StatusLine
from tests.ui.helpers import FakeClock, fixture_source, press, settle


def test_pacer_stretches_and_recovers() -> None:
    p = Pacer(0.05)
    assert p.interval(1.0) == 1.0
    p.record(3.0)  # the first run (start-up: everything read for the first time) is not counted
    assert p.interval(1.0) == 1.0
    p.record(0.15)
    assert p.interval(1.0) == approx(3.0) and p.stretched(1.0)
    p.record(0.0)
    assert p.interval(1.0) == approx(1.5)
    p.record(0.0)
    assert p.interval(1.0) == 1.0 and not p.stretched(1.0)  # 0.0375 s per refresh fits 5 % of 1 s
    assert p.interval(0) == 0  # manual refresh stays manual
    assert Pacer(0).interval(1.0) == 1.0  # --budget 0: no budget


async def test_list_refresh_stretches_under_budget_with_fake_cpu_clock() -> None:
    from mapexplorer.app import make_app

    cpu = FakeClock(0.0)
    source = fixture_source()
    cost = {"s": 0.15}
    list_maps = source.list_maps

    def costly() -> ListSnapshot:
        cpu.advance(cost["s"])  # what reading the maps costs the worker thread
        return list_maps()

    source.list_maps = costly  # type: ignore[method-assign]
    app = make_app(source, refresh=1.0, budget=0.05, cpu_clock=cpu)
    async with app.run_test(size=(160, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MapListScreen)
        await press(pilot, "r")  # a refresh after the start-up one (which is not counted)
        assert screen.pacer.cost == approx(0.15)  # each refresh: 0.15 s (drawing costs 0 here)
        assert screen.next_interval() == approx(3.0)
        status = str(screen.query_one("#status", StatusLine).render())
        assert "⟳ every 3s (budget 5 %" in status
        cost["s"] = 0.0
        for _ in range(10):
            await press(pilot, "r")
            if screen.next_interval() == 1.0:
                break
        assert screen.next_interval() == 1.0
        status = str(screen.query_one("#status", StatusLine).render())
        assert "⟳ every 1s (p pauses" in status and "budget" not in status
