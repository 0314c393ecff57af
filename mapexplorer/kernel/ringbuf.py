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
# Copy and parse at most this many bytes at a time (consume mode releases the space after each),
# so a fast producer gets space back while a long backlog is read.
CHUNK_MAX = 1 << 20
GATHER_S = 0.002  # read_when_ready: the longest pause letting a batch gather after a wakeup


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
        self._chunk_cap = max(min(size // 4, CHUNK_MAX), PAGE_SIZE)
        self._paced_at = time.monotonic()
        self._paced_pos = self.pos

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
        oldest first, without waiting. Consume mode releases the space chunk by chunk.

        The committed region is copied out in one slice (contiguous thanks to the double mapping) and
        parsed from the copy; a run of records of one length is cut with a single comprehension. Reads
        up to the producer position seen on entry: chasing a producer that keeps writing would turn one
        call into many tiny reads.
        """
        out: list[bytes] = []
        data = self._data_map
        if data is None:
            raise ValueError("ringbuf reader is closed")
        size = self.size
        mask = self.mask
        cap = self._chunk_cap
        target = self._prod_q[0]
        while len(out) < max_records:
            if not self.consume:
                self._catch_up_if_overwritten()
            pos = self.pos
            avail = target - pos
            if avail <= 0:
                break
            take = min(avail, cap)
            off = PAGE_SIZE + (pos & mask)
            chunk = data[off : off + take]
            if not self.consume and self._prod_q[0] - pos > size:
                continue  # overwritten while we copied it: the loop resyncs at the owner's consumer
            used, discarded = parse_records(chunk, out, max_records - len(out))
            self.discarded += discarded
            if used == 0:
                if take < avail and not self._hdr[off >> 2] & BUSY_BIT:
                    cap = avail  # one record longer than a chunk: copy it whole
                    continue
                break  # the next record is still being written
            self.pos = pos + used
            if self.consume:
                self._cons_q[0] = self.pos
        if out and not self.consume:
            self._last_rec = (len(out[-1]) + 15) & ~7
        return out

    def _catch_up_if_overwritten(self) -> None:
        """Tap mode: if the producer lapped our position, resync at the owner's consumer position (the
        only record boundary we can trust) and count what was skipped."""
        prod = self._prod_q[0]
        if prod - self.pos <= self.size:
            return
        cons = self._cons_q[0]
        skipped = max(cons - self.pos, 0)
        self.overtaken += 1
        self.dropped += max(1, skipped // self._last_rec)  # an estimate: those headers are gone
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

    def read_when_ready(self, timeout: float, gather: float = GATHER_S) -> list[bytes]:
        """Wait up to ``timeout`` for data, let a batch gather, then :meth:`read` it.

        A reader that is always caught up gets a kernel wakeup (and pays a poll round trip) every few
        records, which costs the producer too. Pausing up to ``gather`` seconds after the wakeup, but
        never longer than it takes the rate just seen to fill a quarter of the ring, turns that into a
        few hundred large reads a second.
        """
        if not self.wait(timeout):
            return []
        now = time.monotonic()
        span = now - self._paced_at
        rate = (self.pos - self._paced_pos) / span if span > 0 else 0.0
        pause = min(gather, self.size / 4 / max(rate, 1.0))
        if pause > 0:
            time.sleep(pause)
        records = self.read()
        self._paced_at, self._paced_pos = time.monotonic(), self.pos
        return records

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


def parse_records(chunk: bytes, out: list[bytes], limit: int) -> tuple[int, int]:
    """Append the samples of the ringbuf records in ``chunk`` (which starts at a record header) to
    ``out``, at most ``limit`` of them, stopping at a record still being written (BUSY) or cut by the
    end of the chunk.

    Returns:
        (bytes of ``chunk`` consumed, records skipped because the producer discarded them).
    """
    h = memoryview(chunk).cast("I") if len(chunk) % 4 == 0 else memoryview(chunk[: len(chunk) & ~3]).cast("I")
    n = len(chunk)
    pos = 0
    discarded = 0
    extend = out.extend
    append = out.append
    try:
        while pos + HDR_SIZE <= n and limit > 0:
            ln = h[pos >> 2]
            if ln & BUSY_BIT:
                break
            length = ln & LEN_MASK
            rec = (length + 15) & ~7
            if pos + rec > n:
                break  # the rest of this record is beyond the copy
            if ln & DISCARD_BIT:
                discarded += 1
                pos += rec
                continue
            run = min((n - pos) // rec, limit)
            if run > 4:
                # A run of records of one length: check every header of the run with one slice, then
                # cut the samples with one comprehension.
                heads = h[pos >> 2 : (pos + run * rec) >> 2 : rec >> 2].tolist()
                if heads.count(ln) != run:
                    run = next(i for i, x in enumerate(heads) if x != ln)
                first = pos + HDR_SIZE
                extend([chunk[i : i + length] for i in range(first, first + run * rec, rec)])
                pos += run * rec
                limit -= run
            else:
                append(chunk[pos + HDR_SIZE : pos + HDR_SIZE + length])
                pos += rec
                limit -= 1
    finally:
        h.release()
    return pos, discarded


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


def ring_positions(fd: int) -> RingPositions:
    """The consumer and producer positions of a ringbuf or user_ringbuf, read through two read-only
    one-page mappings (nothing is consumed, no data page is mapped). ``fd`` must be writable (mmap).
    """
    cons = mmap.mmap(fd, PAGE_SIZE, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ, offset=0)
    try:
        prod = mmap.mmap(fd, PAGE_SIZE, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ, offset=PAGE_SIZE)
        try:
            return RingPositions(int.from_bytes(cons[:8], "little"), int.from_bytes(prod[:8], "little"))
        finally:
            prod.close()
    finally:
        cons.close()
