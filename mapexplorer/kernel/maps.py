"""BPF maps through bpf(): enumerate ids, open by id, read info and fdinfo, read entries (batch with a
GET_NEXT_KEY fallback), peek queues and stacks, and the write operations used by tests, demos and the
explicit write mode.

Everything returns bytes or frozen dataclasses; every failure is an ``OSError`` subclass with its errno.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache

from mapexplorer.kernel import syscall as sc
from mapexplorer.kernel.names import map_type_name
from mapexplorer.maptypes import NON_ITERABLE_TYPES, PERCPU_TYPES


@dataclass(frozen=True, slots=True)
class MapInfo:
    """What ``BPF_OBJ_GET_INFO_BY_FD`` says about a map, plus the fdinfo-only facts."""

    id: int
    type: int
    type_name: str
    name: str
    key_size: int
    value_size: int
    max_entries: int
    flags: int
    btf_id: int
    btf_key_type_id: int
    btf_value_type_id: int
    btf_vmlinux_value_type_id: int
    map_extra: int
    ifindex: int
    memlock: int
    frozen: bool

    @property
    def percpu(self) -> bool:
        return self.type_name in PERCPU_TYPES

    @property
    def iterable(self) -> bool:
        return self.type_name not in NON_ITERABLE_TYPES

    @property
    def value_stride(self) -> int:
        """Bytes one entry's value takes in a lookup buffer (per-CPU: rounded to 8, times possible CPUs)."""
        if self.percpu:
            return round_up8(self.value_size) * possible_cpu_count()
        return self.value_size


def round_up8(n: int) -> int:
    return (n + 7) & ~7


def parse_cpu_list(text: str) -> list[int]:
    """Parse a kernel CPU list such as ``0-3,8,10-11``."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


@cache
def possible_cpus() -> tuple[int, ...]:
    """The possible CPUs (not the online ones): per-CPU map values have one slot for each."""
    with open("/sys/devices/system/cpu/possible") as f:
        return tuple(parse_cpu_list(f.read()))


def possible_cpu_count() -> int:
    cpus = possible_cpus()
    return max(cpus) + 1 if cpus else 1


def map_ids() -> Iterator[int]:
    """Every map id in the kernel, ascending."""
    attr = sc.GetIdAttr()
    while True:
        try:
            sc.bpf(sc.BPF_MAP_GET_NEXT_ID, attr)
        except FileNotFoundError:
            return
        yield attr.next_id
        attr.start_id = attr.next_id


READER_FDS: dict[int, int] = {}
"""fd -> map id of every fd this process opened to read a map (:func:`open_map` without ``write``). The
owner walk leaves these out, so the explorer is never listed as an owner of a map it only looks at; an fd
number closed and reused for another map no longer matches its entry."""


def open_map(map_id: int, *, write: bool = False) -> int:
    """A new fd for the map with this id, read-only unless ``write`` (a read-only fd is recorded in
    :data:`READER_FDS`).

    Raises:
        FileNotFoundError: no map has this id (any more).
        PermissionError: not root (BPF_MAP_GET_FD_BY_ID needs CAP_SYS_ADMIN).
    """
    attr = sc.GetIdAttr(start_id=map_id, open_flags=0 if write else sc.BPF_F_RDONLY)
    try:
        fd = sc.bpf(sc.BPF_MAP_GET_FD_BY_ID, attr)
    except PermissionError:
        if write:
            raise
        # Maps frozen or created BPF_F_WRONLY refuse a read-only open only for writing; retry plain.
        attr.open_flags = 0
        fd = sc.bpf(sc.BPF_MAP_GET_FD_BY_ID, attr)
    if write:
        READER_FDS.pop(fd, None)
    else:
        READER_FDS[fd] = map_id
    return fd


def _fdinfo_bytes(fd: int | str, pid: int | str) -> bytes:
    f = os.open(f"/proc/{pid}/fdinfo/{fd}", os.O_RDONLY)
    try:
        return os.read(f, 4096)
    finally:
        os.close(f)


def read_fdinfo(fd: int | str, pid: int | str = "self") -> dict[str, str]:
    """The ``key: value`` lines of /proc/PID/fdinfo/FD."""
    out: dict[str, str] = {}
    for line in _fdinfo_bytes(fd, pid).decode(errors="replace").splitlines():
        key, _, value = line.partition(":")
        out[key.strip()] = value.strip()
    return out


def fdinfo_ints(fd: int | str, names: tuple[bytes, ...], pid: int | str = "self") -> tuple[int, ...]:
    """Integer fields of /proc/PID/fdinfo/FD by name (0 when absent): one open and one read, no parsing
    of the lines not asked for (listing 20,000 maps reads 20,000 of these, and owners as many again)."""
    return parse_fdinfo_ints(_fdinfo_bytes(fd, pid), names)


def parse_fdinfo_ints(data: bytes, names: tuple[bytes, ...]) -> tuple[int, ...]:
    """Integer fields by name (0 when absent) of an fdinfo's text."""
    data = b"\n" + data
    out = []
    for name in names:
        at = data.find(b"\n" + name + b":")
        if at < 0:
            out.append(0)
            continue
        start = at + len(name) + 2
        end = data.find(b"\n", start)
        text = data[start : end if end >= 0 else len(data)].strip()
        out.append(int(text) if text.isdigit() else 0)
    return tuple(out)


