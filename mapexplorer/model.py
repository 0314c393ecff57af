"""The values the UI is built from, and the :class:`MapSource` protocol that produces them.

Everything here is immutable (frozen dataclasses, ``bytes``, tuples), so a snapshot made in a worker can be
handed to the UI thread as a message without copying or locking. No kernel, no Textual.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from mapexplorer.decoders import Decoder, RawDecoder
from mapexplorer.fill import EntryCount
from mapexplorer.histogram import HistSpec
from mapexplorer.maptypes import NON_ITERABLE_TYPES, PERCPU_TYPES, REWRITTEN_TYPES
from mapexplorer.progmodel import MapUsers, ProgListSnapshot
from mapexplorer.writemodel import EditForm, WritePlan, WriteRequest, WriteResult

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



_INT_FORMATS: dict[int, Literal["B", "H", "I", "Q"]] = {1: "B", 2: "H", 4: "I", 8: "Q"}


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
    users: MapUsers = field(default_factory=MapUsers)
    """Which programs write and which read the map (from their instructions)."""
    count: EntryCount | None = None
    """Entries and fill (None: not counted by this source)."""

    @property
    def percpu(self) -> bool:
        return self.type_name in PERCPU_TYPES

    @property
    def listable(self) -> bool:
        """True when the entries can be iterated (not a stream, storage or peek-only map)."""
        return self.type_name not in NON_ITERABLE_TYPES

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
    count_reason: str | None = None
    """Why entry counts come from reading maps instead of the BPF iterator (None: the iterator works)."""
    inner: dict[int, tuple[int, ...]] = field(default_factory=dict)
    """Map-of-maps id -> the inner map ids it holds (for memory by owner)."""
    partial: bool = False
    """A quick first listing: owners, programs, pins and memlock (``memlock < 0``) are still being read."""
    total: int | None = None
    """How many maps the kernel holds, when this (quick, partial) listing has only the first of them."""
    changed: tuple[int, ...] | None = None
    """The source's word that only these maps' rows differ from ``base`` (the same maps in the same order);
    None when it does not say."""
    base: tuple[MapRow, ...] | None = None
    """The rows of the listing that ``changed`` is relative to (a consumer that did not see those ignores
    ``changed``)."""


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
    hist: HistSpec | None = None
    """The map looks like a histogram: how its entries form histograms (the TUI opens the chart)."""
    hist_any: HistSpec | None = None
    """How the map can be viewed as a histogram when asked (``H``), even if it does not look like one."""



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
    patched: Mapping[int, bytes] = field(default_factory=dict, repr=False)
    """Row -> a value read again since ``values`` (by lookup): the rows on screen of a map too big to copy
    its buffers at every refresh. :meth:`value_raw` reads them; sorting and filtering use ``values``."""

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
        if self.patched:
            hit = self.patched.get(i)
            if hit is not None:
                return hit
        vs = self.stride
        return self.values[i * vs : (i + 1) * vs]

    def same_entries(self, other: MapSnapshot) -> bool:
        """The same keys and values (patched rows included) as ``other``."""
        return (self.kind == other.kind and self.keys == other.keys and self.values == other.values
                and self.patched == other.patched)

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


@dataclass(frozen=True, slots=True)
class ResolvedStack:
    """A stack id followed through a stack_trace map (the event detail): one text per frame,
    ``[k] sym+0xoff`` or ``[u] 0x7f… libc.so.6+0x29001`` (:func:`mapexplorer.symbols.frame_text`)."""

    frames: tuple[str, ...]
    pid: int | None = None
    """The process a user stack belongs to (the event's ``tgid`` or ``pid``), when the event said."""
    mapped: bool = False
    """That process was alive and its /proc/PID/maps resolved the user addresses."""


class MapSource(Protocol):
    """Where the UI gets maps from. Every method may block: call them from thread workers only.

    Methods raise :class:`MapGone` when the map disappeared and ``OSError`` for other kernel failures.
    """

    name: str
    """Shown in the title bar (e.g. ``kernel 6.18`` or ``fixture``)."""

    def list_maps(self) -> ListSnapshot: ...

    def doctor(self) -> tuple[list[Any], int]:
        """Health findings for every map (:class:`mapexplorer.doctor.Finding`), and how many maps were
        checked."""
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

    def list_programs(self) -> ProgListSnapshot:
        """Every BPF program with its run counters (see :mod:`mapexplorer.progmodel`)."""
        ...

    def set_prog_stats(self, on: bool) -> None:
        """Turn the kernel's run statistics on (BPF_ENABLE_STATS) or give them back."""
        ...

    # Write mode (:mod:`mapexplorer.writemodel` values). Each raises WriteError with a one-line reason
    # (read-only source, a value that does not fit its field, the kernel's errno in words).

    def edit_form(self, map_id: int, op: str, key: bytes | None, cpu: int | None) -> EditForm:
        """A form for ``key``'s value (``update``), a new entry (``add``) or a value to push (``push``)."""
        ...

    def plan_write(self, request: WriteRequest) -> WritePlan:
        """The request read against the map now: before, after, changed fields. Writes nothing."""
        ...

    def apply_write(self, plan: WritePlan) -> WriteResult:
        """Do the write; the map is unchanged when it raises."""
        ...

    def close(self) -> None: ...

