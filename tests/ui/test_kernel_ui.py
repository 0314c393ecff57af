"""The explorer over the real kernel: a per-CPU array with a BTF struct value that this test creates, fills
and removes, opened by id and read back through the UI (columns cpu0..cpuN, sum, drill-down)."""

from __future__ import annotations

import os
import struct

import pytest

from mapexplorer.app import make_app
from mapexplorer.btf.build import BtfBuilder
from mapexplorer.kernel import maps
from mapexplorer.kernel.btf_fetch import load_btf
from mapexplorer.kernel.names import map_type_id
from mapexplorer.screens.drilldown import DrillDownScreen
from mapexplorer.screens.map_view import COUNT_EVERY, MapViewScreen
from mapexplorer.widgets.entry_table import EntryTable
from tests.ui.helpers import FakeClock, press, settle, wait_until_freed

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for bpf()"),
]


def _pkt_stats_btf() -> tuple[bytes, int, int]:
    b = BtfBuilder()
    u32 = b.typedef("u32", b.int("unsigned int", 4))
    u64 = b.typedef("u64", b.int("long long unsigned int", 8))
    stats = b.struct("pkt_stats", 16, [("packets", u64, 0), ("bytes", u64, 64)])
    return b.blob(), u32, stats


async def test_real_percpu_map_shows_cpu_columns_and_drilldown() -> None:
    blob, key_id, value_id = _pkt_stats_btf()
    btf_fd = load_btf(blob)
    fd = -1
    try:
        fd = maps.create_map(
            map_type_id("percpu_array"),
            4,
            16,
            4,
            name="test_ui_pcpu",
            btf_fd=btf_fd,
            btf_key_type_id=key_id,
            btf_value_type_id=value_id,
        )
        m = maps.Map(fd)
        ncpus = maps.possible_cpu_count()
        for k in range(4):
            m.update(
                struct.pack("<I", k),
                b"".join(struct.pack("<QQ", 10 * (k + 1) + c, 1000 * (c + 1)) for c in range(ncpus)),
            )
        app = make_app(refresh=0, open_map=str(m.info.id))
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, MapViewScreen) and screen.map_id == m.info.id
            entries = screen.query_one("#entries", EntryTable)
            assert entries.snapshot.facts.has_btf
            labels = [c.label for c in entries.plan.columns]
            assert [f"packets.cpu{c}" for c in range(ncpus)] == [
                lab for lab in labels if lab.startswith("packets.cpu")
            ]
            await press(pilot, "down", "down")  # key 2
            cells = entries._row(entries.current_row()).cells
            assert cells[labels.index("key")] == "2"
            for c in range(ncpus):
                assert cells[labels.index(f"packets.cpu{c}")] == str(30 + c)
            assert cells[labels.index("packets.sum")] == str(sum(30 + c for c in range(ncpus)))
            assert cells[labels.index("bytes.max")] == str(1000 * ncpus)
            await press(pilot, "enter")
            assert isinstance(app.screen, DrillDownScreen)
            assert app.screen.ncpus == ncpus
            await press(pilot, "escape", "escape")
    finally:
        if fd >= 0:
            os.close(fd)
        os.close(btf_fd)


async def test_real_map_freed_while_viewed_returns_to_the_list() -> None:
    fd = maps.create_map(map_type_id("hash"), 4, 8, 16, name="test_ui_gone")
    try:
        m = maps.Map(fd)
        m.update(struct.pack("<I", 1), struct.pack("<Q", 7))
        map_id = m.info.id
        app = make_app(refresh=0, open_map=str(map_id))
        said: list[str] = []  # notified (a toast expires in 6 s: the list may take longer to read)
        notify = app.notify
        app.notify = lambda message, **kw: (said.append(str(message)), notify(message, **kw))[1]  # type: ignore
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            assert isinstance(app.screen, MapViewScreen) and app.screen.map_id == map_id
            os.close(fd)  # the last reference: the kernel frees the map
            fd = -1
            wait_until_freed(map_id)
            await press(pilot, "r")
            await settle(pilot)
            assert not isinstance(app.screen, MapViewScreen)
            assert any(f"map {map_id} is gone" in m for m in said)
    finally:
        if fd >= 0:
            os.close(fd)


async def test_real_million_entry_map_is_virtual() -> None:
    n = 1_000_000
    fd = maps.create_map(map_type_id("hash"), 4, 8, n, name="test_ui_1m")
    try:
        m = maps.Map(fd)
        step = 65536
        for start in range(0, n, step):
            count = min(step, n - start)
            keys = b"".join(i.to_bytes(4, "little") for i in range(start, start + count))
            m.update_batch(
                keys, b"".join((i * 2).to_bytes(8, "little") for i in range(start, start + count)), count
            )
        clock = FakeClock()  # the full re-read is due by this clock only, however slow the machine
        app = make_app(refresh=0, open_map=str(m.info.id), clock=clock)
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            entries = app.screen.query_one("#entries", EntryTable)
            assert entries.row_count == n
            assert len(entries._cache) < 1000  # only the rows on screen were decoded
            await press(pilot, "end")
            assert entries.cursor_row == n - 1
            cells = entries._row(entries.current_row()).cells
            assert int(cells[1]) == 2 * int(cells[0])
            # between two full reads a big map refreshes the rows on screen only, one lookup each
            key = int(cells[0])
            m.update(key.to_bytes(4, "little"), (777).to_bytes(8, "little"))
            before = entries.snapshot
            app.screen.poll()
            await settle(pilot)
            assert entries.snapshot is not before and entries.snapshot.keys is before.keys
            assert entries.snapshot.values is before.values  # looked up rows patch it, no copy
            assert entries._row(entries.current_row()).cells[1] == "777"
            before = entries.snapshot
            # nothing on screen needs every entry again: polls keep looking up the rows on screen only
            clock.advance(60)
            app.screen.poll()
            await settle(pilot)
            assert entries.snapshot.keys is before.keys
            # r reads every entry again (manual refresh: in one go; with an interval, a slice per refresh)
            await press(pilot, "r")
            assert entries.snapshot.keys is not before.keys and entries.snapshot.count == n
            # a key deleted: the kernel's count of entries moves, and that starts a full re-read too
            m.delete((12345).to_bytes(4, "little"))
            clock.advance(COUNT_EVERY)  # the count is looked at every COUNT_EVERY seconds
            app.screen.poll()
            await settle(pilot)
            assert entries.snapshot.count == n - 1
            before = entries.snapshot
            app.screen.poll()
            await settle(pilot)
            assert entries.snapshot.keys is before.keys  # the count holds: the rows on screen only
            clock.advance(COUNT_EVERY)
            app.screen.poll()
            await settle(pilot)
            assert entries.snapshot.keys is before.keys
    finally:
        os.close(fd)