def map_info(fd: int, fdinfo_facts: tuple[int, int] | None = None) -> MapInfo:
    """Info about the map behind ``fd``; ``fdinfo_facts`` (memlock, frozen), when the caller has just read
    them from another fd of the same map, saves reading this fd's fdinfo."""
    raw = sc.MapInfoStruct()
    attr = sc.InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(raw), info=ctypes.addressof(raw))
    sc.bpf(sc.BPF_OBJ_GET_INFO_BY_FD, attr)
    memlock, frozen = fdinfo_facts or fdinfo_ints(fd, (b"memlock", b"frozen"))
    return MapInfo(
        id=raw.id,
        type=raw.type,
        type_name=map_type_name(raw.type),
        name=raw.name.decode(errors="replace"),
        key_size=raw.key_size,
        value_size=raw.value_size,
        max_entries=raw.max_entries,
        flags=raw.map_flags,
        btf_id=raw.btf_id,
        btf_key_type_id=raw.btf_key_type_id,
        btf_value_type_id=raw.btf_value_type_id,
        btf_vmlinux_value_type_id=raw.btf_vmlinux_value_type_id,
        map_extra=raw.map_extra,
        ifindex=raw.ifindex,
        memlock=memlock,
        frozen=bool(frozen),
    )


def map_info_by_id(map_id: int, fdinfo_facts: tuple[int, int] | None = None) -> MapInfo:
    fd = open_map(map_id)
    try:
        return map_info(fd, fdinfo_facts)
    finally:
        os.close(fd)


_INFO_LAYOUT = struct.Struct("<6I16sIIQQ4IQ")
"""struct bpf_map_info as :class:`~mapexplorer.kernel.syscall.MapInfoStruct` lays it out, read in one
unpack."""


