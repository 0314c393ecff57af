"""Per-map entry counts and fill, without reading every map: the numbers behind the map list's
``entries`` / ``fill`` columns, ``list --json``, ``show`` and ``doctor``.

How each map type is counted (:class:`Counter`):

* the hash family (:data:`~mapexplorer.kernel.counts.KFUNC_COUNTED`): exactly, from the one BPF
  iterator read of :func:`mapexplorer.kernel.counts.entry_counts`;
* ``array`` / ``percpu_array``: every slot exists, so entries = max_entries;
* ``ringbuf`` / ``user_ringbuf``: no entries; their fill is the backlog (producer - consumer position over
  the ring size), read from two read-only one-page mappings;
* other listable types (lpm_trie, stack_trace, devmap, prog_array, maps of maps...), and the hash family
  when the iterator is unavailable: by reading the map, within a budget -- at most ``read_rate`` entries
  per second per map, at most ``cpu_share`` of a core, never a full walk of a map above ``big`` entries
  more often than every ``big_interval`` s, and at most ``read_budget_s`` of reading per call. Between
  reads the last count is reported as approximate ("~"), before the first as pending ("counting");
* types nothing can count without consuming them (queue, stack, bloom_filter, perf_event_array, the
  fd-keyed storages, arena): unknown.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import EllipsisType
from typing import Any

from mapexplorer.fill import (  # noqa: F401  (re-exported: the kernel-layer API)
    ARRAY_TYPES,
    BACKLOG,
    FAILS_WHEN_FULL,
    ITERATOR,
    LRU_TYPES,
    MAP_OF_MAPS,
    NONE,
    READ,
    RING_TYPES,
    SIZE,
    VALUES_UNREADABLE,
    EntryCount,
)
from mapexplorer.kernel import counts, maps, ringbuf
from mapexplorer.maptypes import PEEK_TYPES


def fill_of(info: maps.MapInfo, entries: int | None) -> float | None:
    if entries is None or info.max_entries <= 0:
        return None
    return entries / info.max_entries


def ring_backlog(map_id: int) -> int:
    """Bytes a ringbuf's producer is ahead of its consumer (read without consuming anything).

    Raises:
        OSError: the map is gone (FileNotFoundError) or cannot be mapped (e.g. EPERM when frozen).
    """
    fd = maps.open_map(map_id, write=True)
    try:
        pos = ringbuf.ring_positions(fd)
    finally:
        os.close(fd)
    return max(pos.producer - pos.consumer, 0)


def count_by_reading(map_id: int) -> int | None:
    """Entries of a listable map, by reading all of it (batch, or GET_NEXT_KEY + lookup); None when its
    values cannot be read (cgroup_array, xskmap: every index is listed, occupied or not)."""
    n = 0
    with maps.Map.open(map_id) as m:
        for c in m.read_chunks():
            if c.stride == 0 and c.count:
                return None
            n += c.count
    return n


def inner_map_ids(map_id: int) -> list[int]:
    """The inner map ids held by an array_of_maps / hash_of_maps (reads the outer map)."""
    with maps.Map.open(map_id) as m:
        out: list[int] = []
        for c in m.read_chunks():
            if c.stride >= 4:
                vals, st = c.values, c.stride
                out.extend(int.from_bytes(vals[i * st : i * st + 4], "little") for i in range(c.count))
        return [i for i in out if i]


STATIC_TYPES = counts.KFUNC_COUNTED | ARRAY_TYPES
"""Types whose count follows from the iterator's number or the size alone (nothing read per call)."""


@dataclass
class _ReadState:
    count: int | None = None
    due: float = 0.0  # monotonic time before which this map is not read again


