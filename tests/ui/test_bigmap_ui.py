"""A big map through the UI over the real kernel: a 200,000-entry hash with a BTF struct value that this test
creates, fills and removes; sorted (both ways) and filtered with the keys a user presses, the rows on screen
checked against the entries, the order held as a compact array; Escape cancels a sort that is running."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

from mapexplorer.app import make_app
from mapexplorer.btf.build import BtfBuilder
from mapexplorer.kernel import maps
from mapexplorer.kernel.btf_fetch import load_btf
from mapexplorer.kernel.names import map_type_id
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


async def test_big_map_sorts_and_filters_through_the_ui() -> None:
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
    finally:
        if fd >= 0:
            os.close(fd)
        os.close(btf_fd)