def map_infos(ids: Iterable[int], fdinfo_facts: Mapping[int, tuple[int, int]] | None = None, *,
              missing_ok: bool = True) -> Iterator[MapInfo]:
    """:func:`map_info_by_id` for many ids, with one set of syscall buffers for them all (listing 20,000
    maps built 20,000 of each). ``fdinfo_facts``: map id -> (memlock, frozen) already read (see
    :func:`map_info`).

    Raises:
        FileNotFoundError: an id does not exist (any more), unless ``missing_ok`` (then it is skipped).
        PermissionError: not root.
    """
    raw = sc.MapInfoStruct()
    size = ctypes.sizeof(raw)
    assert size == _INFO_LAYOUT.size
    get = sc.GetIdAttr()
    raw_addr = ctypes.addressof(raw)
    attr = sc.InfoAttr(info_len=size, info=raw_addr)
    facts = fdinfo_facts or {}
    type_names: dict[int, str] = {}
    for map_id in ids:
        get.start_id, get.open_flags = map_id, sc.BPF_F_RDONLY
        try:
            try:
                fd = sc.bpf(sc.BPF_MAP_GET_FD_BY_ID, get)
            except PermissionError:  # frozen or BPF_F_WRONLY maps: see open_map
                get.open_flags = 0
                fd = sc.bpf(sc.BPF_MAP_GET_FD_BY_ID, get)
        except FileNotFoundError:
            if missing_ok:
                continue  # freed since its id was listed
            raise
        try:
            # zeroed each time: the kernel reads the buffer in first (its input fields) and writes only
            # the fields the map has (a map without BTF would keep the previous map's BTF ids)
            ctypes.memset(raw_addr, 0, size)
            attr.bpf_fd, attr.info_len = fd, size
            sc.bpf(sc.BPF_OBJ_GET_INFO_BY_FD, attr)
            memlock, frozen = facts.get(map_id) or fdinfo_ints(fd, (b"memlock", b"frozen"))
        finally:
            os.close(fd)
        (mtype, mid, key_size, value_size, max_entries, flags, name, ifindex, vmlinux_value, _dev, _ino,
         btf_id, btf_key, btf_value, _vmlinux_id, extra) = _INFO_LAYOUT.unpack(bytes(raw))
        tname = type_names.get(mtype)
        if tname is None:
            tname = type_names[mtype] = map_type_name(mtype)
        yield MapInfo(mid, mtype, tname, name.split(b"\0", 1)[0].decode(errors="replace"), key_size,
                      value_size, max_entries, flags, btf_id, btf_key, btf_value, vmlinux_value, extra,
                      ifindex, memlock, bool(frozen))


def find_map(ref: str) -> int:
    """A map id from a user's text: a number, or a name matching exactly one map.

    Raises:
        LookupError: no map with that id or name, or the name is ambiguous (the message says which).
    """
    if ref.isascii() and ref.isdigit():  # str.isdigit() alone also takes '²', which int() refuses
        map_id = int(ref) if len(ref.lstrip("0")) <= 10 else 0
        if not 0 < map_id < 2**32:  # bpf() takes a u32: a larger id would be silently truncated
            raise LookupError(f"no map with id {ref}: ids are 1..{2**32 - 1}")
        try:
            os.close(open_map(map_id))
        except FileNotFoundError:
            raise LookupError(f"no map with id {map_id}") from None
        return map_id
    found = []
    for mid in map_ids():
        try:
            if map_info_by_id(mid).name == ref:
                found.append(mid)
        except FileNotFoundError:
            continue
    if not found:
        raise LookupError(f"no map named {ref!r}")
    if len(found) > 1:
        ids = ", ".join(map(str, found))
        raise LookupError(f"{len(found)} maps are named {ref!r} (ids {ids}): give an id")
    return found[0]


