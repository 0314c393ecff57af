"""The map list updates in place on the real kernel: 1,000 maps (sl_*, created and freed here) appear and
disappear while the cursor stays on the same map through refreshes, sorting and filtering; only the new
maps' rows are made (kept maps keep their row objects) and the table's row order is the index's order."""

from __future__ import annotations

import os
from contextlib import ExitStack

import pytest

from mapexplorer.app import make_app
from mapexplorer.kernel import maps
from mapexplorer.kernel.names import map_type_id
from mapexplorer.screens.map_list import MapTable
from tests.ui.helpers import press, settle, wait_until_freed

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for bpf()"),
]

N = 1000


def _create(stack: ExitStack, prefix: str, n: int) -> dict[int, int]:
    """``n`` small hashes named prefix0..; id -> fd. The stack closes the fds still in the dict."""
    out: dict[int, int] = {}
    stack.callback(lambda: [os.close(fd) for fd in out.values()])
    for i in range(n):
        fd = maps.create_map(map_type_id("hash"), 4, 4, 4, name=f"{prefix}{i}")
        out[maps.map_info(fd).id] = fd
    return out


def _order(table: MapTable) -> list[str]:
    return [r.key for r in table.rows]


def _check_table(table: MapTable, cursor_key: str) -> None:
    """The cursor is on ``cursor_key``, on screen, and every row's ID column holds its key."""
    assert table.current_key() == cursor_key
    top = table.scroll_offset.y
    assert top <= table.cursor_row < top + table.size.height - 1
    assert all(r.cells[0] == r.key for r in table.rows)


async def test_list_keeps_cursor_through_1000_maps_appearing_and_disappearing() -> None:
    with ExitStack() as stack:
        kept = _create(stack, "sl_k", 20)
        going = _create(stack, "sl_g", N)
        app = make_app(refresh=0)
        async with app.run_test(size=(160, 40)) as pilot:
            await settle(pilot)
            table = app.screen.query_one("#maps", MapTable)
            assert {str(i) for i in kept} <= set(_order(table))
            target = str(sorted(kept)[10])
            table.move_to_key(target)
            await settle(pilot)
            _check_table(table, target)

            # a refresh keeps the row objects of maps that did not change (ours; others' may change meanwhile)
            made = {r.key: r for r in table.rows}
            await press(pilot, "r")
            assert all(made[r.key] is r for r in table.rows if int(r.key) in kept)

            gone = dict(going)
            going.clear()  # closed here, not by the stack
            for fd in gone.values():
                os.close(fd)
            for map_id in gone:
                wait_until_freed(map_id)
            came = _create(stack, "sl_n", N)
            await press(pilot, "r")
            _check_table(table, target)
            shown = set(_order(table))
            assert not shown & {str(i) for i in gone}
            assert {str(i) for i in came} <= shown
            # kept maps keep their row objects: only the new maps' rows were made
            assert all(made[r.key] is r for r in table.rows if int(r.key) in kept)
            screen = app.screen
            assert _order(table) == [str(i) for i in screen.index.order(screen.sort_key, screen.sort_reverse)]

            # sort, reverse, filter, clear: the cursor stays on its map
            await press(pilot, "l", "s")  # the column right of ID (name), sorted
            _check_table(table, target)
            names = [screen.index.rows[int(k)].name.lower() for k in _order(table)]
            assert names == sorted(names)
            await press(pilot, "S")
            _check_table(table, target)
            await press(pilot, "slash", *"sl_k")
            assert sorted(_order(table)) == sorted(str(i) for i in kept)
            _check_table(table, target)
            await press(pilot, "escape")
            assert {str(i) for i in came} <= set(_order(table))
            _check_table(table, target)
