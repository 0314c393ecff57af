"""Share a stream this process already reads (the in-process demo's BCC perf buffer or ring buffer
consumer) with other readers in this process, instead of installing a second reader into the map.

A perf_event_array slot holds one perf event: a second reader in the same process could only take the
demo's slots over (silencing it), and a ringbuf consumed by the demo would be raced by a second consumer.
So the owner of the stream registers a :class:`StreamTee` for the map and calls :meth:`StreamTee.feed`
from its callback for every record; each :meth:`StreamTee.subscribe` gets a :class:`TeeReader` with its
own bounded queue (the owner never waits for a slow subscriber: the oldest records are dropped and
counted). With nobody subscribed, ``feed`` is one attribute test, so the owner pays nothing.

No bpf() and no Textual here: plain threads, locks and deques.
"""

from __future__ import annotations

import threading
from collections import deque

DEFAULT_CAPACITY = 65536  # records a subscriber may lag behind before the oldest are dropped

_TEES: dict[int, StreamTee] = {}
_TEES_LOCK = threading.Lock()


class TeeClosed(EOFError):
    """The owner stopped its stream: no more records will come."""


class TeeReader:
    """One subscriber's view of a shared stream: ``(cpu, raw)`` records, oldest first.

    The reading side of :class:`mapexplorer.kernel.perf.PerfEventArrayReader` (``read``, ``wait``,
    ``lost``, ``close``), so a stream reads it the same way. ``cpu`` is None for ringbuf records.
    ``lost`` counts what the kernel reported lost to the owner while we were subscribed; ``dropped``
    what this subscriber's queue dropped because it lagged ``capacity`` records behind.
    """

    rings: tuple[()] = ()
    """No rings of its own (a stream asks a perf reader for its rings' size)."""

    def __init__(self, tee: StreamTee, capacity: int) -> None:
        self._tee = tee
        self._queue: deque[tuple[int | None, bytes]] = deque()
        self._capacity = capacity
        self._ready = threading.Event()
        self.lost = 0
        self.dropped = 0
        self.ended = False
        """The owner stopped its stream (what was queued can still be read)."""

    def _put(self, cpu: int | None, raw: bytes) -> None:
        q = self._queue
        if len(q) >= self._capacity:
            q.popleft()
            self.dropped += 1
        q.append((cpu, raw))
        self._ready.set()

    def _end(self) -> None:
        self.ended = True
        self._ready.set()

    def read(self) -> list[tuple[int | None, bytes]]:
        """Every record fed since the last read, oldest first, without waiting.

        Raises:
            TeeClosed: the owner stopped its stream and everything fed was read.
        """
        q = self._queue
        out = []
        with self._tee.lock:
            self._ready.clear()
            while q:
                out.append(q.popleft())
        if not out and self.ended:
            raise TeeClosed(f"the stream of map {self._tee.map_id} was stopped by its owner "
                            f"({self._tee.owner})")
        return out

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a record; True when one is pending (or the tee closed,
        which the next :meth:`read` reports)."""
        if self._queue or self.ended:
            return True
        self._ready.wait(max(timeout, 0.0))
        return bool(self._queue) or self.ended

    def close(self) -> None:
        """Unsubscribe (idempotent)."""
        self._tee._remove(self)
        self._queue.clear()

    def __enter__(self) -> TeeReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StreamTee:
    """The owner's side: ``feed`` every record it consumes; subscribers get copies.

    Args:
        map_id: the ringbuf or perf_event_array map whose records are shared.
        owner: who reads the map, for messages ("the demo (in this process)").
    """

    def __init__(self, map_id: int, owner: str) -> None:
        self.map_id = map_id
        self.owner = owner
        self.lock = threading.Lock()
        self._subs: tuple[TeeReader, ...] = ()
        self.fed = 0
        """Records fed while at least one subscriber listened."""

    @property
    def active(self) -> bool:
        """Whether anyone listens (the owner copies a record's bytes only then)."""
        return bool(self._subs)

    def feed(self, cpu: int | None, raw: bytes) -> None:
        """One record, from the owner's reading thread."""
        subs = self._subs
        if not subs:
            return
        with self.lock:
            self.fed += 1
            for s in subs:
                s._put(cpu, raw)

    def report_lost(self, count: int) -> None:
        """The kernel reported ``count`` records lost to the owner (a full perf ring)."""
        with self.lock:
            for s in self._subs:
                s.lost += count

    def subscribe(self, capacity: int = DEFAULT_CAPACITY) -> TeeReader:
        reader = TeeReader(self, capacity)
        with self.lock:
            self._subs = (*self._subs, reader)
        return reader

    def _remove(self, reader: TeeReader) -> None:
        with self.lock:
            self._subs = tuple(s for s in self._subs if s is not reader)

    def close(self) -> None:
        """The owner stops: every subscriber reads what is queued, then gets :class:`TeeClosed`."""
        with self.lock:
            subs, self._subs = self._subs, ()
        for s in subs:
            s._end()


def share(map_id: int, owner: str) -> StreamTee:
    """Register this process's reader of ``map_id`` as shareable; :func:`unshare` when it stops."""
    tee = StreamTee(map_id, owner)
    with _TEES_LOCK:
        _TEES[map_id] = tee
    return tee


def unshare(tee: StreamTee) -> None:
    """The owner stopped reading: unregister and end every subscriber's stream."""
    with _TEES_LOCK:
        if _TEES.get(tee.map_id) is tee:
            del _TEES[tee.map_id]
    tee.close()


def shared(map_id: int) -> StreamTee | None:
    """The tee of ``map_id`` when a reader in this process shares it."""
    with _TEES_LOCK:
        return _TEES.get(map_id)
