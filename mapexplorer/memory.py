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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mapexplorer.kernel.health import EntryCount
    from mapexplorer.kernel.inventory import MapRecord

GROUPINGS = ("owner", "pin-dir", "name")
NO_OWNER = "(no process)"
NOT_PINNED = "(not pinned)"
NO_NAME = "(no name)"


@dataclass(frozen=True, slots=True)
class Member:
    """What grouping needs to know about one map (built from an inventory record or a map-list row)."""

    id: int
    name: str
    memlock: int
    owners: tuple[str, ...] = ()  # "comm[pid]"
    pinned: tuple[str, ...] = ()
    entries: int | None = None


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


def members_from_records(records: Sequence[MapRecord], counts: Mapping[int, EntryCount]) -> list[Member]:
    out = []
    for r in records:
        c = counts.get(r.info.id)
        out.append(Member(r.info.id, r.info.name, r.info.memlock,
                          tuple(f"{o.comm}[{o.pid}]" for o in r.owners), tuple(r.pinned),
                          None if c is None else c.entries))
    return out


def _keys(m: Member, by: str) -> list[str]:
    if by == "owner":
        return list(m.owners) or [NO_OWNER]
    if by == "pin-dir":
        return sorted({os.path.dirname(p) for p in m.pinned}) or [NOT_PINNED]
    if by == "name":
        return [m.name or NO_NAME]
    raise ValueError(f"unknown grouping {by!r} (one of {', '.join(GROUPINGS)})")


def group_maps(
    members: Sequence[Member],
    by: str,
    inner: Mapping[int, Sequence[int]] | None = None,
) -> list[Group]:
    """Groups of ``members`` by ``by`` ("owner", "pin-dir" or "name"), largest memlock first.

    Args:
        inner: outer map id -> inner map ids it holds now.

    Raises:
        ValueError: an unknown ``by``.
    """
    inner = inner or {}
    by_id = {m.id: m for m in members}
    groups: dict[str, set[int]] = {}
    for m in members:
        ids = {m.id, *(i for i in inner.get(m.id, ()) if i in by_id)}
        for key in _keys(m, by):
            groups.setdefault(key, set()).update(ids)
    out = []
    for key, ids in groups.items():
        known = (by_id[i].entries for i in ids)
        out.append(Group(
            by=by,
            key=key,
            map_ids=tuple(sorted(ids)),
            memlock=sum(by_id[i].memlock for i in ids),
            entries=sum(e for e in known if e is not None),
        ))
    out.sort(key=lambda g: (-g.memlock, g.key))
    return out
