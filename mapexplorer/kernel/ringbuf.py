"""Read a ``BPF_MAP_TYPE_RINGBUF`` map from user space through mmap, in two modes.

Layout (kernel/bpf/ringbuf.c): page 0 holds the consumer position (the only page user space may map
writable), page 1 the producer position, then the data pages, which the kernel maps twice in a row so a
record that wraps past the end is still contiguous. Each record starts with an 8-byte header
``{u32 len (BUSY and DISCARD in the top bits), u32 pg_off}`` and occupies ``round_up(len + 8, 8)`` bytes.

* **consume** mode reads from the consumer position and advances it, exactly like libbpf's
  ``ring_buffer__consume``: it frees space for the producer, so only one consumer may do it.
* **tap** mode never writes the consumer position (the consumer page is mapped read-only): it starts
  at the owner's consumer position, follows the producer, and notices when the owner's consumer
  overtook it and the producer overwrote records it had not read yet (counted in ``overtaken`` and
  ``dropped``).

Waiting uses epoll on the map fd. The kernel only wakes a waiter when its own consumer position
caught up, so in tap mode a wait is capped at a few milliseconds and the producer position re-checked.
"""

from __future__ import annotations

import mmap
import os
import select
import time
from dataclasses import dataclass

from mapexplorer.kernel import maps

BUSY_BIT = 1 << 31
DISCARD_BIT = 1 << 30
LEN_MASK = ~(BUSY_BIT | DISCARD_BIT) & 0xFFFFFFFF
HDR_SIZE = 8
PAGE_SIZE = mmap.PAGESIZE
TAP_POLL_S = 0.005  # tap mode: the kernel does not wake us, so re-check the producer this often
# Store the consumer position after at most this many records even inside one pass, so a fast
# producer gets space back while a long batch is copied out.
_RELEASE_EVERY = 4096


@dataclass(frozen=True, slots=True)
class RingPositions:
    """The two positions as the kernel sees them (bytes since the ring was created)."""

    consumer: int
    producer: int


