"""The event view's memory: :class:`EventRing`, the newest N events kept as the batches they arrived in.

A batch is kept as it came from the reader, ``(first event number, arrival time, records)``, the records
being the stream's ``(cpu, raw)`` pairs: no object is made per event. A row ``(number, record, arrival)``
is built only when asked for (the rows on screen, a filter, a test), so an event view at tens of
thousands of events a second makes no per-event garbage for the collector to walk.

Pure Python, no Textual: the screen owns one and hands the table frozen :meth:`EventRing.snapshot` views.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from typing import Any, overload

Row = tuple[int, tuple[int | None, Any], float]
"""One event: (its number in the stream, its (cpu, raw) record, its wall-clock arrival time)."""


class EventRing(Sequence[Row]):
    """At most ``maxlen`` events, oldest first, as a sequence of rows (indexable, sliceable, iterable).

    Events are numbered by the caller (a batch's first number, then one more per record), so numbers grow
    but may skip (records a reader dropped are never kept).
    """

    def __init__(self, maxlen: int) -> None:
        if maxlen <= 0:
            raise ValueError("maxlen must be positive")
        self.maxlen = maxlen
        self._batches: list[tuple[int, float, Sequence[tuple[int | None, Any]]]] = []
        """Kept batches from ``_head`` on; those before it are forgotten (:data:`_GONE`: records freed)."""
        self._starts: list[int] = []
        """Ordinal (count of records ever added before it) of each kept batch's first record."""
        self._head = 0
        """Index of the oldest batch still (partly) kept; older entries wait for a compaction."""
        self._first = 0
        """Ordinal of the oldest record kept."""
        self._end = 0
        """Ordinal one past the newest record."""

    def add(self, first_number: int, arrived: float, records: Sequence[tuple[int | None, Any]]) -> None:
        """Keep a batch: ``records[i]`` is event number ``first_number + i``, arrived at ``arrived``."""
        if not records:
            return
        if len(records) > self.maxlen:
            cut = len(records) - self.maxlen
            records = records[cut:]
            first_number += cut
        self._batches.append((first_number, arrived, records))
        self._starts.append(self._end)
        self._end += len(records)
        self._trim()

    def _trim(self) -> None:
        self._first = max(self._first, self._end - self.maxlen)
        starts = self._starts
        head = self._head
        # a batch is gone once the next one starts at or before the oldest kept ordinal
        while head + 1 < len(starts) and starts[head + 1] <= self._first:
            self._batches[head] = _GONE  # free its records now, not at the next compaction
            head += 1
        self._head = head
        if head > 64 and head * 2 > len(starts):  # compact now and then: O(1) amortized
            del self._batches[:head]
            del self._starts[:head]
            self._head = 0

    def clear(self) -> None:
        self._batches = []
        self._starts = []
        self._head = 0
        self._first = self._end

    def snapshot(self) -> EventRing:
        """A frozen copy (later :meth:`add` calls do not change it), sharing the batches' records."""
        copy = EventRing.__new__(EventRing)
        copy.maxlen = self.maxlen
        copy._batches = self._batches[self._head :]
        copy._starts = self._starts[self._head :]
        copy._head = 0
        copy._first = self._first
        copy._end = self._end
        return copy

    def __len__(self) -> int:
        return self._end - self._first

    def _row(self, ordinal: int) -> Row:
        b = bisect.bisect_right(self._starts, ordinal, self._head) - 1
        number, arrived, records = self._batches[b]
        j = ordinal - self._starts[b]
        return (number + j, records[j], arrived)

    @overload
    def __getitem__(self, index: int) -> Row: ...

    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...

    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        n = len(self)
        if isinstance(index, slice):
            return [self._row(self._first + i) for i in range(*index.indices(n))]
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("event ring index out of range")
        return self._row(self._first + index)

    def __iter__(self) -> Iterator[Row]:
        first = self._first
        for b in range(self._head, len(self._batches)):
            number, arrived, records = self._batches[b]
            start = self._starts[b]
            for j in range(max(0, first - start), len(records)):
                yield (number + j, records[j], arrived)

    def newest(self, count: int) -> list[Row]:
        """The newest ``count`` rows (fewer when fewer are kept), oldest first."""
        return self[max(0, len(self) - count) :]

    def index_of(self, number: int) -> int:
        """Index of the first kept row whose number is ``number`` or more (``len(self)`` if none)."""
        return bisect.bisect_left(self, number, key=lambda r: r[0])


_GONE: tuple[int, float, Sequence[tuple[int | None, Any]]] = (0, 0.0, ())
"""What a forgotten batch's slot holds until the list is compacted."""
