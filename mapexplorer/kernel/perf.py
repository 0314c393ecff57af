"""Read a ``BPF_MAP_TYPE_PERF_EVENT_ARRAY`` map: open one ``PERF_COUNT_SW_BPF_OUTPUT`` perf event per
possible CPU that is online (an offline CPU runs no program and perf_event_open refuses it) through
ctypes, mmap each event's ring, install the event fds into the map's slots, and parse
``PERF_RECORD_SAMPLE`` (raw data) and ``PERF_RECORD_LOST`` records; wait with epoll.

Only empty slots are used unless ``takeover``: a slot already holding another process's perf event
would otherwise stop delivering to that process. Whether a slot is occupied cannot be read from user
space (lookup returns ENOTSUPP), so :func:`occupied_slots` loads a 6-instruction raw_tracepoint program
calling ``bpf_perf_event_read(map, index)`` (``-ENOENT`` exactly when the slot is empty; it only reads
a counter, it emits nothing) and runs it with ``BPF_PROG_TEST_RUN``.

Our slots empty themselves when our map fd is closed (the kernel's perf_event_fd_array_release drops
every entry installed through that file), so ``close()`` leaves no dangling entry behind; a slot taken
over stays empty afterwards, and its previous reader gets nothing until it restarts (bcc and libbpf
install their perf events once, at start; nothing reinstalls them).

:func:`claim_own_reader` records the perf_event_array maps that another part of this process (the
in-process demo) reads, so that nothing here takes their slots over.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import platform
import select
import struct
from ctypes import c_int16, c_int32, c_uint16, c_uint32, c_uint64
from dataclasses import dataclass
from itertools import repeat

from mapexplorer.kernel import maps, progs
from mapexplorer.kernel import syscall as sc

PAGE_SIZE = mmap.PAGESIZE
_NR_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241, "armv7l": 364, "ppc64le": 319, "s390x": 331,
                       "riscv64": 241}
PERF_TYPE_SOFTWARE = 1
PERF_COUNT_SW_BPF_OUTPUT = 10
PERF_SAMPLE_RAW = 1 << 10
PERF_FLAG_FD_CLOEXEC = 1 << 3
PERF_RECORD_LOST = 2
PERF_RECORD_SAMPLE = 9
BPF_PROG_TYPE_RAW_TRACEPOINT = 17
BPF_FUNC_PERF_EVENT_READ = 22
BPF_PSEUDO_MAP_FD = 1
DEFAULT_PAGES = 64  # data pages per CPU ring (a power of two): 256 KiB with 4 KiB pages

_HEAD_IDX = 1024 // 8  # struct perf_event_mmap_page: data_head at 1024, data_tail at 1032,
_TAIL_IDX = 1032 // 8  # data_offset at 1040, data_size at 1048
_OFFSET_IDX = 1040 // 8
_SIZE_IDX = 1048 // 8


class PerfEventAttr(ctypes.Structure):
    """struct perf_event_attr up to sig_data (PERF_ATTR_SIZE_VER7, 128 bytes)."""

    _fields_ = [
        ("type", c_uint32),
        ("size", c_uint32),
        ("config", c_uint64),
        ("sample_period", c_uint64),
        ("sample_type", c_uint64),
        ("read_format", c_uint64),
        ("flags", c_uint64),  # the disabled/inherit/... bitfield; 0 = enabled at open
        ("wakeup_events", c_uint32),
        ("bp_type", c_uint32),
        ("config1", c_uint64),
        ("config2", c_uint64),
        ("branch_sample_type", c_uint64),
        ("sample_regs_user", c_uint64),
        ("sample_stack_user", c_uint32),
        ("clockid", c_int32),
        ("sample_regs_intr", c_uint64),
        ("aux_watermark", c_uint32),
        ("sample_max_stack", c_uint16),
        ("reserved2", c_int16),
        ("aux_sample_size", c_uint32),
        ("reserved3", c_uint32),
        ("sig_data", c_uint64),
    ]


_OWN_READERS: set[int] = set()


def claim_own_reader(map_id: int) -> None:
    """This process reads ``map_id``'s slots through another library (the in-process demo's BCC)."""
    _OWN_READERS.add(map_id)


def release_own_reader(map_id: int) -> None:
    _OWN_READERS.discard(map_id)


def own_readers() -> frozenset[int]:
    """The perf_event_array maps this process reads through another library (never taken over)."""
    return frozenset(_OWN_READERS)


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def perf_event_open(attr: PerfEventAttr, pid: int, cpu: int, group_fd: int = -1,
                    flags: int = PERF_FLAG_FD_CLOEXEC) -> int:
    """The perf_event_open(2) syscall. Raises OSError with the kernel's errno."""
    nr = _NR_PERF_EVENT_OPEN.get(platform.machine())
    if nr is None:  # pragma: no cover - an architecture we never ran on
        raise OSError(errno.ENOSYS, f"perf_event_open number unknown for {platform.machine()}")
    ret = _syscall(ctypes.c_long(nr), ctypes.byref(attr), ctypes.c_int(pid), ctypes.c_int(cpu),
                   ctypes.c_int(group_fd), ctypes.c_ulong(flags))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def open_bpf_output_event(cpu: int) -> int:
    """A PERF_COUNT_SW_BPF_OUTPUT event on ``cpu`` sampling raw data, woken on every sample."""
    attr = PerfEventAttr(
        type=PERF_TYPE_SOFTWARE,
        size=ctypes.sizeof(PerfEventAttr),
        config=PERF_COUNT_SW_BPF_OUTPUT,
        sample_period=1,
        sample_type=PERF_SAMPLE_RAW,
        wakeup_events=1,
    )
    return perf_event_open(attr, -1, cpu)


