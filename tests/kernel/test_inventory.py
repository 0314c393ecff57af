"""kernel.inventory.Inventory, the map list's incremental inventory, on real maps held by other processes:
every call sees maps appear and vanish, and says what a one-shot collect() says."""

from __future__ import annotations

import pytest
from helpers import MapHolder, needs_root

from mapexplorer.kernel import inventory

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
