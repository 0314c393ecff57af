"""The seam between the UI and the kernel: a :class:`MapSource` protocol and two implementations.

- :class:`KernelSource` reads the running kernel through :mod:`mapexplorer.kernel` and decodes entries with
  :mod:`mapexplorer.codec` (BTF). Every method blocks: the UI calls them from thread workers only.
- :class:`FixtureSource` serves recorded JSON (tests/fixtures) with a fixed CPU count and fixed timestamps,
  for snapshot tests and screenshots.

Everything a source returns is an immutable value (frozen dataclasses, ``bytes``, tuples), so a snapshot made
in a worker can be handed to the UI thread as a message without copying or locking.
"""

from __future__ import annotations

import bisect
import ipaddress
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

# Map types whose values are stored once per possible CPU (kept here so widgets need not import the kernel).
PERCPU_TYPES = frozenset({"percpu_hash", "percpu_array", "lru_percpu_hash", "percpu_cgroup_storage"})
PEEK_TYPES = frozenset({"queue", "stack"})
STREAM_TYPES = frozenset({"ringbuf", "perf_event_array"})
MAP_OF_MAPS_TYPES = frozenset({"array_of_maps", "hash_of_maps"})

# What a view of a map that cannot be listed shows instead of an empty table.
WHY_NOT_LISTED: dict[str, str] = {
    "ringbuf": "A ringbuf is a stream of records, not a table of entries.\n"
    "Press [b]w[/b] to watch its events live (read-only: the producer's consumer position is not advanced).",
    "perf_event_array": "A perf_event_array holds one perf ring per CPU: its values are perf event fds and "
    "cannot be read back.\nPress [b]w[/b] to watch the events its programs submit.",
    "user_ringbuf": "A user_ringbuf is written by user space and drained by a BPF program: "
    "the kernel offers no read operation, so there is nothing to list.",
    "bloom_filter": "A bloom_filter only answers membership tests (is this value possibly in the set?): "
    "its elements cannot be listed.",
    "arena": "An arena is memory-mapped pages shared by programs and user space, not entries: "
    "there is nothing to list. Its size is max_entries pages.",
    "sk_storage": "sk_storage is keyed by socket fds: an entry can only be looked up through a socket you "
    "hold, "
    "so the map cannot be listed from here.",
    "task_storage": "task_storage is keyed by pidfds: an entry can only be looked up for one task at a time, "
    "so the map cannot be listed from here.",
    "inode_storage": "inode_storage is keyed by file fds: an entry can only be looked up for one open file, "
    "so the map cannot be listed from here.",
    "cgrp_storage": "cgrp_storage is keyed by cgroup fds: an entry can only be looked up for one cgroup, "
    "so the map cannot be listed from here.",
}


# Map types whose keys or values TypeAwareDecoder rewrites (names, CIDRs, symbols): no integer fast path.
REWRITTEN_TYPES = frozenset(
    {
        "prog_array",
        "array_of_maps",
        "hash_of_maps",
        "stack_trace",
        "lpm_trie",
        "devmap",
        "devmap_hash",
        "cpumap",
        "sockmap",
        "sockhash",
        "reuseport_sockarray",
    }
)
_INT_FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}


class MapGone(Exception):
    """The map (or an inner map) no longer exists."""


@dataclass(frozen=True, slots=True)
class MapRow:
    """One map as the map list shows it."""

    id: int
    name: str
    type_name: str
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    memlock: int = 0
    frozen: bool = False
    btf_id: int = 0
    owners: tuple[str, ...] = ()
    """``comm[pid]`` of every process holding an fd to the map."""
    progs: tuple[str, ...] = ()
    """Names (or ``#id``) of the programs using the map."""
    pinned: tuple[str, ...] = ()
    """bpffs paths the map is pinned at."""

    @property
    def percpu(self) -> bool:
        return self.type_name in PERCPU_TYPES

    @property
    def listable(self) -> bool:
        """True when the entries can be iterated (not a stream, storage or peek-only map)."""
        return self.type_name not in WHY_NOT_LISTED and self.type_name not in PEEK_TYPES

    def search_text(self) -> str:
        """What the list filter matches against: name, type, owners, pins and programs."""
        return " ".join(
            (str(self.id), self.name, self.type_name, *self.owners, *self.pinned, *self.progs)
        ).lower()