class PerfRing:
    """The mmap'd ring of one perf event: a metadata page then ``pages`` data pages.

    ``read()`` returns the raw samples and counts PERF_RECORD_LOST in ``lost``.
    """

    def __init__(self, fd: int, cpu: int, pages: int = DEFAULT_PAGES) -> None:
        if pages <= 0 or pages & (pages - 1):
            raise ValueError(f"perf ring pages {pages} is not a power of two")
        self.fd = fd
        self.cpu = cpu
        self.lost = 0
        self._map: mmap.mmap | None = mmap.mmap(
            fd, (1 + pages) * PAGE_SIZE, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE
        )
        self._meta = memoryview(self._map)[:PAGE_SIZE].cast("Q")
        self.data_offset = self._meta[_OFFSET_IDX] or PAGE_SIZE
        self.data_size = self._meta[_SIZE_IDX] or pages * PAGE_SIZE

    def pending(self) -> bool:
        return self._meta[_HEAD_IDX] != self._meta[_TAIL_IDX]

    def read(self) -> list[bytes]:
        """Every sample's raw data written since the last read, oldest first."""
        m = self._map
        if m is None:
            raise ValueError(f"perf ring of cpu {self.cpu} is closed")
        meta = self._meta
        head = meta[_HEAD_IDX]
        tail = meta[_TAIL_IDX]
        if head == tail:
            return []
        size = self.data_size
        base = self.data_offset
        start = tail % size
        end = head % size
        if head - tail >= size or start >= end:
            chunk = m[base + start : base + size] + m[base : base + end]
        else:
            chunk = m[base + start : base + end]
        out: list[bytes] = []
        self.lost += parse_perf_records(chunk, out)
        meta[_TAIL_IDX] = head
        return out

    def close(self) -> None:
        if self._map is not None:
            self._meta.release()
            self._map.close()
            self._map = None


