"""Entry counts and fill as the UI, the CLI and the exporter show them: :class:`EntryCount` and the map
type sets that decide how a type is counted and what "full" means for it. Pure: no syscalls, no Textual
(the counting itself is :mod:`mapexplorer.kernel.health`).
"""

from __future__ import annotations

from dataclasses import dataclass

from mapexplorer.maptypes import MAP_OF_MAPS_TYPES

KERNEL_COUNTED = frozenset({"hash", "percpu_hash", "lru_hash", "lru_percpu_hash", "hash_of_maps"})
"""The kernel keeps an element count for these (hashtab.c): the BPF iterator reads it exactly."""
ARRAY_TYPES = frozenset({"array", "percpu_array"})
INDEXED_TYPES = ARRAY_TYPES | {
    "prog_array", "perf_event_array", "cgroup_array", "array_of_maps", "devmap", "cpumap", "xskmap",
    "sockmap", "reuseport_sockarray", "struct_ops",
}
"""Keyed by index 0..max_entries-1: "full" means every slot is used, and a write replaces a slot, never
fails for lack of room. Their fill is shown, never coloured or reported."""
VALUES_UNREADABLE = frozenset({"cgroup_array", "xskmap"})
"""Reading lists every index whether a slot is used or not: a read cannot count them."""
RING_TYPES = frozenset({"ringbuf", "user_ringbuf"})
LRU_TYPES = frozenset({"lru_hash", "lru_percpu_hash"})
# Types whose inserts fail (E2BIG / ENOSPC) once max_entries are in: "full" is an error for them.
FAILS_WHEN_FULL = frozenset({"hash", "percpu_hash", "hash_of_maps", "lpm_trie", "devmap_hash", "sockhash"})
MAP_OF_MAPS = MAP_OF_MAPS_TYPES

# Count methods (EntryCount.method)
ITERATOR = "iterator"
SIZE = "max_entries"
READ = "read"
BACKLOG = "backlog"
NONE = "none"

WARN_FILL = 0.80
"""Fill at or above which the map list colours a map (and counts it in its summary)."""
CRIT_FILL = 0.95


@dataclass(frozen=True, slots=True)
class EntryCount:
    """One map's entry count and fill, and how it was obtained.

    ``entries`` is None when unknown (``pending``: a read will count it; otherwise it cannot be counted).
    ``approx`` marks a count from an earlier read of the map (it may have changed since).
    ``fill`` is entries / max_entries, or for rings the backlog over the ring size; None when undefined.
    """

    entries: int | None
    method: str
    fill: float | None = None
    approx: bool = False
    pending: bool = False
    backlog: int | None = None  # rings: bytes produced and not yet consumed

    def entries_text(self) -> str:
        """``1234``, ``~1234`` (from an earlier read), ``counting`` or ``-``."""
        if self.entries is not None:
            return f"~{self.entries}" if self.approx else str(self.entries)
        return "counting" if self.pending else "-"

    def fill_text(self) -> str:
        """``87.5%`` (``~87.5%`` when approximate), ``counting`` or ``-``."""
        if self.fill is not None:
            return f"{'~' if self.approx else ''}{self.fill * 100:.1f}%"
        return "counting" if self.pending else "-"

    def to_json(self) -> dict:
        out: dict = {"entries": self.entries, "fill": None if self.fill is None else round(self.fill, 6),
                     "count_method": self.method, "count_approx": self.approx}
        if self.backlog is not None:
            out["backlog"] = self.backlog
        return out


def fill_band(fill: float | None, type_name: str) -> str:
    """"crit" (>= 95 %), "warn" (>= 80 %) or "" for a fill; index-keyed maps (arrays are full by
    construction) are never banded."""
    if fill is None or type_name in INDEXED_TYPES:
        return ""
    if fill >= CRIT_FILL:
        return "crit"
    return "warn" if fill >= WARN_FILL else ""


def recorded_count(type_name: str, max_entries: int, entries: int | None,
                   backlog: int | None = None) -> EntryCount:
    """The EntryCount a live source would report for a map recorded with ``entries`` entries (None: not
    listable) and, for rings, ``backlog`` bytes: how recordings and fixtures show entries and fill."""
    def fill(n: int | None) -> float | None:
        return None if n is None or max_entries <= 0 else n / max_entries

    if type_name in ARRAY_TYPES:
        return EntryCount(max_entries, SIZE, fill(max_entries))
    if type_name in RING_TYPES:
        return EntryCount(None, BACKLOG, fill(backlog), backlog=backlog)
    if entries is None or type_name in VALUES_UNREADABLE:
        return EntryCount(None, NONE)
    return EntryCount(entries, ITERATOR if type_name in KERNEL_COUNTED else READ, fill(entries))