class Map:
    """An open map: an fd plus its info, closed by ``close()`` or a ``with`` block."""

    def __init__(self, fd: int, info: MapInfo | None = None) -> None:
        self.fd = fd
        self.info = info or map_info(fd)

    @classmethod
    def open(cls, map_id: int, *, write: bool = False) -> Map:
        fd = open_map(map_id, write=write)
        try:
            return cls(fd)
        except BaseException:
            os.close(fd)
            raise

    def close(self) -> None:
        if self.fd >= 0:
            READER_FDS.pop(self.fd, None)
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Map:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- single-element operations -------------------------------------------------------------

    def lookup(self, key: bytes | None, flags: int = 0) -> bytes:
        """The value for ``key`` (``None`` for queue/stack peek). Raises FileNotFoundError if absent.

        ``flags``: ``BPF_F_LOCK`` reads a value holding a ``struct bpf_spin_lock`` under that lock.
        """
        value = ctypes.create_string_buffer(max(self.info.value_stride, 1))
        kbuf = None if key is None else ctypes.create_string_buffer(key, len(key))
        attr = sc.MapElemAttr(map_fd=self.fd, key=sc.addr(kbuf), value=ctypes.addressof(value), flags=flags)
        sc.bpf(sc.BPF_MAP_LOOKUP_ELEM, attr)
        return value.raw[: self.info.value_stride]

    def peek(self) -> bytes | None:
        """The head of a queue or stack without removing it; None when empty."""
        try:
            return self.lookup(None)
        except FileNotFoundError:
            return None

    def next_key(self, key: bytes | None) -> bytes | None:
        """The key after ``key`` (the first key for None); None at the end."""
        out = ctypes.create_string_buffer(max(self.info.key_size, 1))
        kbuf = None if key is None else ctypes.create_string_buffer(key, len(key))
        attr = sc.MapElemAttr(map_fd=self.fd, key=sc.addr(kbuf), value=ctypes.addressof(out))
        try:
            sc.bpf(sc.BPF_MAP_GET_NEXT_KEY, attr)
        except FileNotFoundError:
            return None
        return out.raw[: self.info.key_size]

    def update(self, key: bytes | None, value: bytes, flags: int = sc.BPF_ANY) -> None:
        """Write one entry (``key`` None for queue/stack push and bloom-filter insert).

        ``flags``: ``BPF_ANY``, ``BPF_NOEXIST`` (EEXIST when present), ``BPF_EXIST`` (ENOENT when absent;
        on a queue/stack: replace the oldest element when full), optionally ``| BPF_F_LOCK``. A per-CPU
        value is the whole per-CPU buffer (``value_stride`` bytes) unless ``BPF_F_CPU`` is set.
        """
        kbuf = None if key is None else ctypes.create_string_buffer(key, len(key))
        vbuf = ctypes.create_string_buffer(value, len(value))
        attr = sc.MapElemAttr(map_fd=self.fd, key=sc.addr(kbuf), value=ctypes.addressof(vbuf), flags=flags)
        sc.bpf(sc.BPF_MAP_UPDATE_ELEM, attr)

    def delete(self, key: bytes) -> None:
        kbuf = ctypes.create_string_buffer(key, len(key))
        attr = sc.MapElemAttr(map_fd=self.fd, key=ctypes.addressof(kbuf))
        sc.bpf(sc.BPF_MAP_DELETE_ELEM, attr)

    def pop(self) -> bytes | None:
        """Remove and return the head of a queue or stack (destructive; write mode only)."""
        try:
            return self.lookup_and_delete(None)
        except FileNotFoundError:
            return None

    def lookup_and_delete(self, key: bytes | None, flags: int = 0) -> bytes:
        """Remove ``key`` and return the value it had, atomically (hash-family maps since 5.14; ``None``
        pops a queue/stack). Raises FileNotFoundError when absent, OSError(EOPNOTSUPP/ENOTSUPP/EINVAL)
        where the map type cannot do it."""
        value = ctypes.create_string_buffer(max(self.info.value_stride, 1))
        kbuf = None if key is None else ctypes.create_string_buffer(key, len(key))
        attr = sc.MapElemAttr(map_fd=self.fd, key=sc.addr(kbuf), value=ctypes.addressof(value), flags=flags)
        sc.bpf(sc.BPF_MAP_LOOKUP_AND_DELETE_ELEM, attr)
        return value.raw[: self.info.value_stride]

    def update_batch(self, keys: bytes, values: bytes, count: int, flags: int = sc.BPF_ANY) -> int:
        """BPF_MAP_UPDATE_BATCH ``count`` entries from contiguous buffers; returns how many were written."""
        kbuf = ctypes.create_string_buffer(keys, len(keys))
        vbuf = ctypes.create_string_buffer(values, len(values))
        attr = sc.MapBatchAttr(
            keys=ctypes.addressof(kbuf), values=ctypes.addressof(vbuf), count=count, map_fd=self.fd,
            elem_flags=flags,
        )
        sc.bpf(sc.BPF_MAP_UPDATE_BATCH, attr)
        return attr.count

    def freeze(self) -> None:
        """Make the map read-only for user space from now on (for good; programs still write)."""
        sc.bpf(sc.BPF_MAP_FREEZE, sc.MapElemAttr(map_fd=self.fd))

    def pin(self, path: str) -> None:
        """Pin the map at ``path`` on a bpffs mount."""
        obj_pin(self.fd, path)

    # -- whole-map reads -------------------------------------------------------------------------

    def read_chunks(self, chunk: int = 65536) -> Iterator[EntryChunk]:
        """Every entry, as chunks of contiguous key and value bytes.

        Uses BPF_MAP_LOOKUP_BATCH and falls back to GET_NEXT_KEY + LOOKUP on map types without batch
        support. Entries deleted while we iterate are skipped.
        """
        if not self.info.iterable:
            raise OSError(errno.EOPNOTSUPP, f"{self.info.type_name} maps cannot be iterated")
        try:
            yield from self._read_batch(chunk)
        except _BatchUnsupported:
            yield from self._read_next_key(chunk)

    def _read_batch(self, chunk: int) -> Iterator[EntryChunk]:
        ks, stride = self.info.key_size, self.info.value_stride
        count = max(1, min(chunk, self.info.max_entries or chunk))
        token_size = max(ks, 8)
        in_batch = ctypes.create_string_buffer(token_size)
        out_batch = ctypes.create_string_buffer(token_size)
        first = True
        while True:
            keys = ctypes.create_string_buffer(ks * count)
            values = ctypes.create_string_buffer(max(stride * count, 1))
            attr = sc.MapBatchAttr(
                in_batch=0 if first else ctypes.addressof(in_batch),
                out_batch=ctypes.addressof(out_batch),
                keys=ctypes.addressof(keys),
                values=ctypes.addressof(values),
                count=count,
                map_fd=self.fd,
            )
            done = False
            try:
                sc.bpf(sc.BPF_MAP_LOOKUP_BATCH, attr)
            except FileNotFoundError:
                done = True
            except OSError as exc:
                if exc.errno == errno.ENOSPC and attr.count == 0:
                    count *= 2  # one hash bucket holds more entries than the buffer: grow and retry
                    continue
                if first and sc.is_unsupported(exc):
                    raise _BatchUnsupported from exc
                raise
            n = attr.count
            if n:
                yield EntryChunk(keys.raw[: n * ks], values.raw[: n * stride], n, ks, stride)
            if done:
                return
            ctypes.memmove(in_batch, out_batch, token_size)
            first = False

    def _read_next_key(self, chunk: int) -> Iterator[EntryChunk]:
        ks, stride = self.info.key_size, self.info.value_stride
        keys: list[bytes] = []
        values: list[bytes] = []
        seen: set[bytes] = set()
        key = self.next_key(None)
        # GET_NEXT_KEY restarts from the first key when the previous one was deleted: the seen-set
        # stops a loop, and the step bound guarantees termination on a map that churns forever.
        budget = 2 * max(self.info.max_entries, 1) + 16
        while key is not None and budget > 0:
            budget -= 1
            if key not in seen:
                seen.add(key)
                try:
                    value = self.lookup(key)
                except FileNotFoundError:
                    value = None  # deleted under us: skip
                except OSError as exc:
                    if not sc.is_unsupported(exc):
                        raise
                    value = b""  # keys are listable but values are not (cgroup_array, xskmap)
                if value is not None:
                    keys.append(key)
                    values.append(value)
                    if len(keys) >= chunk:
                        yield _chunk_from_lists(keys, values, ks, stride)
                        keys, values = [], []
            key = self.next_key(key)
        if keys:
            yield _chunk_from_lists(keys, values, ks, stride)

    def entries(self) -> Iterator[tuple[bytes, bytes]]:
        """Every (key, value) pair; per-CPU values are the whole per-CPU buffer."""
        for c in self.read_chunks():
            yield from c.pairs()


