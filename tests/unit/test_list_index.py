"""ListIndex: its order equals the plain filter-and-sort over the rows, through random updates (hypothesis),
and an update reports exactly the maps that appeared, went away or changed."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from mapexplorer.list_index import ListIndex
from mapexplorer.model import MapRow

KEYS = ["id", "name", "max", "memlock"]


def sort_value(r: MapRow, key: str) -> object:
    return {"id": r.id, "name": r.name.lower(), "max": r.max_entries, "memlock": r.memlock}[key]


rows_st = st.dictionaries(
    st.integers(1, 60),
    st.tuples(st.sampled_from(["a", "B", "ab", "zz", ""]), st.integers(1, 4), st.integers(0, 3)),
    max_size=40,
)


def make(spec: dict[int, tuple[str, int, int]]) -> list[MapRow]:
    return [
        MapRow(id=i, name=n, type_name="hash", key_size=4, value_size=8, max_entries=m, flags=0, memlock=mem,
               frozen=False, btf_id=0)
        for i, (n, m, mem) in sorted(spec.items())
    ]


def plain(rows: list[MapRow], key: str, reverse: bool, needle: str) -> list[int]:
    out = [r for r in rows if not needle or needle in r.search_text()]
    out.sort(key=lambda r: sort_value(r, key), reverse=reverse)
    return [r.id for r in out]


@settings(max_examples=60, deadline=None)
@given(st.lists(rows_st, min_size=1, max_size=5), st.sampled_from(KEYS), st.booleans(),
       st.sampled_from(["", "a", "b", "hash", "1"]))
def test_order_equals_plain_sort_through_updates(snaps: list[dict], key: str, reverse: bool,
                                                 needle: str) -> None:
    index: ListIndex[str] = ListIndex(sort_value, lambda r: f"{r.id}:{r.name}")
    for spec in snaps:
        rows = make(spec)
        index.update(rows)
        assert index.order(key, reverse, needle) == plain(rows, key, reverse, needle)
        assert all(index.cells(r.id) == f"{r.id}:{r.name}" for r in rows)


def test_update_reports_new_gone_changed_and_renders_only_those_again() -> None:
    rendered: list[int] = []

    def render(r: MapRow) -> str:
        rendered.append(r.id)
        return r.name

    index: ListIndex[str] = ListIndex(sort_value, render)
    rows = make({1: ("a", 1, 0), 2: ("b", 1, 0), 3: ("c", 1, 0)})
    assert index.update(rows).new == {1, 2, 3}
    for r in rows:
        index.cells(r.id)
    rendered.clear()
    again = [rows[0], replace(rows[1]), replace(rows[2], memlock=9), *make({4: ("d", 1, 0)})]
    ch = index.update(again)
    assert (ch.new, ch.gone, ch.changed) == ({4}, set(), {3})  # an equal copy is not a change
    assert index.order("memlock", True) == [3, 1, 2, 4]
    for r in again:
        index.cells(r.id)
    assert sorted(rendered) == [3, 4]
    ch = index.update(again[:2])
    assert (ch.new, ch.gone, ch.changed) == (set(), {3, 4}, set())
    assert not index.update(again[:2])