@dataclass(frozen=True, slots=True)
class ListSnapshot:
    """Every map at one moment."""

    rows: tuple[MapRow, ...]
    taken_at: float


@dataclass(frozen=True, slots=True)
class MapFacts:
    """What the map view's header shows: the map plus its key/value types as C."""

    row: MapRow
    ncpus: int
    has_btf: bool
    key_c: str | None = None
    value_c: str | None = None
    note: str = ""
    """Anything the user should know about how entries are decoded (e.g. no BTF)."""


class Decoder(Protocol):
    """Turns raw key/value bytes into JSON-able values (bpftool's -j formatted shape)."""

    def decode_key(self, b: bytes) -> Any: ...

    def decode_value(self, b: bytes) -> Any: ...

    def decode_percpu(self, b: bytes) -> list[Any]: ...


@dataclass(frozen=True, slots=True, eq=False)
class MapSnapshot:
    """The entries of one map at one moment, as two contiguous byte buffers decoded on demand.

    ``kind`` is ``entries`` (a listable map), ``peek`` (queue/stack head, at most one entry, key empty) or
    ``unlisted`` (nothing can be read; ``note`` says why).
    """

    facts: MapFacts
    keys: bytes
    values: bytes
    count: int
    key_size: int
    stride: int
    taken_at: float
    decoder: Decoder = field(repr=False)
    kind: str = "entries"
    note: str = ""
    seq: int = 0

    def __repr__(self) -> str:
        # short on purpose: the default would print megabytes of key and value bytes
        return f"MapSnapshot(map {self.map_id}, {self.kind}, {self.count} entries, seq {self.seq})"

    @property
    def map_id(self) -> int:
        return self.facts.row.id

    def key_raw(self, i: int) -> bytes:
        ks = self.key_size
        return self.keys[i * ks : (i + 1) * ks]

    def value_raw(self, i: int) -> bytes:
        vs = self.stride
        return self.values[i * vs : (i + 1) * vs]

    def key(self, i: int) -> Any:
        return self.decoder.decode_key(self.key_raw(i)) if self.key_size else None

    def value(self, i: int) -> Any:
        """The decoded value; for per-CPU maps a list with one decoded value per possible CPU."""
        if not self.stride:
            return None
        raw = self.value_raw(i)
        return self.decoder.decode_percpu(raw) if self.facts.row.percpu else self.decoder.decode_value(raw)

    def int_column(self, which: str) -> list[int] | None:
        """Every key (``which="key"``) or value as an integer when they decode as plain little-endian
        integers without BTF: a fast path for sorting a million entries. None otherwise."""
        dec = self.decoder
        inner = getattr(dec, "inner", dec)
        if not isinstance(inner, RawDecoder) or self.facts.row.percpu or self.kind != "entries":
            return None
        if getattr(dec, "type_name", "") in REWRITTEN_TYPES:
            return None
        size, ok, buf = (
            (self.key_size, inner.key_int, self.keys)
            if which == "key"
            else (self.stride, inner.value_int, self.values)
        )
        if not ok or size not in _INT_FORMATS:
            return None
        return memoryview(buf).cast(_INT_FORMATS[size]).tolist()

    def cpu_slices(self, i: int) -> list[bytes]:
        """Per-CPU maps: the raw value bytes of entry ``i`` for each possible CPU."""
        raw = self.value_raw(i)
        n = max(self.facts.ncpus, 1)
        slot = len(raw) // n
        vs = self.facts.row.value_size
        return [raw[c * slot : c * slot + vs] for c in range(n)]


