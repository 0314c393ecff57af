"""The map list's source at scale, on real maps (mlx_ks_*, created here): KernelSource's first listings are
quick (the first rows, then every map) and the next complete; rows, records and counts of maps that did not
change stay the very same objects, and a map whose entry count moved gets a new row while the others keep
theirs; the counter redoes only the maps whose iterator number moved (and those it counts otherwise) when
given the same list."""

from __future__ import annotations

import struct

import pytest
from helpers import needs_root

from mapexplorer import kernel_source
from mapexplorer.kernel import counts, health
from mapexplorer.kernel.inventory import UNREAD
from mapexplorer.kernel_source import KernelSource

pytestmark = [pytest.mark.kernel, needs_root]


def _mine(rows) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {r.name: r for r in rows if r.name.startswith("mlx_ks_")}


def test_rows_of_unchanged_maps_are_kept_and_a_changed_count_makes_a_new_row(new_map, monkeypatch) -> None:
    maps_ = {n: new_map("hash", 4, 8, 16, name=f"mlx_ks_{n}") for n in "abc"}
    monkeypatch.setattr(kernel_source, "FIRST_ROWS", 2)  # the first rows: two maps, whatever the box holds
    source = KernelSource()
    first = source.list_maps()
    assert first.partial and len(first.rows) == 2 and first.total is not None and first.total >= 3 + 2
    assert [r.id for r in first.rows] == sorted(r.id for r in first.rows)  # the lowest ids
    quick = source.list_maps()  # every map, still quick
    assert quick.partial and quick.total is None
    assert all(r.memlock == UNREAD and not r.owners for r in _mine(quick.rows).values())
    assert set(_mine(quick.rows)) == {"mlx_ks_a", "mlx_ks_b", "mlx_ks_c"}
    full = source.list_maps()
    assert not full.partial
    before = _mine(full.rows)
    assert set(before) == {"mlx_ks_a", "mlx_ks_b", "mlx_ks_c"}
    assert all(r.memlock > 0 and r.owners for r in before.values())  # this test holds them
    again = _mine(source.list_maps().rows)
    assert all(again[n] is before[n] for n in before)  # nothing changed: the same row objects
    maps_["a"].update(struct.pack("<I", 1), bytes(8))
    after = _mine(source.list_maps().rows)
    assert after["mlx_ks_a"] is not before["mlx_ks_a"] and after["mlx_ks_a"].count.entries == 1
    assert after["mlx_ks_b"] is before["mlx_ks_b"] and after["mlx_ks_c"] is before["mlx_ks_c"]


def test_counter_given_the_same_list_redoes_only_moved_counts(new_map) -> None:
    if counts.unavailable_reason() is not None:
        pytest.skip(counts.unavailable_reason())
    a = new_map("hash", 4, 8, 16, name="mlx_ks_ca")
    b = new_map("hash", 4, 8, 16, name="mlx_ks_cb")
    ring = new_map("ringbuf", 0, 0, 4096, name="mlx_ks_rb")
    counter = health.Counter()
    by_iter = counter.iterator_counts()
    assert by_iter is not None
    infos = [m.info for m in (a, b, ring)]
    first = counter.count(infos, by_iter=by_iter)
    assert counter.redone is None  # a new list: every map counted
    moved = dict(by_iter)
    moved[a.info.id] = 7  # as if the program had added 7 entries
    second = counter.count(infos, by_iter=moved)
    assert counter.redone == [a.info.id, ring.info.id]  # the moved count, and the ring (its backlog)
    assert second[a.info.id].entries == 7 and second[a.info.id] is not first[a.info.id]
    assert second[b.info.id] is first[b.info.id]
    assert counter.count(list(infos), by_iter=moved) == second  # another list: counted afresh, same result
    assert counter.redone is None


def test_counter_after_maps_came_and_went_equals_a_fresh_count(new_map) -> None:
    if counts.unavailable_reason() is not None:
        pytest.skip(counts.unavailable_reason())
    a = new_map("hash", 4, 8, 16, name="mlx_ks_ma")
    b = new_map("hash", 4, 8, 16, name="mlx_ks_mb")
    ring = new_map("ringbuf", 0, 0, 4096, name="mlx_ks_mr")
    d = new_map("hash", 4, 8, 16, name="mlx_ks_md")
    d_info = d.info
    counter = health.Counter()
    first = counter.count([a.info, b.info, ring.info, d_info], by_iter=counter.iterator_counts())
    c = new_map("array", 4, 8, 4, name="mlx_ks_mc")  # a map came, b "went" (left out of the list)
    a.update(struct.pack("<I", 3), bytes(8))
    by_iter = counter.iterator_counts()
    infos = [a.info, ring.info, c.info, d_info]
    got = counter.count(infos, by_iter=by_iter)
    assert got == health.Counter().count(infos, by_iter=by_iter)  # what counting afresh says
    assert set(got) == {a.info.id, ring.info.id, c.info.id, d_info.id}
    assert got[d_info.id] is first[d_info.id]  # stayed as it was: not looked at again
    assert got[a.info.id].entries == 1 and got[c.info.id].entries == 4
    assert got[ring.info.id] == first[ring.info.id]
