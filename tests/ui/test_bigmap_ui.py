"""A big map through the UI over the real kernel: a 200,000-entry hash with a BTF struct value that these
tests create, fill and remove; sorted (both ways) and filtered with the keys a user presses, the rows on
screen checked against the entries, the order held as a compact array; Escape cancels a sort that is
running. And its refreshes under the CPU budget, with a fake CPU clock: the rows on screen only while nothing
needs more, a full re-read a slice per refresh sized by the measured read rate, the interval stretched when
a refresh costs more than the budget."""

from __future__ import annotations

import math
import os
import re
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from mapexplorer.app import make_app
from mapexplorer.btf.build import BtfBuilder
from mapexplorer.kernel import maps
from mapexplorer.kernel.btf_fetch import load_btf
from mapexplorer.kernel.names import map_type_id
from mapexplorer.kernel_source import KernelSource
from mapexplorer.reread import SHARE
from mapexplorer.screens.map_view import MapViewScreen
from mapexplorer.widgets.entry_table import EntryTable
from tests.ui.helpers import FakeClock, press, settle

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for bpf()"),
]

N = 200_000


def _packets(k: int) -> int:
    return (k * 7919) % 1000  # many equal values: the sort must keep map order among them


def _btf() -> tuple[bytes, int, int]:
    b = BtfBuilder()
    u32 = b.typedef("u32", b.int("unsigned int", 4))
    u64 = b.typedef("u64", b.int("long long unsigned int", 8))
    stats = b.struct("bgx_stats", 16, [("packets", u64, 0), ("bytes", u64, 64)])
    return b.blob(), u32, stats


def _cells(table: EntryTable, view_row: int) -> list[str]:
    return table._row(table.snapshot_row(view_row)).cells


@pytest.fixture(scope="module")
def big_map() -> Iterator[maps.Map]:
    blob, key_t, value_t = _btf()
    btf_fd = load_btf(blob)
    fd = -1
    try:
        fd = maps.create_map(map_type_id("hash"), 4, 16, N, name="bgx_ui_big", btf_fd=btf_fd,
                             btf_key_type_id=key_t, btf_value_type_id=value_t)
        m = maps.Map(fd)
        for start in range(0, N, 50_000):
            ks = range(start, start + 50_000)
            m.update_batch(struct.pack(f"<{len(ks)}I", *ks),
                           b"".join(struct.pack("<QQ", _packets(k), 2 * k) for k in ks), len(ks))
        yield m
    finally:
        if fd >= 0:
            os.close(fd)
        os.close(btf_fd)


async def test_big_map_sorts_and_filters_through_the_ui(big_map: maps.Map) -> None:
    m = big_map
    app = make_app(refresh=0, open_map=str(m.info.id), clock=FakeClock())
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MapViewScreen)
        table = screen.query_one("#entries", EntryTable)
        assert table.row_count == N
        labels = [c.label for c in table.plan.columns]
        assert labels[:3] == ["key", "packets", "bytes"]
        snap = table.snapshot
        keys = np.frombuffer(snap.keys, "<u4")
        map_pos = {int(k): i for i, k in enumerate(keys)}  # where each key sits in map order

        await press(pilot, "l", "s")  # sort by packets, ascending
        assert table.sort_col == 1
        assert isinstance(table.order, np.ndarray) and table.order.dtype == np.int32  # 4 bytes a row
        shown = [int(_cells(table, v)[0]) for v in range(2000)]
        assert [_packets(k) for k in shown] == sorted(_packets(k) for k in shown)
        assert _packets(shown[0]) == 0
        zeros = [k for k in shown if _packets(k) == 0]
        assert [map_pos[k] for k in zeros] == sorted(map_pos[k] for k in zeros)  # ties in map order
        status = str(screen.query_one("#status").render())
        assert "sort packets ▲" in status

        await press(pilot, "s")  # again: descending
        assert table.sort_reverse
        top = [int(_cells(table, v)[0]) for v in range(200)]
        assert all(_packets(k) == 999 for k in top)
        assert [map_pos[k] for k in top] == sorted(map_pos[k] for k in top)
        await press(pilot, "end")
        assert _packets(int(_cells(table, table.cursor_row)[0])) == 0

        await press(pilot, "slash", *"bytes:12345", "enter")  # filter on one column
        want = [k for k in keys.tolist() if "12345" in str(2 * k)]
        assert table.row_count == len(want) > 0
        got = [int(_cells(table, v)[0]) for v in range(table.row_count)]
        assert sorted(got) == sorted(want)
        assert [_packets(k) for k in got] == sorted((_packets(k) for k in got), reverse=True)
        assert f"{len(want):,} of {N:,} entries" in str(screen.query_one("#status").render())

        await press(pilot, "escape")  # clears the filter, the sort stays
        assert table.row_count == N and table.sort_col == 1

        # a sort still running when Escape comes: cancelled, the order on screen and its sort stay
        shown_order = table.order
        table.sort_col, table.sort_reverse = 2, False
        screen._reorder_now()
        assert screen.cancel_ordering()
        for _ in range(500):  # the cancelled worker stops at its next chunk (settle would raise)
            await pilot.pause(0.01)
            if all(w.is_finished for w in app.workers if w.group == "order"):
                break
        await pilot.pause(0.05)
        assert table.sort_col == 1 and table.sort_reverse and table.order is shown_order
        assert not screen._ordering