class MapSource(Protocol):
    """Where the UI gets maps from. Every method may block: call them from thread workers only.

    Methods raise :class:`MapGone` when the map disappeared and ``OSError`` for other kernel failures.
    """

    name: str
    """Shown in the title bar (e.g. ``kernel 6.18`` or ``fixture``)."""

    def list_maps(self) -> ListSnapshot: ...

    def count_entries(self, map_id: int) -> int | None:
        """How many entries a listable map holds now; None for maps that cannot be listed."""
        ...

    def read_map(self, map_id: int) -> MapSnapshot: ...

    def lookup(self, map_id: int, key: bytes) -> MapSnapshot:
        """One entry (a one-entry snapshot); ``count`` is 0 when the key is gone."""
        ...

    def refresh_rows(self, snapshot: MapSnapshot, rows: list[int]) -> MapSnapshot:
        """``snapshot`` with the values of ``rows`` read again (one lookup each), stamped now: how a map too
        big to re-read every second stays live where the user looks. Keys gone since keep their old value."""
        ...

    def resolve(self, ref: str) -> int:
        """A map id from an id or a unique name. Raises LookupError with a one-line message."""
        ...

    def stream_factory(self, map_id: int) -> Callable[[], Any] | None:
        """A zero-argument callable opening an event stream on the map (None: streaming unavailable)."""
        ...

    def close(self) -> None: ...


# -- decoding helpers shared by both sources --------------------------------------------------------


def hex_bytes(b: bytes) -> list[str]:
    return [f"0x{x:02x}" for x in b]


class RawDecoder:
    """Decoding without BTF, like bpftool: lists of ``"0xNN"`` strings.

    Values of 1, 2, 4 or 8 bytes are the counters and ids of most BTF-less maps: ``as_int`` reads those as
    little-endian unsigned integers so per-CPU sums and rates work (the hex view still shows the bytes).
    """

    def __init__(self, key_size: int, value_size: int, ncpus: int, *, as_int: bool = True) -> None:
        self.key_size = key_size
        self.value_size = value_size
        self.ncpus = ncpus
        self.key_int = as_int and key_size in (1, 2, 4, 8)
        self.value_int = as_int and value_size in (1, 2, 4, 8)
        self.slot = (value_size + 7) & ~7

    def decode_key(self, b: bytes) -> Any:
        return int.from_bytes(b, "little") if self.key_int else hex_bytes(b)

    def decode_value(self, b: bytes) -> Any:
        return int.from_bytes(b[: self.value_size], "little") if self.value_int else hex_bytes(b)

    def decode_percpu(self, b: bytes) -> list[Any]:
        s, vs = self.slot, self.value_size
        return [self.decode_value(b[c * s : c * s + vs]) for c in range(self.ncpus)]


# -- the kernel ------------------------------------------------------------------------------------------


KERNEL_SPACE = 0xFFFF_8000_0000_0000
"""Lowest kernel address on x86-64 and arm64: anything below is a user-space address (not in kallsyms)."""


class Kallsyms:
    """Kernel symbol lookup from /proc/kallsyms (loaded once, on first use, in a worker)."""

    def __init__(self, path: str = "/proc/kallsyms") -> None:
        self.path = path
        self._addrs: list[int] = []
        self._names: list[str] = []
        self._loaded = False
        self._lock = threading.Lock()

    def _load(self) -> None:
        pairs: list[tuple[int, str]] = []
        try:
            with open(self.path) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 3 and parts[1] in "tTwW":
                        addr = int(parts[0], 16)
                        if addr:
                            pairs.append((addr, parts[2]))
        except OSError:
            pairs = []
        pairs.sort()
        self._addrs = [a for a, _ in pairs]
        self._names = [n for _, n in pairs]
        self._loaded = True

    def symbolize(self, addr: int) -> str:
        with self._lock:
            if not self._loaded:
                self._load()
        if addr < KERNEL_SPACE:
            return f"0x{addr:x} (user)"
        i = bisect.bisect_right(self._addrs, addr) - 1
        if i < 0:
            return f"0x{addr:x}"
        return f"{self._names[i]}+0x{addr - self._addrs[i]:x}"


def ifname(ifindex: int) -> str:
    try:
        return socket.if_indextoname(ifindex)
    except OSError:
        return f"if#{ifindex}"


def lpm_cidr(b: bytes) -> str | None:
    """``{u32 prefixlen; u8 data[4|16]}`` as ``10.0.0.0/8``; None for other shapes."""
    if len(b) not in (8, 20):
        return None
    plen = int.from_bytes(b[:4], "little")
    data = b[4:]
    try:
        addr = ipaddress.IPv4Address(data) if len(data) == 4 else ipaddress.IPv6Address(data)
    except ValueError:
        return None
    return f"{addr}/{plen}"