class _BatchUnsupported(Exception):
    """The map type has no BPF_MAP_LOOKUP_BATCH: iterate with GET_NEXT_KEY instead."""


def _chunk_from_lists(keys: list[bytes], values: list[bytes], ks: int, stride: int) -> EntryChunk:
    if any(len(v) != stride for v in values):
        stride = 0  # values unreadable for this map type
        return EntryChunk(b"".join(keys), b"", len(keys), ks, 0)
    return EntryChunk(b"".join(keys), b"".join(values), len(keys), ks, stride)


@dataclass(frozen=True, slots=True)
class EntryChunk:
    """``count`` entries as two contiguous buffers: keys (key_size each) and values (stride each).

    ``stride`` is 0 when the map type lists keys but cannot return values.
    """

    keys: bytes
    values: bytes
    count: int
    key_size: int
    stride: int

    def pairs(self) -> Iterator[tuple[bytes, bytes]]:
        ks, vs = self.key_size, self.stride
        keys, values = self.keys, self.values
        for i in range(self.count):
            yield keys[i * ks : (i + 1) * ks], values[i * vs : (i + 1) * vs]


def create_map(
    map_type: int,
    key_size: int,
    value_size: int,
    max_entries: int,
    *,
    name: str = "",
    flags: int = 0,
    inner_map_fd: int = 0,
    btf_fd: int = 0,
    btf_key_type_id: int = 0,
    btf_value_type_id: int = 0,
    btf_vmlinux_value_type_id: int = 0,
    map_extra: int = 0,
    ifindex: int = 0,
) -> int:
    """BPF_MAP_CREATE; returns the new map's fd (the caller closes it)."""
    attr = sc.MapCreateAttr(
        map_type=map_type,
        key_size=key_size,
        value_size=value_size,
        max_entries=max_entries,
        map_flags=flags,
        inner_map_fd=inner_map_fd,
        map_name=name.encode()[:15],
        map_ifindex=ifindex,
        btf_fd=btf_fd,
        btf_key_type_id=btf_key_type_id,
        btf_value_type_id=btf_value_type_id,
        btf_vmlinux_value_type_id=btf_vmlinux_value_type_id,
        map_extra=map_extra,
    )
    return sc.bpf(sc.BPF_MAP_CREATE, attr)