class RingBufReader:
    """An mmap'd view of one ringbuf map.

    Args:
        fd: a writable fd for the ringbuf map (``open_map(id, write=True)``): the kernel refuses a shared
            mapping of any bpf map through a read-only fd, in both modes. Tap mode maps the consumer page
            read-only, so it cannot write the consumer position even by accident. The caller keeps
            ``fd`` open as long as the reader lives (``close()`` unmaps, it does not close ``fd``).
        size: the map's ``max_entries`` (the data size, a power of two multiple of the page size).
        consume: advance the consumer position (True) or tap without writing it (False).

    Raises:
        OSError: mmap failed (EINVAL: a read-only fd; EPERM: frozen map).
    """

    def __init__(self, fd: int, size: int, *, consume: bool) -> None:
        if size <= 0 or size & (size - 1):
            raise ValueError(f"ringbuf size {size} is not a power of two")
        self.fd = fd
        self.size = size
        self.mask = size - 1
        self.consume = consume
        self.overtaken = 0  # tap: times the owner's consumer overtook us and records were overwritten
        self.dropped = 0  # tap: records skipped because they were overwritten before we read them
        self.discarded = 0  # records the producer discarded (bpf_ringbuf_discard)
        self._cons_map: mmap.mmap | None = None
        self._data_map: mmap.mmap | None = None
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if consume else 0)
        self._cons_map = mmap.mmap(fd, PAGE_SIZE, flags=mmap.MAP_SHARED, prot=prot, offset=0)
        try:
            self._data_map = mmap.mmap(
                fd, PAGE_SIZE + 2 * size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ, offset=PAGE_SIZE
            )
        except BaseException:
            self._cons_map.close()
            raise
        self._cons_q = memoryview(self._cons_map).cast("Q")
        self._prod_q = memoryview(self._data_map)[:8].cast("Q")
        self._hdr = memoryview(self._data_map).cast("I")
        self._epoll = select.epoll()
        self._epoll.register(fd, select.EPOLLIN)
        # Our read position: the real consumer position in consume mode, our own in tap mode.
        self.pos = self._cons_q[0]
        self._last_rec = 16

    # -- positions -----------------------------------------------------------------------------

    def positions(self) -> RingPositions:
        """The kernel's consumer and producer positions now."""
        return RingPositions(self._cons_q[0], self._prod_q[0])

    def available(self) -> int:
        """Bytes between our read position and the producer."""
        return self._prod_q[0] - self.pos

    # -- reading -------------------------------------------------------------------------------

    def read(self, max_records: int = 1 << 30) -> list[bytes]:
        """Every complete record between our position and the producer (up to ``max_records``),
        oldest first, without waiting. Consume mode releases the space as it goes.
        """
        if self.consume:
            return self._read_consume(max_records)
        return self._read_tap(max_records)

    def _read_consume(self, max_records: int) -> list[bytes]:
        out: list[bytes] = []
        append = out.append
        data = self._data_map
        hdr = self._hdr
        cons_q = self._cons_q
        prod_q = self._prod_q
        mask = self.mask
        cons = self.pos
        n = 0
        while n < max_records:
            prod = prod_q[0]
            if cons >= prod:
                break
            got = False
            release_at = n + _RELEASE_EVERY
            while cons < prod and n < max_records:
                off = PAGE_SIZE + (cons & mask)
                ln = hdr[off >> 2]
                if ln & BUSY_BIT:
                    break
                got = True
                length = ln & LEN_MASK
                cons += (length + 15) & ~7
                if ln & DISCARD_BIT:
                    self.discarded += 1
                    continue
                append(data[off + 8 : off + 8 + length])
                n += 1
                if n >= release_at:
                    cons_q[0] = cons
                    release_at = n + _RELEASE_EVERY
            cons_q[0] = cons
            if not got:
                break
        self.pos = cons
        return out

    def _read_tap(self, max_records: int) -> list[bytes]:
        data = self._data_map
        hdr = self._hdr
        mask = self.mask
        size = self.size
        self._catch_up_if_overwritten()
        pos = self.pos
        prod = self._prod_q[0]
        records: list[bytes] = []
        starts: list[int] = []
        while pos < prod and len(records) < max_records:
            off = PAGE_SIZE + (pos & mask)
            ln = hdr[off >> 2]
            if ln & BUSY_BIT:
                break
            length = ln & LEN_MASK
            rec_len = (length + 15) & ~7
            if rec_len > size:
                break  # garbage header: the record was overwritten; the check below resyncs
            if ln & DISCARD_BIT:
                self.discarded += 1
            else:
                starts.append(pos)
                records.append(data[off + 8 : off + 8 + length])
            pos += rec_len
        # Validate after copying: a record starting at p is intact while producer - p <= size
        # (the producer only reserves space up to the owner's consumer + size).
        prod_now = self._prod_q[0]
        keep_from = 0
        for i, p in enumerate(starts):
            if prod_now - p <= size:
                break
            keep_from = i + 1
        if keep_from:
            self.overtaken += 1
            self.dropped += keep_from
            records = records[keep_from:]
        if prod_now - pos > size:
            # Even our next position is gone: resync at the owner's consumer (a record boundary).
            self._catch_up_if_overwritten()
        else:
            self.pos = pos
        if records:
            self._last_rec = max(8, (sum(len(r) for r in records) // len(records) + 15) & ~7)
        return records

    def _catch_up_if_overwritten(self) -> None:
        prod = self._prod_q[0]
        if prod - self.pos <= self.size:
            return
        cons = self._cons_q[0]
        skipped = max(cons - self.pos, 0)
        self.overtaken += 1
        self.dropped += max(1, skipped // self._last_rec)  # an estimate: the headers are gone
        self.pos = max(cons, self.pos)

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for data past our position; True when there is some."""
        if self.available() > 0:
            return True
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self.available() > 0
            step = remaining if self.consume else min(remaining, TAP_POLL_S)
            self._epoll.poll(step)  # EINTR is retried by Python (PEP 475)
            if self.available() > 0:
                return True

    def close(self) -> None:
        """Unmap the ring (the caller closes the fd it passed in)."""
        for view in ("_cons_q", "_prod_q", "_hdr"):
            mv = getattr(self, view, None)
            if mv is not None:
                mv.release()
                setattr(self, view, None)
        if self._cons_map is not None:
            self._cons_map.close()
            self._cons_map = None
        if self._data_map is not None:
            self._data_map.close()
            self._data_map = None
        if self._epoll is not None:
            self._epoll.close()

    def __enter__(self) -> RingBufReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_ringbuf(map_id: int, *, consume: bool) -> tuple[int, RingBufReader]:
    """Open the ringbuf with this id (a writable fd, which mmap needs even for tap mode) and map it.

    Returns the fd (the caller closes it after the reader) and the reader.

    Raises:
        FileNotFoundError: no such map.
        ValueError: the map is not a ringbuf.
    """
    fd = maps.open_map(map_id, write=True)
    try:
        info = maps.map_info(fd)
        if info.type_name != "ringbuf":
            raise ValueError(f"map {map_id} is a {info.type_name}, not a ringbuf")
        return fd, RingBufReader(fd, info.max_entries, consume=consume)
    except BaseException:
        os.close(fd)
        raise
