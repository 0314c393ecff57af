"""ListIndex: its order equals the plain filter-and-sort over the rows, through random updates (hypothesis),
an update reports exactly the maps that appeared, went away or changed, and a source's word on what changed
gives the same index as a full update (and is ignored unless relative to the rows last taken)."""

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


@settings(max_examples=60, deadline=None)
@given(rows_st, st.lists(st.tuples(st.integers(1, 60), st.integers(1, 4), st.integers(0, 3)), max_size=8),
       st.sampled_from(KEYS), st.booleans(), st.sampled_from(["", "a", "b"]))
def test_patch_from_a_source_that_says_what_changed_equals_a_full_update(
        spec: dict, edits: list[tuple[int, int, int]], key: str, reverse: bool, needle: str) -> None:
    """A source's "only these maps changed since those rows" gives the same index as reading all rows,
    and says which sort columns moved (a change outside them keeps every map in its place)."""
    base = tuple(make(spec))
    patched = list(base)
    changed = []
    for mid, max_entries, memlock in edits:
        for n, r in enumerate(patched):
            if r.id == mid:
                patched[n] = replace(r, max_entries=max_entries, memlock=memlock)
                changed.append(mid)
    rows = tuple(patched)
    fast: ListIndex[str] = ListIndex(sort_value, lambda r: f"{r.id}:{r.max_entries}:{r.memlock}")
    full: ListIndex[str] = ListIndex(sort_value, lambda r: f"{r.id}:{r.max_entries}:{r.memlock}")
    for index in (fast, full):
        index.update(base)
        before = {k: index.order(k, reverse, needle) for k in KEYS}
        [index.cells(r.id) for r in base]
    ch = fast.update(rows, changed, base)
    want = full.update(rows)
    assert ch.changed == want.changed and not ch.new and not ch.gone
    assert ch.moved is not None or not base  # (a full update cannot say: want.moved is None)
    for k in KEYS:
        want_order = plain(list(rows), k, reverse, needle)
        assert fast.order(k, reverse, needle) == full.order(k, reverse, needle) == want_order
        if ch.moved is not None and k not in ch.moved:
            assert fast.order(k, reverse, needle) == before[k]  # nothing moved in this order
    assert all(fast.cells(r.id) == full.cells(r.id) for r in rows)


def test_patch_is_ignored_unless_it_is_relative_to_the_rows_last_taken() -> None:
    index: ListIndex[str] = ListIndex(sort_value, lambda r: r.name)
    a = tuple(make({1: ("a", 1, 0), 2: ("b", 1, 0)}))
    b = (replace(a[0], memlock=5), a[1])
    c = (b[0], replace(a[1], memlock=7))
    index.update(a)
    # c says "only map 2 changed since b", but this index never saw b: it compares every row
    ch = index.update(c, (2,), b)
    assert ch.changed == {1, 2} and ch.moved is None