class TypeAwareDecoder:
    """Wraps a decoder and rewrites keys/values of map types whose raw numbers mean something else:
    prog_array (program names), maps of maps (inner map names), stack_trace (kernel symbols), lpm_trie
    (CIDR keys), devmap (interface names)."""

    def __init__(
        self,
        inner: Decoder,
        type_name: str,
        *,
        prog_name: Callable[[int], str],
        map_name: Callable[[int], str],
        ksyms: Kallsyms,
    ) -> None:
        self.inner = inner
        self.type_name = type_name
        self.prog_name = prog_name
        self.map_name = map_name
        self.ksyms = ksyms

    def decode_key(self, b: bytes) -> Any:
        try:
            return self._decode_key(b)
        except ValueError:  # bytes that do not fit the BTF type: show them raw rather than fail the view
            return hex_bytes(b)

    def decode_value(self, b: bytes) -> Any:
        try:
            return self._decode_value(b)
        except ValueError:
            return hex_bytes(b)

    def decode_percpu(self, b: bytes) -> list[Any]:
        try:
            return self.inner.decode_percpu(b)
        except ValueError:
            return [hex_bytes(b)]

    def _decode_key(self, b: bytes) -> Any:
        if self.type_name == "lpm_trie":
            cidr = lpm_cidr(b)
            if cidr is not None:
                return cidr
        if self.type_name == "cpumap":
            return f"cpu{int.from_bytes(b[:4], 'little')}"
        return self.inner.decode_key(b)

    def _decode_value(self, b: bytes) -> Any:
        t = self.type_name
        if t == "prog_array" and len(b) >= 4:
            pid = int.from_bytes(b[:4], "little")
            return {"prog_id": pid, "prog": self.prog_name(pid)}
        if t in MAP_OF_MAPS_TYPES and len(b) >= 4:
            mid = int.from_bytes(b[:4], "little")
            return {"inner_map_id": mid, "inner_map": self.map_name(mid)}
        if t == "stack_trace":
            addrs = [a for (a,) in struct.iter_unpack("<Q", b[: len(b) - len(b) % 8]) if a]
            return {"depth": len(addrs), "frames": [self.ksyms.symbolize(a) for a in addrs]}
        if t in ("devmap", "devmap_hash") and len(b) >= 4:
            idx = int.from_bytes(b[:4], "little")
            return {"ifindex": idx, "ifname": ifname(idx)}
        if t == "cpumap" and len(b) >= 4:
            return {"qsize": int.from_bytes(b[:4], "little")}
        if t in ("sockmap", "sockhash", "reuseport_sockarray") and len(b) == 8:
            return {"socket_cookie": int.from_bytes(b, "little")}
        return self.inner.decode_value(b)


def _row_from_record(rec: Any) -> MapRow:
    i = rec.info
    return MapRow(
        id=i.id,
        name=i.name,
        type_name=i.type_name,
        key_size=i.key_size,
        value_size=i.value_size,
        max_entries=i.max_entries,
        flags=i.flags,
        memlock=i.memlock,
        frozen=i.frozen,
        btf_id=i.btf_id,
        owners=tuple(f"{o.comm}[{o.pid}]" for o in rec.owners),
        progs=tuple(p.name or f"#{p.id}" for p in rec.progs),
        pinned=tuple(rec.pinned),
    )