def parse_perf_records(chunk: bytes, out: list[bytes]) -> int:
    """Append the raw data of every PERF_RECORD_SAMPLE in ``chunk`` (whole records, as copied from a
    ring between its tail and head) to ``out``; return the count PERF_RECORD_LOST records reported.

    Samples of one size in a row (the usual case: one event struct) are checked with one strided slice
    of their headers and cut with one comprehension.
    """
    n = len(chunk) & ~7
    q = memoryview(chunk)[:n].cast("Q")
    unpack = struct.unpack_from
    pos = 0
    lost = 0
    try:
        while pos + 8 <= n:
            hdr = q[pos >> 3]
            rtype = hdr & 0xFFFFFFFF
            rsize = hdr >> 48
            if rsize < 8 or rsize & 7 or pos + rsize > n:
                break  # never produced by the kernel: stop rather than loop
            if rtype == PERF_RECORD_SAMPLE:
                (raw_size,) = unpack("<I", chunk, pos + 8)
                run = (n - pos) // rsize
                if run > 4:
                    heads = q[pos >> 3 : (pos + run * rsize) >> 3 : rsize >> 3].tolist()
                    if heads.count(hdr) != run:
                        run = next(i for i, x in enumerate(heads) if x != hdr)
                    # Same header (type, size) means same raw size: only PERF_SAMPLE_RAW is sampled.
                    first = pos + 12
                    out.extend([chunk[i : i + raw_size] for i in range(first, first + run * rsize, rsize)])
                    pos += run * rsize
                    continue
                out.append(chunk[pos + 12 : pos + 12 + raw_size])
            elif rtype == PERF_RECORD_LOST:
                lost += unpack("<Q", chunk, pos + 16)[0]
            pos += rsize
    finally:
        q.release()
    return lost


def online_cpus() -> tuple[int, ...]:
    """The CPUs online now: a perf event can only be opened on those (possible CPUs may be offline)."""
    with open("/sys/devices/system/cpu/online") as f:
        return tuple(maps.parse_cpu_list(f.read()))


def usable_cpus(info: maps.MapInfo) -> list[int]:
    """The CPUs whose slot we may fill: possible, online, and below the map's max_entries."""
    online = set(online_cpus())
    return [c for c in maps.possible_cpus() if c < info.max_entries and c in online]


def slot_states(map_id: int) -> dict[int, bool]:
    """For each usable CPU's slot of the perf_event_array, whether it is occupied (nothing installed)."""
    fd = maps.open_map(map_id, write=True)
    try:
        return occupied_slots(fd, usable_cpus(maps.map_info(fd)))
    finally:
        os.close(fd)


def occupied_slots(map_fd: int, indexes: list[int]) -> dict[int, bool]:
    """For each index, whether that perf_event_array slot holds a perf event.

    Loads a tiny raw_tracepoint program (r2 = ctx->args[0]; return bpf_perf_event_read(map, r2)) and
    test-runs it once per index: -ENOENT means empty, anything else means occupied. Reading a counter
    has no side effect on the owner's stream.

    Raises:
        OSError: the probe program could not be loaded or run (the errno says why).
    """
    insns = b"".join(
        [
            progs.insn(0x79, dst=6, src=1),  # r6 = *(u64 *)(r1 + 0)
            progs.insn(0x18, dst=1, src=BPF_PSEUDO_MAP_FD, imm=map_fd),  # r1 = map (ld_imm64)
            progs.insn(0x00),
            progs.insn(0xBF, dst=2, src=6),  # r2 = r6
            progs.insn(0x85, imm=BPF_FUNC_PERF_EVENT_READ),  # call bpf_perf_event_read
            progs.insn(0x95),  # exit
        ]
    )
    try:
        prog_fd = progs.load_prog(insns, BPF_PROG_TYPE_RAW_TRACEPOINT, name="mx_slot_probe")
    except OSError as exc:
        raise OSError(exc.errno, f"perf slot probe refused: {exc.strerror}") from None
    try:
        out: dict[int, bool] = {}
        for index in indexes:
            ret = progs.run_once(prog_fd, struct.pack("<Q", index))
            out[index] = ret != -errno.ENOENT
        return out
    finally:
        os.close(prog_fd)


