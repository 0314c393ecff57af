"""kernel.inventory.Inventory, the map list's incremental inventory, on real maps held by other processes:
every call sees maps appear and vanish, and says what a one-shot collect() says."""

from __future__ import annotations

import pytest
from helpers import MapHolder, needs_root

from mapexplorer.kernel import inventory, maps

pytestmark = [pytest.mark.kernel, needs_root]


def spec(name: str) -> dict:
    return {"type": "hash", "key_size": 4, "value_size": 8, "max_entries": 8, "name": name}


def mine(records: list[inventory.MapRecord]) -> dict[int, inventory.MapRecord]:
    return {r.info.id: r for r in records if r.info.name.startswith("iv_")}


def test_maps_appear_and_vanish_between_calls_and_match_collect() -> None:
    inv = inventory.Inventory(reread_per_call=5, owners_every=0, owners_cpu_share=1e9)  # walk every call
    with MapHolder([spec("iv_a"), spec("iv_b")]) as first:
        seen = mine(inv.collect())
        assert set(seen) == set(first.ids)
        assert all([o.pid for o in seen[i].owners] == [first.pid] for i in first.ids)
        with MapHolder([spec("iv_c")]) as second:
            seen = mine(inv.collect())
            assert set(seen) == {*first.ids, *second.ids}
            assert seen == mine(inventory.collect())  # the same records as a full one-shot read
        seen = mine(inv.collect())
        assert set(seen) == set(first.ids)  # the second holder's map was freed
    assert mine(inv.collect()) == {}


def test_quick_first_call_then_full_and_unchanged_records_kept() -> None:
    """A quick first call lists every map without owners, pins, programs or memlock (UNREAD); the next
    call fills them in; a record whose map did not change is the very same object in later calls, while a
    map whose owners changed gets a new one. The ids may come from the caller (the counting iterator)."""
    inv = inventory.Inventory(reread_per_call=0, owners_every=0, owners_cpu_share=1e9)  # walk every call
    with MapHolder([spec("iv_q1"), spec("iv_q2")]) as first:
        quick = mine(inv.collect(quick=True))
        assert set(quick) == set(first.ids)
        assert all(r.info.memlock == inventory.UNREAD and not r.owners for r in quick.values())
        full = mine(inv.collect())
        assert all(r.info.memlock > 0 for r in full.values())
        assert all([o.pid for o in full[i].owners] == [first.pid] for i in first.ids)
        assert full == mine(inventory.collect())  # what a one-shot read says
        again = mine(inv.collect(ids=sorted(maps.map_ids())))
        assert all(again[i] is full[i] for i in first.ids)  # nothing changed: the same objects
        with MapHolder([spec("iv_q3")]) as second:
            later = mine(inv.collect())
            assert set(later) == {*first.ids, *second.ids}
            assert all(later[i] is full[i] for i in first.ids)