class KernelSource:
    """The running kernel, through :mod:`mapexplorer.kernel` and :mod:`mapexplorer.codec`.

    Blocking: call every method from a thread worker. Thread-safe: each call opens its own fds.
    """

    name = "kernel"

    def __init__(self, *, write: bool = False) -> None:
        from mapexplorer.kernel import maps

        self._maps = maps
        self.write = write
        self.ncpus = maps.possible_cpu_count()
        self.ksyms = Kallsyms()
        self._rows: dict[int, MapRow] = {}
        self._codecs: dict[tuple[int, int], tuple[Decoder, MapFacts]] = {}
        self._lock = threading.Lock()
        self._seq = 0
        self.name = f"kernel {os.uname().release}"

    # -- list ----------------------------------------------------------------------------------------

    def list_maps(self) -> ListSnapshot:
        from mapexplorer.kernel import inventory

        rows = tuple(_row_from_record(r) for r in inventory.collect())
        with self._lock:
            self._rows = {r.id: r for r in rows}
        return ListSnapshot(rows, time.time())

    def count_entries(self, map_id: int) -> int | None:
        m = self._open(map_id)
        with m:
            if not m.info.iterable:
                return None
            return sum(c.count for c in m.read_chunks())

    def resolve(self, ref: str) -> int:
        return self._maps.find_map(ref)

    # -- entries -------------------------------------------------------------------------------------

    def _open(self, map_id: int) -> Any:
        try:
            return self._maps.Map.open(map_id)
        except FileNotFoundError:
            raise MapGone(f"map {map_id} is gone") from None

    def _row(self, info: Any) -> MapRow:
        with self._lock:
            known = self._rows.get(info.id)
        if known is not None and known.type_name == info.type_name:
            return known
        from mapexplorer.kernel import inventory

        try:
            rec = inventory.collect([info.id])
        except FileNotFoundError:
            raise MapGone(f"map {info.id} is gone") from None
        if rec:
            row = _row_from_record(rec[0])
            with self._lock:
                self._rows[row.id] = row
            return row
        return MapRow(
            id=info.id,
            name=info.name,
            type_name=info.type_name,
            key_size=info.key_size,
            value_size=info.value_size,
            max_entries=info.max_entries,
            flags=info.flags,
            memlock=info.memlock,
            frozen=info.frozen,
            btf_id=info.btf_id,
        )

    def _decoder(self, info: Any) -> tuple[Decoder, MapFacts]:
        cache_key = (info.id, info.btf_id)
        with self._lock:
            hit = self._codecs.get(cache_key)
        if hit is not None:
            return hit
        row = self._row(info)
        note = ""
        try:
            from mapexplorer.codec import map_codec
        except ImportError:
            map_codec = None
        if map_codec is None:
            inner: Decoder = RawDecoder(info.key_size, info.value_size, self.ncpus)
            facts = MapFacts(
                row, self.ncpus, False, note="BTF decoding is not available in this build: raw bytes"
            )
        else:
            try:
                codec = map_codec(info)
            except (ValueError, OSError) as exc:  # BtfError is a ValueError: a blob we cannot use
                codec = None
                note = f"BTF could not be used ({exc}): raw bytes"
            if codec is not None and codec.has_btf:
                inner = codec
            else:
                inner = RawDecoder(info.key_size, info.value_size, self.ncpus)
                if inner.value_int and not note:
                    note = f"no BTF: {info.value_size}-byte values read as little-endian unsigned integers"
            if codec is None:
                facts = MapFacts(row, self.ncpus, False, note=note)
            else:
                facts = MapFacts(row, self.ncpus, bool(codec.has_btf), codec.key_c, codec.value_c, note)
        decoder = TypeAwareDecoder(
            inner, info.type_name, prog_name=self._prog_name, map_name=self._map_name, ksyms=self.ksyms
        )
        with self._lock:
            self._codecs[cache_key] = (decoder, facts)
        return decoder, facts

    def _facts(self, info: Any) -> tuple[Decoder, MapFacts]:
        """The decoder, and the facts with the latest owners/programs/pins (the list refresh updates them)."""
        decoder, facts = self._decoder(info)
        row = self._row(info)
        if row is not facts.row:
            facts = replace(facts, row=row)
        return decoder, facts

    def _prog_name(self, prog_id: int) -> str:
        from mapexplorer.kernel import progs

        try:
            return progs.prog_info_by_id(prog_id).name or f"#{prog_id}"
        except OSError:
            return "?"

    def _map_name(self, map_id: int) -> str:
        with self._lock:
            row = self._rows.get(map_id)
        if row is not None:
            return row.name
        try:
            return self._maps.map_info_by_id(map_id).name
        except OSError:
            return "?"

    def _next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def read_map(self, map_id: int) -> MapSnapshot:
        m = self._open(map_id)
        with m:
            info = m.info
            decoder, facts = self._facts(info)
            now = time.time()
            t = info.type_name
            if t in PEEK_TYPES:
                head = m.peek()
                return MapSnapshot(
                    facts,
                    b"",
                    head or b"",
                    0 if head is None else 1,
                    0,
                    info.value_size,
                    now,
                    decoder,
                    "peek",
                    seq=self._next_seq(),
                )
            if t in WHY_NOT_LISTED:
                return MapSnapshot(
                    facts,
                    b"",
                    b"",
                    0,
                    0,
                    0,
                    now,
                    decoder,
                    "unlisted",
                    WHY_NOT_LISTED[t],
                    seq=self._next_seq(),
                )
            chunks = list(m.read_chunks())
            ks = info.key_size
            stride = chunks[0].stride if chunks else info.value_stride
            keys = chunks[0].keys if len(chunks) == 1 else b"".join(c.keys for c in chunks)
            values = chunks[0].values if len(chunks) == 1 else b"".join(c.values for c in chunks)
            count = sum(c.count for c in chunks)
            note = "" if stride else f"{t} values cannot be read back from user space: keys only"
            return MapSnapshot(
                facts, keys, values, count, ks, stride, now, decoder, "entries", note, seq=self._next_seq()
            )

    def lookup(self, map_id: int, key: bytes) -> MapSnapshot:
        m = self._open(map_id)
        with m:
            info = m.info
            decoder, facts = self._facts(info)
            try:
                value = m.lookup(key)
            except FileNotFoundError:
                return MapSnapshot(
                    facts,
                    b"",
                    b"",
                    0,
                    info.key_size,
                    info.value_stride,
                    time.time(),
                    decoder,
                    seq=self._next_seq(),
                )
            return MapSnapshot(
                facts, key, value, 1, info.key_size, len(value), time.time(), decoder, seq=self._next_seq()
            )

    def refresh_rows(self, snapshot: MapSnapshot, rows: list[int]) -> MapSnapshot:
        m = self._open(snapshot.map_id)
        with m:
            values = bytearray(snapshot.values)
            stride = snapshot.stride
            for i in rows:
                try:
                    value = m.lookup(snapshot.key_raw(i))
                except FileNotFoundError:
                    continue  # deleted since the last full read: the next full read drops it
                if len(value) == stride:
                    values[i * stride : (i + 1) * stride] = value
            return replace(snapshot, values=bytes(values), taken_at=time.time(), seq=self._next_seq())

    def stream_factory(self, map_id: int) -> Callable[[], Any] | None:
        try:
            from mapexplorer.streams import open_stream
        except ImportError:
            return None

        def factory() -> Any:
            return open_stream(map_id, ask=True)  # perf: the event view asks before installing

        return factory

    def close(self) -> None:
        with self._lock:
            self._codecs.clear()