async def test_big_map_refreshes_within_the_budget_with_a_fake_cpu_clock(big_map: maps.Map) -> None:
    cpu = FakeClock(0.0)
    source = KernelSource()
    costs = {"entry": 1e-6, "lookups": 0.0}  # reading 1 M entries per CPU second
    open_pass, refresh_rows = source.open_pass, source.refresh_rows
    steps: list[int] = []

    def costly_pass(map_id: int) -> Any:
        p = open_pass(map_id)
        step = p.step

        def costly_step(n: int) -> bool:
            before = p.count
            done = step(n)
            steps.append(p.count - before)
            cpu.advance((p.count - before) * costs["entry"])
            return done

        p.step = costly_step
        return p

    def costly_rows(snap: Any, rows: list[int]) -> Any:
        cpu.advance(costs["lookups"])
        return refresh_rows(snap, rows)

    source.open_pass = costly_pass  # type: ignore[method-assign]
    source.refresh_rows = costly_rows  # type: ignore[method-assign]
    app = make_app(source, refresh=1.0, open_map=str(big_map.info.id), budget=0.05, cpu_clock=cpu)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MapViewScreen)
        table = screen.query_one("#entries", EntryTable)
        assert table.row_count == N
        await press(pilot, "p")  # no timed polls: this test polls
        status = screen.query_one("#status")
        first = table.snapshot
        steps.clear()
        for _ in range(3):  # nothing on screen needs every entry: the rows on screen only
            screen.poll()
            await settle(pilot)
        assert steps == [] and screen.reread.current is None
        assert table.snapshot.keys is first.keys and table.snapshot is not first

        await press(pilot, "l", "s")  # a sort by a value: the map is re-read whole, a slice per refresh
        polls = 0
        while table.snapshot.keys is first.keys:
            screen.poll()
            await settle(pilot)
            polls += 1
            assert polls < 50
        # the first slice at the assumed 2 M entries/s x 5 % x SHARE x 1 s, then at the measured 1 M
        # entries/s (whole batches, of up to 16,384 entries)
        assert screen.reread.rate == pytest.approx(1e6)
        first, then = round(2e6 * 0.05 * SHARE), round(1e6 * 0.05 * SHARE)
        assert first <= steps[0] < first + 16_384, steps
        assert all(then <= n < then + 16_384 for n in steps[1:-1]) and sum(steps) == N, steps
        assert polls == len(steps) > 2
        await press(pilot, "p")  # timed polls again: the status line says how often
        assert f"⟳ 1s, full re-read every {math.ceil(N / then)} s" in str(status.render())

        await press(pilot, "p")
        costs["lookups"] = 0.2  # the rows on screen cost 0.2 s of CPU a refresh: 4x the budget of 1 s
        for _ in range(3):
            screen.poll()
            await settle(pilot)
        assert screen.next_interval() > 4.0
        await press(pilot, "p")
        shown = re.search(r"⟳ ([\d.]+)s, full re-read every (\d+) s", str(status.render()))
        slices = math.ceil(N / then)
        assert shown is not None and float(shown[1]) > 4.0 and int(shown[2]) > (slices - 1) * float(shown[1])