@dataclass
class Counter:
    """Counts every map's entries by the cheapest exact means (see the module docstring).

    One instance per process (or per data source) keeps the fallback reads' schedule; safe to call from
    one worker thread at a time (a lock serialises calls).

    Attributes:
        reason: why the iterator is unavailable (None while it works); shown by ``show`` and the UI.
    """

    read_rate: int = 20_000
    big: int = 100_000
    big_interval: float = 30.0
    min_interval: float = 5.0
    cpu_share: float = 0.05
    read_budget_s: float = 0.05
    use_iterator: bool = True
    clock: Callable[[], float] = time.monotonic
    reason: str | None = None
    _reads: dict[int, _ReadState] = field(default_factory=dict)
    _made: dict[int, tuple[maps.MapInfo, int, EntryCount]] = field(default_factory=dict)
    redone: list[int] | None = None
    """The ids whose count the last call made again (None: every map's)."""
    _last: tuple[Any, ...] | None = None
    """(infos list, iterator counts, result, info by id, ids counted otherwise) of the last call made
    with a list: a caller passing the same list again has its counts redone only where they can move."""
    """Map id -> (info, number, count) of the last count made from the iterator or the size: the same
    object again while neither changed (a caller with 20,000 maps compares by identity)."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def iterator_counts(self) -> dict[int, int] | None:
        """The iterator's counts, or None (``reason`` set) when it cannot be used here."""
        if not self.use_iterator:
            self.reason = "iterator disabled"
            return None
        try:
            got = counts.entry_counts()
        except counts.CountsUnavailable as exc:
            self.reason = exc.reason
            return None
        self.reason = None
        return got

    def count(self, infos: Iterable[maps.MapInfo], *, reads: bool = True,
              by_iter: dict[int, int] | EllipsisType | None = ...) -> dict[int, EntryCount]:
        """Map id -> EntryCount for each of ``infos``.

        Args:
            reads: allow fallback reads in this call (False: report what is known, pending otherwise).
            by_iter: the caller's own :meth:`iterator_counts` result, read just before (it also lists
                every map's id); by default this call reads the iterator.
        """
        with self._lock:
            given = infos
            infos = given if isinstance(given, list) else list(given)
            if isinstance(by_iter, EllipsisType):
                by_iter = self.iterator_counts()
            deadline = self.clock() + self.read_budget_s
            last = self._last
            if (last is not None and infos is last[0] and by_iter is not None and last[1] is not None
                    and len(by_iter) == len(last[1])):
                # the same maps as last call (the caller passed the same list): only the maps whose
                # iterator count moved, and those counted otherwise (rings, reads), are looked at again
                prev_iter, prev_out, info_of = last[1], last[2], last[3]
                redo = [mid for mid, n in by_iter.items() if prev_iter.get(mid) != n and mid in info_of]
                out = dict(prev_out)
                self.redone = [*redo, *last[4]]
                for mid in self.redone:
                    out[mid] = self._one(info_of[mid], by_iter, reads=reads, deadline=deadline)
                self._last = (infos, by_iter, out, info_of, last[4])
                return out
            self.redone = None
            if last is not None and by_iter is not None and last[1] is not None and given is infos:
                return self._count_moved(infos, by_iter, reads, deadline)
            out = {}
            for info in infos:
                out[info.id] = self._one(info, by_iter, reads=reads, deadline=deadline)
            alive = {i.id for i in infos}
            for mid in [m for m in self._reads if m not in alive]:
                del self._reads[mid]
            if len(self._made) > len(infos):
                self._made = {k: v for k, v in self._made.items() if k in alive}
            live = [i.id for i in infos if i.type_name not in STATIC_TYPES]
            self._last = (infos, by_iter, out, {i.id: i for i in infos}, live) if given is infos else None
            return out

    def _count_moved(self, infos: list[maps.MapInfo], by_iter: dict[int, int], reads: bool,
                     deadline: float) -> dict[int, EntryCount]:
        """:meth:`count` after maps came or went (another list than last call's): the maps that stayed,
        with the same info and iterator number, keep their count without being looked at."""
        assert self._last is not None
        _, prev_iter, prev_out, prev_info, _ = self._last
        info_of = {i.id: i for i in infos}
        redo = {mid for mid, i in info_of.items() if prev_info.get(mid) is not i}  # new, or read again
        redo.update(mid for mid, n in by_iter.items() if prev_iter.get(mid) != n and mid in info_of)
        live = [mid for mid, i in info_of.items() if i.type_name not in STATIC_TYPES]
        out = dict(prev_out)
        for mid in prev_out.keys() - info_of.keys():
            del out[mid]
            self._reads.pop(mid, None)
            self._made.pop(mid, None)
        for mid in [*redo, *live]:
            out[mid] = self._one(info_of[mid], by_iter, reads=reads, deadline=deadline)
        self._last = (infos, by_iter, out, info_of, live)
        return out

    def _kept(self, info: maps.MapInfo, n: int, method: str) -> EntryCount:
        """``EntryCount(n, method, fill)``, the same object as last time when info and n are the same."""
        hit = self._made.get(info.id)
        if hit is not None and hit[0] is info and hit[1] == n and hit[2].method == method:
            return hit[2]
        c = EntryCount(n, method, fill_of(info, n)) if method == ITERATOR else \
            EntryCount(n, method, 1.0 if n else None)
        self._made[info.id] = (info, n, c)
        return c

    def _one(self, info: maps.MapInfo, by_iter: dict[int, int] | None, *, reads: bool,
             deadline: float) -> EntryCount:
        t = info.type_name
        if t in counts.KFUNC_COUNTED and by_iter is not None:
            n = by_iter.get(info.id)
            if n is not None:
                return self._kept(info, n, ITERATOR)
            # created after the iterator ran: the next call sees it
            return EntryCount(None, ITERATOR, pending=True)
        if t in ARRAY_TYPES:
            return self._kept(info, info.max_entries, SIZE)
        if t in RING_TYPES:
            try:
                b = ring_backlog(info.id)
            except OSError:
                return EntryCount(None, BACKLOG)
            return EntryCount(None, BACKLOG, b / info.max_entries if info.max_entries else None, backlog=b)
        if info.iterable and t not in PEEK_TYPES and t not in VALUES_UNREADABLE:
            return self._read(info, reads=reads, deadline=deadline)
        return EntryCount(None, NONE)

    def _read(self, info: maps.MapInfo, *, reads: bool, deadline: float) -> EntryCount:
        st = self._reads.setdefault(info.id, _ReadState())
        now = self.clock()
        if reads and now >= st.due and now < deadline:
            t0 = time.perf_counter()
            try:
                n = count_by_reading(info.id)
            except FileNotFoundError:
                return EntryCount(None, READ)
            except OSError:
                st.due = now + self.big_interval  # not readable after all: retry rarely
                return EntryCount(st.count, READ, fill_of(info, st.count), approx=st.count is not None)
            elapsed = time.perf_counter() - t0
            if n is None:
                st.due = float("inf")  # nothing to count by reading: never read it again
                st.count = None
                return EntryCount(None, NONE)
            interval = max(self.min_interval, n / self.read_rate, elapsed / self.cpu_share)
            if n > self.big:
                interval = max(interval, self.big_interval)
            st.count, st.due = n, self.clock() + interval
            return EntryCount(n, READ, fill_of(info, n))
        if st.due == float("inf"):
            return EntryCount(None, NONE)
        if st.count is None:
            return EntryCount(None, READ, pending=True)
        return EntryCount(st.count, READ, fill_of(info, st.count), approx=True)
