"""The histogram view over real maps this test creates: a BCC-shaped per-key histogram (struct key ending in
``slot``, raw BTF) opens as a chart by itself, with its keys, the change since the last refresh and the
percentiles; a plain u64 array does not, but ``H`` shows it; ``hist_guess=False`` keeps the entries."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

import pytest

from mapexplorer.app import make_app
from mapexplorer.btf.build import BtfBuilder
from mapexplorer.kernel import maps
from mapexplorer.kernel.btf_fetch import load_btf
from mapexplorer.kernel.names import map_type_id
from mapexplorer.screens.histogram import ALL_KEYS, HistogramScreen
from mapexplorer.screens.map_view import MapViewScreen
from tests.ui.helpers import press, settle

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for bpf()"),
]


@pytest.fixture
def keyed_hist() -> Iterator[maps.Map]:
    """hash struct {u64 id; u64 slot;} -> u64, named like runqlat's map (any name would do)."""
    b = BtfBuilder()
    u64 = b.typedef("u64", b.int("long long unsigned int", 8))
    key = b.struct("pid_key_t", 16, [("id", u64, 0), ("slot", u64, 64)])
    btf_fd = load_btf(b.blob())
    fd = -1
    try:
        fd = maps.create_map(map_type_id("hash"), 16, 8, 64, name="hi_ui_dist", btf_fd=btf_fd,
                             btf_key_type_id=key, btf_value_type_id=u64)
        m = maps.Map(fd)
        for ident, slots in {7: {1: 5, 4: 30, 5: 2}, 42: {10: 9}}.items():
            for slot, count in slots.items():
                m.update(struct.pack("<QQ", ident, slot), struct.pack("<Q", count))
        yield m
    finally:
        if fd >= 0:
            os.close(fd)
        os.close(btf_fd)


async def test_per_key_histogram_opens_as_a_live_chart(keyed_hist: maps.Map) -> None:
    m = keyed_hist
    app = make_app(refresh=0, open_map=str(m.info.id))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, HistogramScreen) and screen.map_id == m.info.id
        hs = screen.hists
        assert hs is not None and hs.per_key
        assert [k for k, _ in hs.groups.values()] == [{"id": 7}, {"id": 42}]
        assert screen.selected == ALL_KEYS
        assert hs.sum().percentiles() == {"p50": 15, "p90": 1023, "p99": 1023, "max": 1023}
        text = str(screen.query_one("#hist-summary").render())
        assert "p50 ≤ 15" in text and "p99 ≤ 1,023" in text and "bucket upper bounds" in text
        chart = str(screen.query_one("#hist-chart").render())
        assert "512 -> 1,023" in chart and "1,024 -> 2,047" not in chart
        # the program writes: the next refresh shows the change
        m.update(struct.pack("<QQ", 7, 4), struct.pack("<Q", 33))
        await press(pilot, "down")  # select id=7
        assert screen.selected == '{"id": 7}'
        await press(pilot, "r")
        chart = str(screen.query_one("#hist-chart").render())
        row = next(line for line in chart.splitlines() if "8 -> 15" in line)
        assert "33" in row and "+3" in row
        await press(pilot, "escape")
        assert isinstance(app.screen, MapViewScreen)


async def test_plain_array_is_not_guessed_but_h_shows_it(new_map) -> None:
    m = new_map("array", 4, 8, 8, name="hi_ui_counts")
    for i in range(8):
        m.update(struct.pack("<I", i), struct.pack("<Q", i))
    app = make_app(refresh=0, open_map=str(m.info.id))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, MapViewScreen)
        await press(pilot, "H")
        screen = app.screen
        assert isinstance(screen, HistogramScreen)
        assert screen.hists is not None and screen.hists.sum().counts == tuple(range(8))
        await press(pilot, "l")
        assert screen.spec.scale == "linear"
        assert screen.hists is not None and screen.hists.sum().percentiles()["max"] == 7


async def test_guess_off_keeps_the_entries(keyed_hist: maps.Map) -> None:
    app = make_app(refresh=0, open_map=str(keyed_hist.info.id), hist_guess=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, MapViewScreen)
        await press(pilot, "H")
        assert isinstance(app.screen, HistogramScreen)
