"""The entry detail renders lazily: a 64 KiB value opens with a screenful of lines formatted, not the
whole JSON and hexdump; scrolling to the end formats the rest and shows the last hexdump line."""

from __future__ import annotations

import json

from textual.app import App

from mapexplorer.decoders import RawDecoder
from mapexplorer.model import MapFacts, MapRow, MapSnapshot
from mapexplorer.screens.detail import EntryDetailScreen, EntryView

VALUE_SIZE = 64 * 1024


def _snapshot() -> MapSnapshot:
    row = MapRow(id=7, name="big", type_name="array", key_size=4, value_size=VALUE_SIZE, max_entries=1)
    value = bytes(range(256)) * (VALUE_SIZE // 256)
    decoder = RawDecoder(4, VALUE_SIZE, 1)
    facts = MapFacts(row, 1, False)
    return MapSnapshot(facts, b"\0\0\0\0", value, 1, 4, VALUE_SIZE, 0.0, decoder)


class _Host(App):
    def __init__(self, screen: EntryDetailScreen) -> None:
        super().__init__()
        self.detail = screen

    def on_mount(self) -> None:
        self.push_screen(self.detail)


async def test_64k_value_formats_a_screenful_then_the_rest_on_demand() -> None:
    snap = _snapshot()
    screen = EntryDetailScreen(snap, 0)
    async with _Host(screen).run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        view = screen.query_one(EntryView)
        assert view.has_focus
        assert 0 < screen.lines.made < 200  # lines shown, not 70,000
        first = [screen.lines.line(n)[0] for n in range(6)]
        assert first[0] == "big (map 7, array)" and first[2] == "key" and first[3] == "0"
        await pilot.press("end")
        await pilot.pause()
        value_lines = json.dumps(snap.value(0), indent=2).count("\n") + 1
        hex_lines = VALUE_SIZE // 16
        # title + blank, "key" + 1 line + blank, "value" + JSON + blank, "raw key" + 1, "raw value" + hexdump
        assert screen.lines.complete()
        assert screen.lines.count() == 2 + 3 + 1 + value_lines + 1 + 2 + 1 + hex_lines
        last = screen.lines.line(screen.lines.count() - 1)[0]
        assert last.startswith("fff0  f0 f1 f2") and last.endswith("................")
        assert view.scroll_y == view.max_scroll_y > 0
        assert screen.lines.made < 500  # the end was shown, not every line between