# -- recorded fixtures --------------------------------------------------------------------------------

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
FIXTURE_EPOCH = 1_700_000_000.0
"""Fixed time of the first recorded frame (frames are one second apart)."""


class FixtureDecoder:
    """Decoding by lookup: the recorded decoded form of every recorded raw key and value."""

    def __init__(
        self,
        keys: dict[bytes, Any],
        values: dict[bytes, Any],
        percpu: dict[bytes, list[Any]],
        fallback: RawDecoder,
        ncpus: int,
    ) -> None:
        self.keys = keys
        self.values = values
        self.percpu = percpu
        self.fallback = fallback
        self.ncpus = ncpus

    def decode_key(self, b: bytes) -> Any:
        return self.keys[b] if b in self.keys else self.fallback.decode_key(b)

    def decode_value(self, b: bytes) -> Any:
        return self.values[b] if b in self.values else self.fallback.decode_value(b)

    def decode_percpu(self, b: bytes) -> list[Any]:
        if b in self.percpu:
            return self.percpu[b]
        n = self.ncpus
        slot = len(b) // n if n else 0
        vs = self.fallback.value_size
        return [self.decode_value(b[c * slot : c * slot + vs]) for c in range(n)]


@dataclass(frozen=True, slots=True)
class _FixtureMap:
    row: MapRow
    facts: MapFacts
    decoder: FixtureDecoder
    frames: tuple[tuple[bytes, bytes, int, int], ...]
    """(keys, values, count, stride) per recorded refresh."""
    kind: str
    note: str


