"""Memory by owner: maps grouped by owning process, by bpffs directory or by name, with map counts,
entry totals and memlock totals. Pure (no syscalls, no Textual): the caller passes the inventory
records, the entry counts and which inner maps each map-of-maps holds.

A map-of-maps counts with its inner maps: every group an outer map falls in also holds the outer map's
inner maps (each map at most once per group). A map held by two processes is in both processes' groups,
so owner totals may add up to more than the kernel's total.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mapexplorer.kernel.health import EntryCount
from mapexplorer.kernel.inventory import MapRecord

GROUPINGS = ("owner", "pin-dir", "name")
NO_OWNER = "(no process)"
NOT_PINNED = "(not pinned)"
NO_NAME = "(no name)"


@dataclass(frozen=True, slots=True)
class Group:
    """One group of maps and its totals."""

    by: str
    key: str
    map_ids: tuple[int, ...]
    memlock: int
    entries: int  # sum of the known entry counts (maps that cannot be counted add nothing)

    def to_json(self) -> dict:
        return {"by": self.by, "group": self.key, "maps": len(self.map_ids), "map_ids": list(self.map_ids),
                "memlock": self.memlock, "entries": self.entries}


def _keys(r: MapRecord, by: str) -> list[str]:
    if by == "owner":
        return [f"{o.comm}[{o.pid}]" for o in r.owners] or [NO_OWNER]
    if by == "pin-dir":
        return sorted({os.path.dirname(p) for p in r.pinned}) or [NOT_PINNED]
    if by == "name":
        return [r.info.name or NO_NAME]
    raise ValueError(f"unknown grouping {by!r} (one of {', '.join(GROUPINGS)})")


def group_maps(
    records: Sequence[MapRecord],
    by: str,
    counts: Mapping[int, EntryCount] | None = None,
    inner: Mapping[int, Sequence[int]] | None = None,
) -> list[Group]:
    """Groups of ``records`` by ``by`` ("owner", "pin-dir" or "name"), largest memlock first.

    Args:
        counts: map id -> entry count (for the entry totals).
        inner: outer map id -> inner map ids it holds now.

    Raises:
        ValueError: an unknown ``by``.
    """
    counts = counts or {}
    inner = inner or {}
    by_id = {r.info.id: r for r in records}
    members: dict[str, set[int]] = {}
    for r in records:
        ids = {r.info.id, *(i for i in inner.get(r.info.id, ()) if i in by_id)}
        for key in _keys(r, by):
            members.setdefault(key, set()).update(ids)
    out = []
    for key, ids in members.items():
        known = (counts[i].entries for i in ids if i in counts)
        out.append(Group(
            by=by,
            key=key,
            map_ids=tuple(sorted(ids)),
            memlock=sum(by_id[i].info.memlock for i in ids),
            entries=sum(e for e in known if e is not None),
        ))
    out.sort(key=lambda g: (-g.memlock, g.key))
    return out