@dataclass(frozen=True, slots=True)
class SlotPlan:
    """Which slots a reader uses: ``free`` were empty, ``taken`` were occupied and replaced (takeover),
    ``skipped`` were occupied and left alone."""

    free: tuple[int, ...]
    taken: tuple[int, ...]
    skipped: tuple[int, ...]


class PerfEventArrayReader:
    """Our perf events installed into a perf_event_array map, read as (cpu, raw bytes) records.

    Args:
        map_id: the map.
        takeover: replace occupied slots too (the owner gets nothing from those CPUs until it restarts).
        pages: data pages per CPU ring (a power of two).

    Raises:
        FileNotFoundError: no such map.
        ValueError: the map is not a perf_event_array.
        SlotsBusy: every usable slot is occupied and ``takeover`` is False.
        OSError: perf_event_open, mmap, or the slot probe failed.
    """

    def __init__(self, map_id: int, *, takeover: bool = False, pages: int = DEFAULT_PAGES) -> None:
        self.rings: list[PerfRing] = []
        self._event_fds: list[int] = []
        self._epoll = select.epoll()
        self.map_fd = maps.open_map(map_id, write=True)  # installing a slot needs a writable fd
        try:
            info = maps.map_info(self.map_fd)
            if info.type_name != "perf_event_array":
                raise ValueError(f"map {map_id} is a {info.type_name}, not a perf_event_array")
            self.info = info
            cpus = usable_cpus(info)
            busy = occupied_slots(self.map_fd, cpus)
            free = tuple(c for c in cpus if not busy[c])
            occupied = tuple(c for c in cpus if busy[c])
            self.plan = SlotPlan(free, occupied if takeover else (), () if takeover else occupied)
            use = sorted(self.plan.free + self.plan.taken)
            if not use:
                raise SlotsBusy(occupied)
            for cpu in use:
                self._install(cpu, pages)
        except BaseException:
            self.close()
            raise

    def _install(self, cpu: int, pages: int) -> None:
        efd = open_bpf_output_event(cpu)
        self._event_fds.append(efd)
        ring = PerfRing(efd, cpu, pages)
        self.rings.append(ring)
        self._epoll.register(efd, select.EPOLLIN)
        key = struct.pack("<I", cpu)
        value = struct.pack("<I", efd)
        kbuf = ctypes.create_string_buffer(key, 4)
        vbuf = ctypes.create_string_buffer(value, 4)
        sc.bpf(sc.BPF_MAP_UPDATE_ELEM, sc.MapElemAttr(map_fd=self.map_fd, key=ctypes.addressof(kbuf),
                                                      value=ctypes.addressof(vbuf), flags=sc.BPF_ANY))

    @property
    def lost(self) -> int:
        """Samples the kernel reported lost (PERF_RECORD_LOST) because a ring was full."""
        return sum(r.lost for r in self.rings)

    def read(self) -> list[tuple[int, bytes]]:
        """Every pending sample as (cpu, raw data), ring by ring, without waiting."""
        out: list[tuple[int, bytes]] = []
        for ring in self.rings:
            if ring.pending():
                out.extend(zip(repeat(ring.cpu), ring.read()))
        return out

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a sample on any ring; True when one is pending."""
        if any(r.pending() for r in self.rings):
            return True
        self._epoll.poll(max(timeout, 0.0))
        return any(r.pending() for r in self.rings)

    def close(self) -> None:
        """Unmap the rings and close every fd (which also empties the slots we installed)."""
        for ring in self.rings:
            ring.close()
        self.rings = []
        self._epoll.close()
        for efd in self._event_fds:
            os.close(efd)
        self._event_fds = []
        if getattr(self, "map_fd", -1) >= 0:
            os.close(self.map_fd)
            self.map_fd = -1

    def __enter__(self) -> PerfEventArrayReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SlotsBusy(OSError):
    """Every slot of the perf_event_array already holds another process's perf event."""

    def __init__(self, occupied: tuple[int, ...]) -> None:
        super().__init__(errno.EBUSY, f"every slot is in use by another reader (cpus {list(occupied)})")
        self.occupied = occupied