class FixtureSource:
    """Maps recorded from a real kernel (see scripts/record_fixtures.py), replayed with fixed time.

    Each ``read_map`` of a map returns its next recorded frame (the last one repeats), stamped
    ``FIXTURE_EPOCH + frame``; ``errors`` maps a map id to the error ``read_map`` raises for it (to show
    how the UI reacts to a failing or vanished map).
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        ncpus: int | None = None,
        errors: dict[int, Exception] | None = None,
    ) -> None:
        path = Path(path) if path else FIXTURES_DIR / "maps.json"
        data = json.loads(Path(path).read_text())
        self.ncpus = int(ncpus or data.get("ncpus", 4))
        self.name = f"fixture {Path(path).name} · {self.ncpus} CPUs"
        self._maps: dict[int, _FixtureMap] = {}
        for m in data["maps"]:
            fm = self._load(m)
            self._maps[fm.row.id] = fm
        self._frame: dict[int, int] = {}
        self._lock = threading.Lock()
        self.errors = dict(errors or {})
        self.list_calls = 0

    def _load(self, m: dict[str, Any]) -> _FixtureMap:
        row = MapRow(
            id=m["id"],
            name=m["name"],
            type_name=m["type"],
            key_size=m["key_size"],
            value_size=m["value_size"],
            max_entries=m["max_entries"],
            flags=m.get("flags", 0),
            memlock=m.get("memlock", 0),
            frozen=m.get("frozen", False),
            btf_id=m.get("btf_id", 0),
            owners=tuple(m.get("owners", ())),
            progs=tuple(m.get("progs", ())),
            pinned=tuple(m.get("pinned", ())),
        )
        ncpus = self.ncpus
        facts = MapFacts(
            row, ncpus, bool(m.get("has_btf")), m.get("key_c"), m.get("value_c"), m.get("note", "")
        )
        keys: dict[bytes, Any] = {}
        values: dict[bytes, Any] = {}
        percpu: dict[bytes, list[Any]] = {}
        frames = []
        slot = (row.value_size + 7) & ~7
        for frame in m.get("frames", []):
            kb: list[bytes] = []
            vb: list[bytes] = []
            for e in frame:
                k = bytes.fromhex(e.get("key_hex", ""))
                kb.append(k)
                if "key" in e:
                    keys[k] = e["key"]
                if row.percpu:
                    cells = self._expand_percpu(e["values"], ncpus)
                    whole = b"".join(bytes.fromhex(h).ljust(slot, b"\0") for h, _ in cells)
                    percpu[whole] = [dec for _, dec in cells]
                    vb.append(whole)
                else:
                    v = bytes.fromhex(e.get("value_hex", ""))
                    if "value" in e:
                        values[v] = e["value"]
                    vb.append(v)
            stride = (slot * ncpus) if row.percpu else (len(vb[0]) if vb else row.value_size)
            frames.append((b"".join(kb), b"".join(vb), len(kb), stride))
        fallback = RawDecoder(row.key_size, row.value_size, ncpus)
        return _FixtureMap(
            row,
            facts,
            FixtureDecoder(keys, values, percpu, fallback, ncpus),
            tuple(frames),
            m.get("kind", "entries"),
            m.get("note", WHY_NOT_LISTED.get(row.type_name, "")),
        )

    @staticmethod
    def _expand_percpu(cells: list[dict[str, Any]], ncpus: int) -> list[tuple[str, Any]]:
        """Recorded per-CPU cells, spread over ``ncpus`` CPUs.

        Recordings made on a host with fewer CPUs than the fixture's count are extended deterministically:
        CPU c takes recorded CPU ``c % n`` scaled by 2 to 5 for integers (so CPUs differ and the
        imbalance is visible), unchanged for other values.
        """
        n = len(cells)
        out: list[tuple[str, Any]] = []
        for c in range(ncpus):
            src = cells[c % n]
            factor = 2 + ((c // n) * 3 + c) % 4 if c >= n else 1
            dec = src["value"]
            raw = bytes.fromhex(src["value_hex"])
            if factor != 1:
                dec, raw = _scale(dec, raw, factor)
            out.append((raw.hex(), dec))
        return out

    def list_maps(self) -> ListSnapshot:
        with self._lock:
            self.list_calls += 1
        return ListSnapshot(tuple(m.row for m in self._maps.values()), FIXTURE_EPOCH)

    def _get(self, map_id: int) -> _FixtureMap:
        err = self.errors.get(map_id)
        if err is not None:
            raise err
        if map_id not in self._maps:
            raise MapGone(f"map {map_id} is gone")
        return self._maps[map_id]

    def count_entries(self, map_id: int) -> int | None:
        m = self._get(map_id)
        if m.kind != "entries" or not m.frames:
            return None
        return m.frames[0][2]

    def read_map(self, map_id: int) -> MapSnapshot:
        m = self._get(map_id)
        with self._lock:
            i = self._frame.get(map_id, 0)
            self._frame[map_id] = i + 1
        if m.kind == "unlisted" or not m.frames:
            return MapSnapshot(
                m.facts, b"", b"", 0, 0, 0, FIXTURE_EPOCH, m.decoder, "unlisted", m.note, seq=i + 1
            )
        keys, values, count, stride = m.frames[min(i, len(m.frames) - 1)]
        ks = 0 if m.kind == "peek" else m.row.key_size
        return MapSnapshot(
            m.facts,
            keys,
            values,
            count,
            ks,
            stride,
            FIXTURE_EPOCH + i,
            m.decoder,
            m.kind,
            m.note if m.kind != "entries" else "",
            seq=i + 1,
        )

    def lookup(self, map_id: int, key: bytes) -> MapSnapshot:
        snap = self.read_map(map_id)
        for i in range(snap.count):
            if snap.key_raw(i) == key:
                return MapSnapshot(
                    snap.facts,
                    key,
                    snap.value_raw(i),
                    1,
                    snap.key_size,
                    snap.stride,
                    snap.taken_at,
                    snap.decoder,
                    seq=snap.seq,
                )
        return MapSnapshot(
            snap.facts, b"", b"", 0, snap.key_size, snap.stride, snap.taken_at, snap.decoder, seq=snap.seq
        )

    def refresh_rows(self, snapshot: MapSnapshot, rows: list[int]) -> MapSnapshot:
        fresh = self.read_map(snapshot.map_id)
        by_key = {fresh.key_raw(j): j for j in range(fresh.count)}
        values = bytearray(snapshot.values)
        stride = snapshot.stride
        for i in rows:
            j = by_key.get(snapshot.key_raw(i))
            if j is not None and fresh.stride == stride:
                values[i * stride : (i + 1) * stride] = fresh.value_raw(j)
        return replace(snapshot, values=bytes(values), taken_at=fresh.taken_at, seq=fresh.seq)

    def resolve(self, ref: str) -> int:
        if ref.isdigit() and int(ref) in self._maps:
            return int(ref)
        found = [m.row.id for m in self._maps.values() if m.row.name == ref]
        if len(found) != 1:
            raise LookupError(
                f"no map named {ref!r}" if not found else f"{len(found)} maps are named {ref!r}"
            )
        return found[0]

    def stream_factory(self, map_id: int) -> Callable[[], Any] | None:
        return None

    def close(self) -> None:
        return None


def _scale(dec: Any, raw: bytes, factor: int) -> tuple[Any, bytes]:
    """Multiply the integers of a decoded value (and its raw little-endian bytes when it is one integer)."""
    if isinstance(dec, bool):
        return dec, raw
    if isinstance(dec, int):
        v = dec * factor
        return v, (v % (1 << (8 * len(raw)))).to_bytes(len(raw), "little") if raw else raw
    if isinstance(dec, dict):
        # structs: the decoded fields are scaled; the raw bytes (hex view) stay as recorded
        return {k: _scale(v, b"", factor)[0] for k, v in dec.items()}, raw
    return dec, raw
