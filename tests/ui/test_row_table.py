"""RowTable (the map list's and the programs screen's virtual table): identical rows repaint nothing, a
changed row repaints only its line, a cell's dim tail (the fill's ``evicts``), the header's sort arrow and
column cursor, the cursor kept on its key and scrolled into view when the rows grow back (a filter cleared),
and the map list's row for the health cells."""

from __future__ import annotations

import random
from typing import Any

from textual.app import App, ComposeResult

from mapexplorer.fill import EntryCount
from mapexplorer.model import MapRow
from mapexplorer.screens.map_list import _row
from mapexplorer.widgets.row_table import Column, Row, RowTable

COLUMNS = [Column("id", "ID", numeric=True), Column("name", "Name"), Column("fill", "Fill", numeric=True)]


class _App(App):
    def compose(self) -> ComposeResult:
        yield RowTable(COLUMNS, id="t", sort_arrows=True)


def _rows(n: int) -> list[Row]:
    return [Row(str(i), (str(i), f"map{i}", "1.0%")) for i in range(n)]


def _text(table: RowTable, y: int) -> str:
    return "".join(seg.text for seg in table.render_line(y))


async def test_identical_rows_repaint_nothing_and_a_changed_row_only_its_line() -> None:
    app = _App()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(RowTable)
        rows = _rows(1000)
        table.set_rows(rows)
        await pilot.pause()
        painted: list[Any] = []
        real = table.refresh

        def spy(*args: Any, **kw: Any) -> Any:
            painted.append(args)
            return real(*args, **kw)

        table.refresh = spy  # type: ignore[method-assign]
        table.set_rows(list(rows))  # equal rows (the same objects): nothing to do
        assert painted == []
        changed = list(rows)
        changed[3] = Row("3", ("3", "map3", "2.0%"))
        table.set_rows(changed)
        assert len(painted) == 1  # one line: the row on screen that changed
        (region,) = painted[0]
        assert (region.y, region.height) == (4, 1)  # under the header
        assert "2.0%" in _text(table, 4)
        table.refresh = real  # type: ignore[method-assign]


async def test_tail_span_header_arrow_and_column_cursor() -> None:
    app = _App()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(RowTable)
        table.set_rows([Row("1", ("1", "a", "1.0%")),
                        Row("2", ("2", "lru", "97.0% evicts"), ("", "", "bold red"), ((2, 5, "dim"),))])
        table.set_header("fill", True, 1)
        await pilot.pause()
        header = table.render_line(0)
        assert _text(table, 0).split() == ["ID", "Name", "Fill", "▼"]
        underlined = [seg.text for seg in header if seg.style is not None and seg.style.underline]
        assert underlined == ["Name"]  # the label under the column cursor, not its padding
        line = list(table.render_line(2))  # the second row (not the cursor's)
        pct = next(seg for seg in line if "97.0%" in seg.text)
        tail = next(seg for seg in line if "evicts" in seg.text)
        assert pct.style.bold and not pct.style.dim
        assert tail.style.dim and tail.style.bold  # the cell's style plus the tail's
        assert _text(table, 2).rstrip().endswith("97.0% evicts")
        x, width = table.column_span(2)
        assert x == sum(w + 2 for w in table._widths[:2]) and width == table._widths[2] + 2


async def test_cursor_stays_on_its_key_and_in_view_when_rows_come_back() -> None:
    app = _App()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(RowTable)
        rows = _rows(2000)
        table.set_rows(rows)
        await pilot.pause()
        table.move_to_key("1500")
        await pilot.pause()
        table.set_rows([r for r in rows if r.key.startswith("150")])  # a filter: 11 rows, no scrolling
        await pilot.pause()
        assert table.current_key() == "1500" and table.scroll_offset.y == 0
        table.set_rows(rows)  # the filter cleared
        await pilot.pause()
        assert table.current_key() == "1500"
        top = table.scroll_offset.y
        assert top <= table.cursor_row < top + table.size.height - 1


def _map(type_name: str, max_entries: int, entries: int) -> MapRow:
    return MapRow(id=7, name="m", type_name=type_name, key_size=4, value_size=8, max_entries=max_entries,
                  flags=0, memlock=4096, frozen=False, btf_id=0,
                  count=EntryCount(entries, "iter", fill=entries / max_entries))


def test_map_list_row_carries_the_fill_band_and_the_lru_note() -> None:
    full = _row(_map("lru_hash", 100, 97))
    assert full.cells[4] == "97.0% evicts" and full.styles[4] == "bold red"
    assert full.spans == ((4, len("97.0%"), "dim"),)
    warn = _row(_map("hash", 100, 85))
    assert (warn.cells[4], warn.styles[4], warn.spans) == ("85.0%", "yellow", ())


def test_column_widths_follow_rows_coming_going_and_reordering() -> None:
    """The incremental widths equal the widths counted from scratch through random refreshes."""
    rng = random.Random(7)
    table = RowTable(COLUMNS, sort_arrows=True)
    labels = [len(c.label) + 2 for c in COLUMNS]

    def make(i: int) -> Row:
        return Row(str(i), (str(i), "n" * rng.randint(0, 30), "x" * rng.randint(1, 12)))

    rows: tuple[Row, ...] = ()
    for step in range(300):
        new = list(rows)
        kind = step % 5
        if kind == 0 or not new:
            new += [make(rng.randint(0, 10**6)) for _ in range(rng.randint(1, 50))]  # maps appear
        elif kind == 1:
            for _ in range(rng.randint(1, min(5, len(new)))):
                new.pop(rng.randrange(len(new)))  # maps go (maybe the widest)
        elif kind == 2:
            rng.shuffle(new)  # a sort
        elif kind == 3:
            i = rng.randrange(len(new))
            new[i] = make(int(new[i].key))  # a map changed
        else:
            new = new[: rng.randint(0, len(new))]  # a filter
        got = table._widest(tuple(new), rows)
        rows = tuple(new)
        want = [max([w, *(r.lengths[j] for r in rows)]) for j, w in enumerate(labels)]
        assert got == want, step
