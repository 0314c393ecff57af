"""Event streams from ringbuf and perf_event_array maps, decoded with BTF: the one object the ``watch``
command and the TUI's event view both read from.

:func:`open_stream` picks how to read (ringbuf: always tap, never moving the consumer position, unless
``consume`` is asked for; perf_event_array: our perf events in the empty slots, or every slot with
``takeover``; either, when a reader in this process already reads the map -- the ``--demo`` -- shared
with that reader through :mod:`mapexplorer.kernel.tee`) and how to decode (``type_name`` looked up in
the BTF of the programs using the map, then vmlinux; without it, the unique struct whose size is the
record size in those programs' BTF; otherwise no fields, and the raw bytes shown as hex and ASCII).

No textual here: the UI gets a zero-argument factory returning an :class:`EventStream` and calls
``read_batch`` from a thread worker.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Generic, TypeVar

from mapexplorer import codec
from mapexplorer.btf import Btf, BtfError
from mapexplorer.btf.decode import (
    MAX_FLAT_READS,
    ArrayNode,
    BoolNode,
    EnumNode,
    IntNode,
    ListNode,
    Node,
    NullNode,
    ObjNode,
    StrNode,
    Template,
    VecNode,
    compile_decoder,
    compile_json_texts,
    compile_plan,
    compile_template,
)
from mapexplorer.kernel import maps, owners, perf, progs, ringbuf, tee
from mapexplorer.maptypes import STREAM_TYPES
from mapexplorer.semantics import TIME, Clock, TimeFormatter, humanize, show

ALIVE_CHECK_S = 1.0  # when idle, check this often whether anything but us still holds the map
LINGER_STEP_MIN_S = 0.0005  # read_batch(linger=...): shortest and longest sleep between two reads
LINGER_STEP_MAX_S = 0.005
NOTICE_EVERY_S = 5.0  # a repeated state change (tap overtaken) is reported at most this often
# What a perf takeover does to the slots' reader, measured with BCC (tests/kernel/test_stream_safety.py):
# bcc tools and libbpf's perf_buffer install their perf events once, at start, so the emptied slots stay
# empty after we exit: 0 of the next 4,000 events reached the BCC reader.
SILENCED = ("that reader then receives nothing from those CPUs, even after mapexplorer stops, until it "
            "restarts (bcc and libbpf install their perf rings only at start)")


@dataclass(frozen=True)
class Event:
    """One record read from a stream.

    Attributes:
        cpu: the CPU whose perf ring carried it (None for ringbuf records, which carry no CPU).
        size: bytes of the record (perf: the raw sample size, padded by the kernel to 8n + 4).
        raw: the record's bytes.
        decoder: the BTF decoder for this record's type, or None when no type fits.

    ``fields`` (the decoded value, a dict for a struct, or None) is decoded from ``raw`` when read, so a
    viewer keeping thousands of events pays only for the ones it shows; read it once per use.
    """

    cpu: int | None
    size: int
    raw: bytes
    decoder: Callable[[bytes], Any] | None = field(default=None, repr=False, compare=False)

    @property
    def fields(self) -> Any:
        if self.decoder is None:
            return None
        try:
            return self.decoder(self.raw)
        except ValueError:  # BtfError: this record does not fit its type; shown as bytes
            return None

    def to_json(self) -> str:
        """One JSON object: ``{"cpu", "size", "event": fields}``, or ``"data"`` as ``"0xNN"`` strings
        (bpftool's convention for bytes without BTF) when the record is not decoded."""
        out: dict[str, Any] = {"cpu": self.cpu, "size": self.size}
        fields = self.fields
        if fields is not None:
            out["event"] = fields
        else:
            out["data"] = [f"0x{b:02x}" for b in self.raw]
        return json.dumps(out, separators=(",", ":"))

    def to_text(self, clock: Clock | None = None) -> str:
        """One readable line: ``cpu=1 size=32 seq=7 comm=bash`` (times, addresses and errnos in their
        friendly forms, :mod:`mapexplorer.semantics`, against ``clock``, default now) or the bytes as hex
        and ASCII."""
        head = f"size={self.size}" if self.cpu is None else f"cpu={self.cpu} size={self.size}"
        fields = self.fields
        kinds = getattr(self.decoder, "kinds", None)
        if kinds and fields is not None:
            fields = humanize(fields, kinds, Clock.now() if clock is None else clock)
        if isinstance(fields, dict):
            return head + " " + " ".join(f"{k}={format_value(v)}" for k, v in fields.items())
        if fields is not None:
            return f"{head} {format_value(fields)}"
        return f"{head} {hex_ascii(self.raw)}"


def new_event(cpu: int | None, size: int, raw: bytes, decoder: Callable[[bytes], Any] | None,
              _new: Callable[[type], Any] = object.__new__) -> Event:
    """``Event(cpu, size, raw, decoder)``, three times faster: streams build one per record, and a frozen
    dataclass's generated ``__init__`` goes through ``object.__setattr__`` field by field. (Event has
    no ``__slots__`` for this reason.)"""
    ev = _new(Event)
    d = ev.__dict__
    d["cpu"] = cpu
    d["size"] = size
    d["raw"] = raw
    d["decoder"] = decoder
    return ev


def format_value(value: Any) -> str:
    """A decoded value as compact text (strings bare, containers as compact JSON)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def hex_ascii(raw: bytes, limit: int = 64) -> str:
    """``00 01 61 62 |..ab|`` for the first ``limit`` bytes (``…`` when there are more)."""
    part = raw[:limit]
    text = "".join(chr(b) if 32 <= b < 127 else "." for b in part)
    more = "…" if len(raw) > limit else ""
    return f"{part.hex(' ')}{more} |{text}|"


class StreamEnded(EOFError):
    """The stream cannot deliver any more events (the map was freed by everyone but us)."""


class StreamError(Exception):
    """The map cannot be streamed (not a stream type, every perf slot busy, no such BTF type)."""


class TypeMismatch(StreamError):
    """A record's size is not the size of the type it was asked to be decoded as."""


# -- decoding --------------------------------------------------------------------------------------


def kinded_decoder(btf: Btf, tid: int) -> Callable[[bytes], Any]:
    """The BTF decoder of ``tid``, carrying ``kinds`` (what its fields mean, for :func:`event_kinds`)."""
    fn = compile_decoder(btf, tid)
    fn.kinds = codec.btf_kinds(btf, tid)  # type: ignore[attr-defined]
    fn.btf_type = (btf, tid)  # type: ignore[attr-defined]  # for the bulk JSON formatter
    return fn


def runs(records: list[tuple[int | None, bytes]]) -> list[tuple[int | None, int, list[bytes]]]:
    """``records`` cut into runs of one CPU and one record size, in order: (cpu, size, records' bytes).
    A batch of one CPU and one size (a ringbuf of one event type) is told in C-speed passes."""
    if not records:
        return []
    cpus, raws = zip(*records, strict=True)
    sizes = list(map(len, raws))
    if cpus.count(cpus[0]) == len(cpus) and sizes.count(sizes[0]) == len(sizes):
        return [(cpus[0], sizes[0], list(raws))]
    out: list[tuple[int | None, int, list[bytes]]] = []
    i, n = 0, len(records)
    while i < n:
        cpu, size = cpus[i], sizes[i]
        j = i + 1
        while j < n and cpus[j] == cpu and sizes[j] == size:
            j += 1
        out.append((cpu, size, list(raws[i:j])))
        i = j
    return out


F = TypeVar("F")


class _BulkFormatters(Generic[F]):
    """The generated formatter of each record type a stream's decoders use (None for records without a
    BTF type), compiled once per (BTF, type id, size) by the subclass's ``_compile``."""

    def __init__(self, stream: EventStream) -> None:
        self.stream = stream
        self._compiled: dict[tuple[int, int, int], F | None] = {}

    def _compile(self, btf: Btf, tid: int, size: int, decoder: object) -> F | None:
        """The formatter of records of ``size`` bytes decoded as ``tid`` (None: one by one)."""
        raise NotImplementedError

    def _formatter(self, size: int) -> F | None:
        fn = self.stream.decoder_for_size(size)
        btf_type = getattr(fn, "btf_type", None)
        if btf_type is None:
            return None
        btf, tid = btf_type
        key = (id(btf), tid, size)
        if key not in self._compiled:
            try:
                self._compiled[key] = self._compile(btf, tid, size, fn)
            except BtfError:
                self._compiled[key] = None
        return self._compiled[key]


class JsonLines(_BulkFormatters[Callable[[bytes], list[str]]]):
    """``watch --json`` output for a batch of records, in bulk: runs of records of one size decoded with
    one BTF type are turned into JSON text by one generated formatter over their joined bytes
    (:func:`~mapexplorer.btf.decode.compile_json_texts`, what ``dump --json`` uses), the same text
    :meth:`Event.to_json` gives one by one, several times faster."""

    def _compile(self, btf: Btf, tid: int, size: int, decoder: object) -> Callable[[bytes], list[str]]:
        return compile_json_texts(btf, tid, size)

    def text(self, records: list[tuple[int | None, bytes]]) -> str:
        """One line per record (each ending in a newline), in order."""
        return self.text_runs(runs(records))

    def text_runs(self, cut: list[tuple[int | None, int, list[bytes]]]) -> str:
        """:meth:`text` of records already cut into runs (:func:`runs`, :meth:`EventStream.read_runs`)."""
        parts: list[str] = []
        for cpu, size, run in cut:
            fmt = self._formatter(size)
            if fmt is None:
                make = self.stream.make_event
                parts.extend(make(cpu, r).to_json() + "\n" for r in run)
            else:
                head = f'{{"cpu":{"null" if cpu is None else cpu},"size":{size},"event":'
                parts.append(head + ("}\n" + head).join(fmt(b"".join(run))) + "}\n")
        return "".join(parts)


class _Now:
    """The clock of the batch being formatted, shared by a formatter's generated parts."""

    __slots__ = ("clock",)

    def __init__(self) -> None:
        self.clock = Clock(0.0, 0)


def _text_part(t: Template, path: str, off: int, node: Node, kinds: dict[str, str], now: _Now,
               timers: list[TimeFormatter]) -> None:
    """Fill ``t`` with the text :meth:`Event.to_text` shows for the decoded value of ``node`` at ``off``
    (``path``: its place in the decoded value, "" for the whole value): ``format_value(humanize(...))``."""
    kind = kinds.get(path)
    below = any(p.startswith(path + ".") or p.startswith(path + "[]") for p in kinds) if path else bool(kinds)
    if type(node) is IntNode and not below:
        r = t.read(off, node.size, node.code)
        if kind is None:
            t.hole(r)
        elif kind == TIME:
            fmt = TimeFormatter(path.rsplit(".", 1)[-1].removesuffix("[]"))
            timers.append(fmt)
            t.hole(f"{t.const(fmt.text)}({r})")
        else:
            name = path.rsplit(".", 1)[-1].removesuffix("[]")

            def shown(v: int, kind: str = kind, name: str = name) -> str:
                return format_value(show(kind, name, v, now.clock))

            t.hole(f"{t.const(shown)}({r})")
        return
    if kind is None and not below:
        if type(node) is BoolNode:
            t.hole(f"{t.const(('False', 'True'))}[{t.read(off, node.size, node.code)} != 0]")
            return
        if type(node) is EnumNode:
            r = t.read(off, node.size, node.code)
            t.hole(f"{t.const(node.names)}.get({r}, {r})")
            return
        if type(node) is StrNode:
            t.hole(f"{t.const(_cached_text(node))}({t.read(off, node.n, f'{node.n}s')})")
            return
        if type(node) in (ObjNode, ArrayNode, ListNode, VecNode):
            t.walk(node, off)  # a dict or list: shown as its compact JSON, which is this text
            return

    def generic(whole: bytes, node: Node = node, off: int = off, path: str = path) -> str:
        return format_value(humanize(node.value(whole, off), kinds, now.clock, path))

    t.hole(f"{t.const(generic)}({t.whole()})")


def _cached_text(node: StrNode) -> Callable[[bytes], str]:
    """A char array's text (:func:`format_value` of its value) by its bytes, remembered: the same few
    comms and paths recur in every batch."""
    seen: dict[bytes, str] = {}

    def text(raw: bytes) -> str:
        got = seen.get(raw)
        if got is None:
            got = format_value(node.value(raw, 0))
            if len(seen) >= 4096:
                seen.clear()
            seen[raw] = got
        return got

    return text


def compile_text_lines(btf: Btf, tid: int, size: int, kinds: dict[str, str]
                       ) -> tuple[Callable[[bytes], list[str]], Callable[[Clock], None]] | None:
    """What :meth:`Event.to_text` prints after the head (``cpu=.. size=.. ``) for records of ``size``
    bytes decoded as type ``tid``, as one generated function over their joined bytes, and the function
    setting the clock times are shown against (call it before each batch). None when these records are
    not decoded in bulk (shorter than the type, no data, a type too large to flatten).

    Raises:
        BtfError: the type cannot be decoded.
    """
    if size < btf.type_size(tid):
        return None
    node = compile_plan(btf, tid)
    if isinstance(node, NullNode) or node.reads() > MAX_FLAT_READS:
        return None  # no value (shown as bytes) / too big to flatten: one by one
    t = Template()
    now = _Now()
    timers: list[TimeFormatter] = []
    if isinstance(node, ObjNode):
        if "" in kinds:
            return None
        for i, (key, off, sub) in enumerate(node.fields):
            t.lit(("" if i == 0 else " ") + key + "=")
            _text_part(t, key, off, sub, kinds, now, timers)
    else:
        _text_part(t, "", 0, node, kinds, now, timers)
    texts = compile_template(t, size, btf.byteorder, f"btf text {tid}")

    def set_clock(clock: Clock) -> None:
        now.clock = clock
        for f in timers:
            f.set_clock(clock)

    return texts, set_clock


class TextLines(_BulkFormatters[tuple[Callable[[bytes], list[str]], Callable[[Clock], None]]]):
    """``watch`` text output for a batch of records, in bulk: runs of records of one size decoded with one
    BTF type are turned into text by one generated formatter (:func:`compile_text_lines`), the same
    lines :meth:`Event.to_text` prints one by one, against one clock per batch."""

    def _compile(self, btf: Btf, tid: int, size: int,
                 decoder: object) -> tuple[Callable[[bytes], list[str]], Callable[[Clock], None]] | None:
        return compile_text_lines(btf, tid, size, getattr(decoder, "kinds", None) or {})

    def text(self, records: list[tuple[int | None, bytes]], clock: Clock | None = None) -> str:
        """One line per record (each ending in a newline), in order; times shown against ``clock``
        (default: now, read once for the batch)."""
        return self.text_runs(runs(records), clock)

    def text_runs(self, cut: list[tuple[int | None, int, list[bytes]]], clock: Clock | None = None) -> str:
        """:meth:`text` of records already cut into runs (:func:`runs`, :meth:`EventStream.read_runs`)."""
        clock = Clock.now() if clock is None else clock
        parts: list[str] = []
        for cpu, size, run in cut:
            got = self._formatter(size) if size else None
            if got is None:
                make = self.stream.make_event
                parts.extend(make(cpu, r).to_text(clock) + "\n" for r in run)
            else:
                texts, set_clock = got
                set_clock(clock)
                head = (f"size={size} " if cpu is None else f"cpu={cpu} size={size} ")
                parts.append(head + ("\n" + head).join(texts(b"".join(run))) + "\n")
        return "".join(parts)


def event_kinds(event: Event) -> dict[str, str]:
    """``{path: kind}`` of the event's decoded fields (:mod:`mapexplorer.semantics`); {} when unknown."""
    return getattr(event.decoder, "kinds", None) or {}


class Decoders:
    """Decoders by record size, chosen as the issue says: ``type_name`` when given, else the unique
    struct of the record's size in the BTF of the programs that use the map."""

    def __init__(self, program_btfs: list[Btf], forced: tuple[str, Callable[[bytes], Any], int] | None,
                 padded: bool, force: bool = False) -> None:
        self._btfs = program_btfs
        self._forced = forced
        self._padded = padded
        self._force = force
        self._by_size: dict[int, tuple[str, Callable[[bytes], Any]] | None] = {}

    @property
    def type_name(self) -> str | None:
        """The name of the type used for the last decoded size (the forced one when given)."""
        if self._forced is not None:
            return self._forced[0]
        names = {v[0] for v in self._by_size.values() if v is not None}
        return ", ".join(sorted(names)) if names else None

    def for_size(self, size: int) -> Callable[[bytes], Any] | None:
        """The decoder for records of ``size`` bytes (None: shown as bytes).

        Raises:
            TypeMismatch: a type was given, its size is not the record's, and ``force`` is off.
        """
        if self._forced is not None:
            name, fn, type_size = self._forced
            if size == type_size or (self._padded and ((type_size + 4 + 7) & ~7) - 4 == size):
                return fn
            if not self._force:
                how = (f"would drop its last {size - type_size} bytes (--type-force decodes its first "
                       f"{type_size} anyway)" if size > type_size else
                       "would run past its end (--type-force decodes the records long enough anyway)")
                raise TypeMismatch(
                    f"a record of {size} bytes is not a {name} ({type_size} bytes): decoding it as one {how}"
                )
            return fn if size >= type_size else None
        if size not in self._by_size:
            self._by_size[size] = self._guess(size)
        hit = self._by_size[size]
        return None if hit is None else hit[1]

    def _guess(self, size: int) -> tuple[str, Callable[[bytes], Any]] | None:
        sizes = [size]
        if self._padded:  # a perf raw sample of n bytes arrives as round_up(n + 4, 8) - 4
            sizes += [s for s in range(size - 7, size) if s > 0 and ((s + 4 + 7) & ~7) - 4 == size]
        for want in sizes:
            found: dict[str, tuple[Btf, int]] = {}
            for btf in self._btfs:
                for tid in btf.structs_of_size(want):
                    found.setdefault(btf.type(tid).name, (btf, tid))
            if len(found) == 1:
                name, (btf, tid) = next(iter(found.items()))
                try:
                    return f"struct {name}", kinded_decoder(btf, tid)
                except BtfError:
                    return None
            if len(found) > 1:
                return None  # ambiguous: hex rather than a guess
        return None


def _find_type(btfs: list[Btf], name: str) -> tuple[Btf, int] | None:
    bare = name.removeprefix("struct ").removeprefix("union ").strip()
    kinds = ["union"] if name.startswith("union ") else ["struct"] if name.startswith("struct ") else [
        "struct", "union"]
    for btf in btfs:
        for kind in kinds:
            tid = btf.find(bare, kind)
            if tid is not None:
                return btf, tid
        tid = btf.find(bare)  # a typedef of a struct or union
        if tid is not None and btf.type(btf.resolve(tid)).kind_name in ("struct", "union"):
            return btf, tid
    return None


def program_btfs_for_map(map_id: int, map_btf_id: int = 0) -> list[Btf]:
    """The BTF of every program that uses the map (and of the map itself), parsed; unreadable ones are
    skipped (a program unloaded while we look)."""
    ids: list[int] = []
    for p in progs.progs_by_map(progs.all_progs()).get(map_id, []):
        if p.btf_id and p.btf_id not in ids:
            ids.append(p.btf_id)
    if map_btf_id and map_btf_id not in ids:
        ids.append(map_btf_id)
    out = []
    for bid in ids:
        try:
            out.append(codec.program_btf(bid))
        except FileNotFoundError:
            continue
    return out


def build_decoders(map_id: int, info: maps.MapInfo, type_name: str | None,
                   type_force: bool = False) -> Decoders:
    """Decoders for this map's records (``type_force``: decode as ``type_name`` whatever the records' size).

    Raises:
        StreamError: ``type_name`` is in neither the programs' BTF nor vmlinux.
    """
    btfs = program_btfs_for_map(map_id, info.btf_id)
    padded = info.type_name == "perf_event_array"
    if type_name is None:
        return Decoders(btfs, None, padded)
    hit = _find_type(btfs, type_name) or _find_type([codec.vmlinux()], type_name)
    if hit is None:
        raise StreamError(
            f"no struct or union named {type_name!r} in the BTF of the programs using map {map_id} "
            "nor in vmlinux"
        )
    btf, tid = hit
    label = type_name if " " in type_name else f"{btf.type(btf.resolve(tid)).kind_name} {type_name}"
    return Decoders(btfs, (label, kinded_decoder(btf, tid), btf.type_size(tid)), padded, type_force)


# -- the stream ------------------------------------------------------------------------------------


class EventStream:
    """Events from one ringbuf or perf_event_array map. Not thread-safe: one reader thread.

    Counters: ``total`` events delivered, ``lost`` events the kernel reported lost (perf ring full),
    ``dropped`` events this reader skipped (a tap overtaken by the owner's consumer).
    """

    def __init__(self, map_id: int, info: maps.MapInfo, reader: ringbuf.RingBufReader |
                 perf.PerfEventArrayReader | tee.TeeReader, ring_fd: int, decoders: Decoders, mode: str,
                 notices: list[str]) -> None:
        self.map_id = map_id
        self.info = info
        self.mode = mode
        self.total = 0
        self._reader = reader
        self._ring_fd = ring_fd
        self._decoders = decoders
        self._notices = notices
        self._last_alive_check = time.monotonic()
        self._overtaken_seen = 0
        self._overtaken_said = -NOTICE_EVERY_S
        self._closed = False
        self.consume_offer: tuple[str, Callable[[], EventStream]] | None = None
        """A tapped ringbuf: the question to ask before consuming it (naming whose records would be
        taken) and the function opening the consuming stream. None otherwise."""
        self.status_note: str | None = None
        """What a viewer's status line should say about how the stream is read, when it is unusual
        (a stream shared with a reader in this process)."""

    # -- facts ---------------------------------------------------------------------------------

    @property
    def map_name(self) -> str:
        return self.info.name

    @property
    def kind(self) -> str:
        return self.info.type_name

    @property
    def type_name(self) -> str | None:
        """The BTF type events are decoded as (None while nothing was decoded)."""
        return self._decoders.type_name

    @property
    def lost(self) -> int:
        return 0 if isinstance(self._reader, ringbuf.RingBufReader) else self._reader.lost

    @property
    def dropped(self) -> int:
        r = self._reader
        return 0 if isinstance(r, perf.PerfEventArrayReader) else r.dropped

    def describe(self) -> str:
        """One line: what is read and how (for a header or stderr)."""
        return f"{self.kind} {self.map_id} ({self.map_name}): {self.mode}"

    def take_notices(self) -> list[str]:
        """Warnings and state changes since the last call (mode chosen, tap overtaken...)."""
        r = self._reader
        now = time.monotonic()
        if (isinstance(r, ringbuf.RingBufReader) and r.overtaken != self._overtaken_seen
                and now - self._overtaken_said >= NOTICE_EVERY_S):
            self._overtaken_seen = r.overtaken
            self._overtaken_said = now
            self._notices.append(
                f"the owner's consumer overtook the tap: {r.dropped} events skipped so far"
            )
        out, self._notices = self._notices, []
        return out

    # -- reading -------------------------------------------------------------------------------

    def read_batch(self, timeout: float, max_events: int | None = None,
                   keep_last: int | None = None, linger: float = 0.0) -> list[Event]:
        """The events available now, waiting up to ``timeout`` seconds for the first.

        Args:
            timeout: seconds to wait when nothing is pending.
            max_events: read at most this many records (the rest stay in the ring for the next call;
                perf rings are drained whole and the excess is not returned).
            keep_last: return only the newest this-many records; the older ones are read (and counted
                in ``total``) but skipped: a viewer that shows the last N events pays for N.
            linger: once something arrived, keep reading for this many seconds before returning (a
                viewer refreshing 20 times a second asks for one batch per frame).

        Raises:
            StreamEnded: nothing but this stream holds the map any more: no event can come.
        """
        bare, records = self._gather(timeout, max_events, keep_last, linger)
        for_size = self._decoders.for_size
        if bare:
            return [new_event(None, len(raw), raw, for_size(len(raw))) for raw in records]
        return [new_event(cpu, len(raw), raw, for_size(len(raw))) for cpu, raw in records]

    def decoder_for_size(self, size: int) -> Callable[[bytes], Any] | None:
        """The decoder records of ``size`` bytes get (None: shown as bytes); may raise TypeMismatch."""
        return self._decoders.for_size(size)

    def make_event(self, cpu: int | None, raw: bytes) -> Event:
        """The :class:`Event` for one record returned by :meth:`read_records`."""
        return new_event(cpu, len(raw), raw, self._decoders.for_size(len(raw)))

    def read_records(self, timeout: float, max_events: int | None = None,
                     keep_last: int | None = None, linger: float = 0.0) -> list[tuple[int | None, bytes]]:
        """Like :meth:`read_batch`, but the records as ``(cpu, raw)`` pairs: a viewer keeping thousands
        of them builds an :class:`Event` (:meth:`make_event`) only for those it shows."""
        bare, records = self._gather(timeout, max_events, keep_last, linger)
        return list(zip(repeat(None), records)) if bare else records

    def read_runs(self, timeout: float, max_events: int | None = None, linger: float = 0.0
                  ) -> list[tuple[int | None, int, list[bytes]]]:
        """Like :meth:`read_records`, but cut into runs of one CPU and one record size
        (:func:`runs`), what the bulk formatters take: a ringbuf's records are never paired with their
        (absent) CPU."""
        bare, records = self._gather(timeout, max_events, None, linger)
        if not bare:
            return runs(records)
        if not records:
            return []
        sizes = list(map(len, records))
        if sizes.count(sizes[0]) == len(sizes):
            return [(None, sizes[0], records)]
        return runs(list(zip(repeat(None), records)))

    def _gather(self, timeout: float, max_events: int | None, keep_last: int | None,
                linger: float) -> tuple[bool, list[Any]]:
        """(True, raw bytes) for a ringbuf, (False, (cpu, raw) pairs) for perf: see :meth:`read_batch`."""
        if self._closed:
            raise StreamEnded(f"stream on map {self.map_id} is closed")
        reader = self._reader
        limit = max_events if max_events is not None else 1 << 30
        bare = isinstance(reader, ringbuf.RingBufReader)
        if not reader.wait(timeout):
            self._check_alive()
            return bare, []
        # Ringbuf records are gathered as bare bytes and paired with their (absent) CPU only once
        # trimmed to keep_last: at a million records a second the pairs would cost a core's tenth.
        records: list[Any] = self._read_raw(limit)
        count = len(records)
        if linger > 0:
            # Sleep-and-read rather than wait for each wakeup: at a high rate the kernel would wake us
            # for nearly every record. The step stays short enough that the ring fills at most to a
            # quarter between two reads at the rate just seen.
            start = time.monotonic()
            end = start + linger
            trim = 2 * keep_last if keep_last is not None else 0
            capacity = self._capacity_bytes()
            while count < limit:
                now = time.monotonic()
                remaining = end - now
                if remaining <= 0:
                    break
                # perf records are (cpu, raw) pairs; none read yet (a wakeup for lost records): no rate
                last_len = (len(records[-1]) if bare else len(records[-1][1])) if records else 0
                rate = count * (last_len + 8) / max(now - start, 1e-4)
                step = min(LINGER_STEP_MAX_S, max(LINGER_STEP_MIN_S, capacity / 4 / max(rate, 1.0)))
                time.sleep(min(remaining, step))
                more = self._read_raw(limit - count)
                count += len(more)
                records += more
                if trim and len(records) > trim:
                    del records[: len(records) - trim // 2]
        self.total += count
        if keep_last is not None and len(records) > keep_last:
            records = records[len(records) - keep_last :]
        return bare, records

    def _capacity_bytes(self) -> int:
        """Bytes one ring holds (the smallest ring, for perf)."""
        reader = self._reader
        if isinstance(reader, ringbuf.RingBufReader):
            return reader.size
        return min((r.data_size for r in reader.rings), default=perf.DEFAULT_PAGES * perf.PAGE_SIZE)

    def _read_raw(self, limit: int) -> list[Any]:
        """Raw records: bytes (ringbuf) or (cpu, bytes) pairs (perf)."""
        reader = self._reader
        if isinstance(reader, ringbuf.RingBufReader):
            return reader.read(limit)
        records = reader.read()
        return records[:limit]

    def _check_alive(self) -> None:
        now = time.monotonic()
        if now - self._last_alive_check < ALIVE_CHECK_S:
            return
        self._last_alive_check = now
        if not map_held_by_others(self.map_id):
            raise StreamEnded(
                f"map {self.map_id} ({self.map_name}) was freed: no program, process or pin holds it "
                "any more, so no event can come"
            )

    def close(self) -> None:
        """Unmap and close everything (for perf: our slots empty themselves)."""
        if self._closed:
            return
        self._closed = True
        self._reader.close()
        if self._ring_fd >= 0:
            os.close(self._ring_fd)
            self._ring_fd = -1

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def map_held_by_others(map_id: int) -> bool:
    """Whether a program, another process, or a bpffs pin still holds the map (our own fds aside)."""
    for p in progs.all_progs():
        if map_id in p.map_ids:
            return True
    me = os.getpid()
    if any(o.pid != me for o in owners.map_owners().get(map_id, [])):
        return True
    return bool(owners.map_pins().get(map_id))


def other_holders(map_id: int) -> list[owners.Owner]:
    """Processes other than us holding an fd to the map."""
    me = os.getpid()
    return [o for o in owners.map_owners().get(map_id, []) if o.pid != me]


class ConsentNeeded(StreamError):
    """Opening would install our perf rings into a perf_event_array another process holds: ask first.

    ``question`` is the text to show; ``accept()`` opens the stream with the user's consent.
    """

    def __init__(self, question: str, accept: Callable[[], EventStream]) -> None:
        super().__init__(question)
        self.question = question
        self.accept = accept


def open_stream(map_id: int, *, type_name: str | None = None, type_force: bool = False, consume: bool = False,
                takeover: bool = False, tap: bool = False, ask: bool = False) -> EventStream:
    """Open a stream of decoded events from a ringbuf or perf_event_array map.

    Args:
        map_id: the map.
        type_name: decode records as this struct or union (else guessed by size, else bytes); a record
            whose size differs raises :class:`TypeMismatch` when it is read, unless ``type_force``.
        type_force: decode as ``type_name`` even when the sizes differ (the first bytes of a longer
            record; a shorter one as bytes).
        consume: ringbuf: advance the consumer position (the records read are gone for every other
            reader). Without it a ringbuf is always tapped, whoever holds it (nobody included).
        takeover: perf_event_array: also replace slots that hold another reader's perf event.
        tap: ringbuf: the default; kept so callers can say it explicitly (an error with ``consume``).
        ask: perf_event_array held by another process, or with every slot taken: raise
            :class:`ConsentNeeded` instead of installing (an interactive caller asks the user, then
            calls its ``accept()``: install into the empty slots, or take every slot over).

    Raises:
        FileNotFoundError: no such map.
        ConsentNeeded: ``ask`` and the perf rings would go into another process's map or take its
            slots over.
        StreamError: not a stream map, every perf slot busy, or ``type_name`` not found.
        OSError: mmap / perf_event_open / bpf() failures.
    """
    info = maps.map_info_by_id(map_id)
    if info.type_name not in STREAM_TYPES:
        raise StreamError(
            f"map {map_id} is a {info.type_name}, not a stream: watch reads ringbuf and "
            "perf_event_array maps"
        )
    decoders = build_decoders(map_id, info, type_name, type_force)
    notices: list[str] = []
    shared = tee.shared(map_id)
    if shared is not None and not consume and not takeover:
        # A reader in this process (the --demo) already reads this map: share what it receives
        # rather than install a second reader (that could only take its perf slots over, or race its
        # ringbuf consumer). No question to ask: nothing of anyone else's changes.
        notices.append(f"sharing {shared.owner}'s stream: its reader in this process hands us a copy of "
                       "every record (nothing is installed into the map, nothing is consumed)")
        stream = EventStream(map_id, info, shared.subscribe(), -1, decoders, f"shared with {shared.owner}",
                             notices)
        stream.status_note = f"sharing {shared.owner}'s stream"
        return stream
    if info.type_name == "ringbuf":
        holders = other_holders(map_id)
        who = ", ".join(f"{o.comm}[{o.pid}]" for o in holders[:4])
        if consume and tap:
            raise StreamError("choose tap or consume, not both")
        # Tap is the default in every case, a ringbuf nobody holds included: its reader may be
        # restarting (the program keeps the map alive), or it is pinned for a reader that comes later.
        # Its records are not ours to take unless the user asks (consume).
        if consume:
            mode = "consume"
            whose = f"{who}, which also holds it" if holders else "whoever reads this ringbuf next"
            notices.append(f"consume mode: events we read are gone for {whose} (the consumer position moves)")
        else:
            mode = "tap"
            notices.append(
                f"tap mode: reading without moving the consumer position (held by {who})" if holders
                else "tap mode: reading without moving the consumer position"
            )
        fd, reader = ringbuf.open_ringbuf(map_id, consume=mode == "consume")
        stream = EventStream(map_id, info, reader, fd, decoders, mode, notices)
        if mode == "tap":
            whose = (f"{who}, which holds it" if holders else
                     "whichever reader drains it next (a program's reader that is restarting, or one that "
                     "opens its pin later)")
            stream.consume_offer = (
                f"Consume ringbuf {map_id} ({info.name})? mapexplorer then advances its consumer position: "
                f"every record it reads is gone for {whose}.",
                lambda: open_stream(map_id, type_name=type_name, type_force=type_force, consume=True),
            )
        return stream
    if map_id in perf.own_readers():
        # Our own demo (BCC, in this process) reads this map: taking its slots would silence it for
        # good, and installing beside it is pointless (it has every slot).
        raise StreamError(
            f"perf_event_array {map_id} ({info.name}) is read by this process's own demo, which has "
            "every slot: taking them would silence the demo until it restarts, so mapexplorer does not. "
            "Run the demo on its own (mapexplorer demo) to watch it from here."
        )
    if ask and not takeover:
        busy = perf.slot_states(map_id)
        taken = [c for c, b in busy.items() if b]
        if busy and len(taken) == len(busy):
            raise ConsentNeeded(
                f"Every slot of perf_event_array {map_id} ({info.name}) is used by another reader (cpus "
                f"{', '.join(map(str, taken))}). Take them over? {SILENCED[0].upper()}{SILENCED[1:]}.",
                lambda: open_stream(map_id, type_name=type_name, takeover=True),
            )
        holders = other_holders(map_id)
        if holders:
            who = ", ".join(f"{o.comm}[{o.pid}]" for o in holders[:4])
            free = ", ".join(str(c) for c, b in busy.items() if not b)
            raise ConsentNeeded(
                f"perf_event_array {map_id} ({info.name}) is held by {who}. Install mapexplorer's perf "
                f"rings into its empty slots (cpus {free})? Events its programs send on those CPUs then "
                "come here.",
                lambda: open_stream(map_id, type_name=type_name),
            )
    try:
        preader = perf.PerfEventArrayReader(map_id, takeover=takeover)
    except perf.SlotsBusy as exc:
        raise StreamError(
            f"every slot of perf_event_array {map_id} is used by another reader (cpus "
            f"{', '.join(map(str, exc.occupied))}): --takeover replaces them; {SILENCED}"
        ) from None
    plan = preader.plan
    if plan.taken:
        notices.append(
            f"took over the slots of cpus {', '.join(map(str, plan.taken))}: {SILENCED}"
        )
    if plan.skipped:
        notices.append(
            f"cpus {', '.join(map(str, plan.skipped))} are used by another reader: their events are not "
            "shown (--takeover to take them)"
        )
    mode = "perf (takeover)" if plan.taken else "perf"
    return EventStream(map_id, info, preader, -1, decoders, mode, notices)
