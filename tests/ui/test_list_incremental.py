"""The map list updates in place on the real kernel: 1,000 maps (sl_*, created and freed here) appear and
disappear while the cursor stays on the same map through refreshes, sorting and filtering; only the new
maps' rows are added (kept maps are not rebuilt), and the table's own row order is the index's order."""

from __future__ import annotations

import os
from contextlib import ExitStack

import pytest
from textual.coordinate import Coordinate

from mapexplorer.app import make_app
from mapexplorer.kernel import maps
from mapexplorer.kernel.names import map_type_id
from mapexplorer.widgets.keyed_table import KeyedTable
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


def _check_table(table: KeyedTable, cursor_key: str) -> None:
    """The cursor is on ``cursor_key`` and the DataTable's own rows are in the table's order."""
    assert table.row_count == len(table.order)
    assert table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value == cursor_key
    assert table.order[table.cursor_row] == cursor_key
    step = max(1, len(table.order) // 50)
    for i in range(0, len(table.order), step):
        assert table.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value == table.order[i]
        assert str(table.get_row_at(i)[0]) == table.order[i]  # the ID column holds the key's id


async def test_list_keeps_cursor_through_1000_maps_appearing_and_disappearing() -> None:
    with ExitStack() as stack:
        kept = _create(stack, "sl_k", 20)
        going = _create(stack, "sl_g", N)
        app = make_app(refresh=0)
        async with app.run_test(size=(160, 40)) as pilot:
            await settle(pilot)
            table = app.screen.query_one("#maps", KeyedTable)
            assert {str(i) for i in kept} <= set(table.order)
            target = str(sorted(kept)[10])
            table.move_cursor(row=table.order.index(target), animate=False)
            await settle(pilot)
            _check_table(table, target)

            added: list[str] = []
            add_row = table.add_row

            def counting_add_row(*cells: object, **kw: object) -> object:
                added.append(str(kw["key"]))
                return add_row(*cells, **kw)  # type: ignore[arg-type]

            table.add_row = counting_add_row  # type: ignore[method-assign]
            gone = dict(going)
            going.clear()  # closed here, not by the stack
            for fd in gone.values():
                os.close(fd)
            for map_id in gone:
                wait_until_freed(map_id)
            came = _create(stack, "sl_n", N)
            await press(pilot, "r")
            _check_table(table, target)
            shown = set(table.order)
            assert not shown & {str(i) for i in gone}
            assert {str(i) for i in came} <= shown
            # only new maps were added: no kept row was rebuilt
            assert {str(i) for i in came} <= set(added)
            assert not set(added) & {str(i) for i in kept}
            screen = app.screen
            assert table.order == [str(i) for i in screen.index.order(screen.sort_key, screen.sort_reverse)]

            # sort, reverse, filter, clear: the cursor stays on its map
            await press(pilot, "l", "s")  # the column right of ID (name), sorted
            _check_table(table, target)
            names = [screen.index.rows[int(k)].name.lower() for k in table.order]
            assert names == sorted(names)
            await press(pilot, "S")
            _check_table(table, target)
            await press(pilot, "slash", *"sl_k")
            assert sorted(table.order) == sorted(str(i) for i in kept)
            _check_table(table, target)
            await press(pilot, "escape")
            assert {str(i) for i in came} <= set(table.order)
            _check_table(table, target)