def obj_pin(fd: int, path: str) -> None:
    """Pin a BPF object at ``path`` on a bpffs mount."""
    p = ctypes.create_string_buffer(os.fsencode(path))
    sc.bpf(sc.BPF_OBJ_PIN, sc.ObjAttr(pathname=ctypes.addressof(p), bpf_fd=fd))


def obj_get(path: str, *, flags: int = sc.BPF_F_RDONLY) -> int:
    """An fd for the object pinned at ``path``."""
    p = ctypes.create_string_buffer(os.fsencode(path))
    return sc.bpf(sc.BPF_OBJ_GET, sc.ObjAttr(pathname=ctypes.addressof(p), file_flags=flags))


@cache
def has_cpu_flag() -> bool:
    """Whether this kernel takes ``BPF_F_CPU`` on per-CPU map updates (write one CPU's slot, not all).

    Probed once per process on a throwaway one-entry percpu_array; 6.18 and older answer EINVAL.
    """
    from mapexplorer.kernel.names import map_type_id

    try:
        fd = create_map(map_type_id("percpu_array"), 4, 8, 1, name="mapexp_probe")
    except OSError:
        return False
    try:
        key = ctypes.create_string_buffer(4)
        value = ctypes.create_string_buffer(8)
        attr = sc.MapElemAttr(map_fd=fd, key=ctypes.addressof(key), value=ctypes.addressof(value),
                              flags=sc.BPF_F_CPU)  # cpu 0 in the upper 32 bits
        try:
            sc.bpf(sc.BPF_MAP_UPDATE_ELEM, attr)
        except OSError:
            return False
        return True
    finally:
        os.close(fd)
