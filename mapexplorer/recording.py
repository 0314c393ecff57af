"""The recording format (docs/recording.md): JSON Lines, optionally gzip-compressed, written by
``mapexplorer record`` and read by ``--replay``, ``diff`` and the snapshot tests' fixtures.

Provides :class:`Writer` (one line per call, flushed so a killed recorder leaves every finished line
readable) and :func:`read` (the whole file as a :class:`Recording`; a truncated or corrupted line stops the
read with a :class:`RecordingError` naming the line, and everything before it stays usable).

Pure: no syscalls, no textual, no BTF decoding (a map line carries the BTF blob; decoding is
:func:`mapexplorer.codec.recorded_codec`'s job, the same code path as live maps).
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

FORMAT = "mapexplorer-recording"
VERSION = 1


class RecordingError(ValueError):
    """A recording that cannot be read (fully): the message names the file and the line."""

    def __init__(self, path: str, line: int, reason: str) -> None:
        super().__init__(f"{path}: line {line}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Header:
    """The first line: what recorded it, where and when."""

    version: int
    kernel: str
    possible_cpus: int
    hostname: str
    wall: float
    """Wall-clock time (seconds since the epoch) of the start of the recording."""
    mono: float
    """Monotonic time of the start: frame times are relative to it (``frame.t - header.mono``)."""
    note: str = ""


@dataclass(frozen=True, slots=True)
class MapLine:
    """One map's facts (the ``list --json`` object) plus what decoding needs: its BTF blob and type ids.

    ``kind`` is ``entries`` (frames hold key/value pairs), ``peek`` (queue/stack: at most the head, no key)
    or ``unlisted`` (nothing can be read; ``note`` says why; no frames).
    """

    id: int
    facts: dict[str, Any]
    btf: bytes | None
    key_type_id: int
    value_type_id: int
    kind: str = "entries"
    note: str = ""

    @property
    def name(self) -> str:
        return str(self.facts.get("name", ""))

    @property
    def type_name(self) -> str:
        return str(self.facts.get("type", ""))


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One read of one map: ``count`` keys of ``key_size`` bytes and values of ``stride`` bytes, back to
    back (per-CPU: ``possible_cpus`` slots of round_up(value_size, 8) bytes per value, cpu 0 first).
    ``gone`` frames mark the read at which the map had vanished (no entries)."""

    map_id: int
    index: int
    t: float
    wall: float
    count: int
    key_size: int
    stride: int
    keys: bytes
    values: bytes
    gone: bool = False
    line: int = 0
    round: int | None = None
    """The recorder's refresh round (every map is read once per round), when it wrote one."""

    def __repr__(self) -> str:
        return f"Frame(map {self.map_id} #{self.index}, {self.count} entries{', gone' if self.gone else ''})"


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """One record of a stream (ringbuf / perf_event_array) map."""

    map_id: int
    t: float
    wall: float
    cpu: int | None
    data: bytes


@dataclass
class Recording:
    """A whole recording. ``error`` is set when reading stopped early (truncated or corrupted line)."""

    path: str
    header: Header
    maps: dict[int, MapLine] = field(default_factory=dict)
    frames: dict[int, list[Frame]] = field(default_factory=dict)
    events: dict[int, list[RecordedEvent]] = field(default_factory=dict)
    names: dict[str, dict[str, str]] = field(default_factory=dict)
    """Names the rewritten views show: ``progs`` (prog id -> name), ``maps`` (id -> name), ``ksyms``
    (hex address -> symbol+off), ``ifnames`` (ifindex -> name)."""
    ended: bool = False
    """True when the recorder closed the file (an ``end`` line); False when it was cut short."""
    error: RecordingError | None = None

    def frame_at(self, map_id: int, t: float | None = None) -> Frame | None:
        """The last frame of the map taken at or before ``t`` seconds from the start (None: the last)."""
        frames = self.frames.get(map_id, [])
        if t is None:
            return frames[-1] if frames else None
        best = None
        for f in frames:
            if f.t - self.header.mono <= t + 1e-9:
                best = f
            else:
                break
        return best

    @property
    def duration(self) -> float:
        """Seconds between the start and the last frame or event."""
        last = self.header.mono
        for frames in self.frames.values():
            if frames:
                last = max(last, frames[-1].t)
        for events in self.events.values():
            if events:
                last = max(last, events[-1].t)
        return last - self.header.mono


# -- writing ------------------------------------------------------------------------------------------


def _open_write(path: str | Path) -> io.BufferedWriter | gzip.GzipFile:
    raw = open(path, "wb")  # noqa: SIM115 - owned by the Writer, closed in close()
    if str(path).endswith(".gz"):
        # mtime=0: the same frames give the same bytes; gzip level 6: ~3x smaller hex for little CPU
        return gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0)
    return raw


class Writer:
    """Writes a recording line by line (``.gz``: gzip). Call :meth:`close` (or use ``with``) to end it
    with an ``end`` line; a file cut short still reads up to its last complete line."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._raw: IO[bytes] | None = None
        self._out = _open_write(path)
        if isinstance(self._out, gzip.GzipFile):
            self._raw = self._out.fileobj  # type: ignore[assignment]
        self.lines = 0
        self.frames = 0
        self.events = 0
        self.bytes_in = 0
        """Bytes of JSON written (before compression)."""
        self._closed = False
        self._final_size = 0

    @property
    def bytes_written(self) -> int:
        """Bytes in the file so far (compressed size for ``.gz``)."""
        if self._closed:
            return self._final_size
        target = self._raw if self._raw is not None else self._out
        return target.tell()

    def _line(self, obj: dict[str, Any], flush: bool = True) -> None:
        data = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
        self._out.write(data)
        self.bytes_in += len(data)
        self.lines += 1
        if flush:
            self.flush()

    def flush(self) -> None:
        if isinstance(self._out, gzip.GzipFile):
            self._out.flush(zlib.Z_SYNC_FLUSH)  # a complete deflate block: readable if we are killed
        self._out.flush()

    def header(self, *, kernel: str, possible_cpus: int, hostname: str, wall: float, mono: float,
               note: str = "") -> None:
        obj: dict[str, Any] = {
            "line": "header",
            "format": FORMAT,
            "version": VERSION,
            "kernel": kernel,
            "possible_cpus": possible_cpus,
            "hostname": hostname,
            "wall": wall,
            "mono": mono,
        }
        if note:
            obj["note"] = note
        self._line(obj)

    def map(self, facts: dict[str, Any], *, btf: bytes | None, key_type_id: int, value_type_id: int,
            kind: str = "entries", note: str = "", btf_from: int = 0) -> None:
        """A map's line: ``facts`` is the ``list --json`` object (``id`` required). ``btf_from``: the id
        of an earlier map whose line carries the same BTF blob (written once per BTF object)."""
        has = bool(btf) or bool(btf_from)
        obj = {**facts, "line": "map", "kind": kind, "note": note,
               "btf": base64.b64encode(btf).decode() if btf else None,
               "btf_key_type_id": key_type_id if has else 0,
               "btf_value_type_id": value_type_id if has else 0}
        if btf_from and not btf:
            obj["btf_from"] = btf_from
        self._line(obj)

    def frame(self, map_id: int, *, t: float, wall: float, keys: bytes, values: bytes, count: int,
              key_size: int, stride: int, round: int | None = None) -> None:
        obj: dict[str, Any] = {"line": "frame", "map": map_id, "t": t, "wall": wall}
        if round is not None:
            obj["round"] = round
        obj.update(count=count, key_size=key_size, stride=stride, keys=keys.hex(), values=values.hex())
        self._line(obj)
        self.frames += 1

    def gone(self, map_id: int, *, t: float, wall: float, round: int | None = None) -> None:
        obj: dict[str, Any] = {"line": "frame", "map": map_id, "t": t, "wall": wall, "gone": True}
        if round is not None:
            obj["round"] = round
        self._line(obj)
        self.frames += 1

    def names(self, **tables: dict[str, str]) -> None:
        """Names learnt since the last ``names`` line (``progs``, ``maps``, ``ksyms``, ``ifnames``)."""
        tables = {k: v for k, v in tables.items() if v}
        if tables:
            self._line({"line": "names", **tables})

    def event(self, map_id: int, *, t: float, wall: float, cpu: int | None, data: bytes,
              flush: bool = True) -> None:
        self._line({"line": "event", "map": map_id, "t": t, "wall": wall, "cpu": cpu, "data": data.hex()},
                   flush=flush)
        self.events += 1

    def close(self) -> None:
        """Write the ``end`` line and close the file (gzip: its trailer too)."""
        if self._closed:
            return
        try:
            self._line({"line": "end", "frames": self.frames, "events": self.events}, flush=False)
        finally:
            self._out.close()
            if self._raw is not None:
                self._final_size = self._raw.tell()
                self._raw.close()
            else:
                self._final_size = os.path.getsize(self.path)
            self._closed = True

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- reading ------------------------------------------------------------------------------------------


def _open_read(path: str | Path) -> IO[bytes]:
    f = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    magic = f.read(2)
    f.seek(0)
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=f, mode="rb")  # type: ignore[return-value]
    return f


def iter_lines(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every line; raises :class:`RecordingError` at the first bad line.

    Raises:
        OSError: the file cannot be opened.
        RecordingError: a line is not JSON, is cut short, or the compressed stream is damaged.
    """
    name = str(path)
    n = 0
    with _open_read(path) as f:
        while True:
            try:
                line = f.readline()
            except EOFError:
                raise RecordingError(name, n + 1, "the compressed file is cut short") from None
            except (gzip.BadGzipFile, zlib.error, OSError) as exc:
                raise RecordingError(name, n + 1, f"the compressed data is damaged ({exc})") from None
            if not line:
                return
            n += 1
            if not line.endswith(b"\n"):
                raise RecordingError(name, n, "the line is cut short (the recording was interrupted)")
            try:
                obj = json.loads(line)
            except ValueError as exc:
                why = exc.args[0] if exc.args else exc
                raise RecordingError(name, n, f"not valid JSON ({why})") from None
            if not isinstance(obj, dict):
                raise RecordingError(name, n, "expected a JSON object")
            yield n, obj


def _header(name: str, n: int, obj: dict[str, Any]) -> Header:
    if obj.get("line") != "header" or obj.get("format") != FORMAT:
        raise RecordingError(name, n, f"not a mapexplorer recording (the first line is no {FORMAT} header)")
    version = int(obj.get("version", 0))
    if version > VERSION:
        raise RecordingError(name, n, f"format version {version} is newer than this mapexplorer ({VERSION})")
    return Header(
        version=version,
        kernel=str(obj.get("kernel", "")),
        possible_cpus=int(obj["possible_cpus"]),
        hostname=str(obj.get("hostname", "")),
        wall=float(obj["wall"]),
        mono=float(obj["mono"]),
        note=str(obj.get("note", "")),
    )


_MAP_KEYS = frozenset({"line", "kind", "note", "btf", "btf_from", "btf_key_type_id", "btf_value_type_id"})


def _map_line(obj: dict[str, Any], maps: dict[int, MapLine]) -> MapLine:
    text = obj.get("btf")
    blob = base64.b64decode(text, validate=True) if text else None
    if blob is None and obj.get("btf_from"):
        src = maps.get(int(obj["btf_from"]))
        if src is None or src.btf is None:
            raise ValueError(f"btf_from names map {obj['btf_from']}, whose line (before this one) has no BTF")
        blob = src.btf
    return MapLine(
        id=int(obj["id"]),
        facts={k: v for k, v in obj.items() if k not in _MAP_KEYS} | {
            "btf_key_type_id": int(obj.get("btf_key_type_id") or 0),
            "btf_value_type_id": int(obj.get("btf_value_type_id") or 0)},
        btf=blob,
        key_type_id=int(obj.get("btf_key_type_id") or 0),
        value_type_id=int(obj.get("btf_value_type_id") or 0),
        kind=str(obj.get("kind", "entries")),
        note=str(obj.get("note", "")),
    )


def _frame(obj: dict[str, Any], index: int, n: int) -> Frame:
    map_id = int(obj["map"])
    rnd = None if obj.get("round") is None else int(obj["round"])
    if obj.get("gone"):
        return Frame(map_id, index, float(obj["t"]), float(obj["wall"]), 0, 0, 0, b"", b"", True, n, rnd)
    count, ks, stride = int(obj["count"]), int(obj["key_size"]), int(obj["stride"])
    keys = bytes.fromhex(obj["keys"])
    values = bytes.fromhex(obj["values"])
    if len(keys) != count * ks or len(values) != count * stride:
        raise ValueError(f"{count} entries need {count * ks} key and {count * stride} value bytes, "
                         f"the frame has {len(keys)} and {len(values)}")
    return Frame(map_id, index, float(obj["t"]), float(obj["wall"]), count, ks, stride, keys, values,
                 False, n, rnd)


def read(path: str | Path, *, strict: bool = False) -> Recording:
    """The recording at ``path`` (plain or gzip JSON Lines).

    A bad line after the header ends the read: the lines before it are returned with ``error`` set (or,
    with ``strict``, the error is raised).

    Raises:
        OSError: the file cannot be opened.
        RecordingError: not a recording (bad first line), or ``strict`` and a later line is bad.
    """
    name = str(path)
    lines = iter_lines(path)
    try:
        first = next(lines, None)
    except RecordingError:
        raise
    if first is None:
        raise RecordingError(name, 1, "the file is empty")
    try:
        header = _header(name, *first)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, RecordingError):
            raise
        raise RecordingError(name, 1, f"bad header ({exc!r})") from None
    rec = Recording(name, header)
    n = 1
    try:
        for n, obj in lines:
            kind = obj.get("line")
            try:
                if kind == "frame":
                    frames = rec.frames.setdefault(int(obj["map"]), [])
                    frames.append(_frame(obj, len(frames), n))
                elif kind == "map":
                    m = _map_line(obj, rec.maps)
                    rec.maps[m.id] = m
                    rec.frames.setdefault(m.id, [])
                elif kind == "event":
                    data = bytes.fromhex(obj["data"])
                    cpu = obj.get("cpu")
                    rec.events.setdefault(int(obj["map"]), []).append(
                        RecordedEvent(int(obj["map"]), float(obj["t"]), float(obj["wall"]),
                                      None if cpu is None else int(cpu), data))
                elif kind == "names":
                    for table, entries in obj.items():
                        if table != "line" and isinstance(entries, dict):
                            names = rec.names.setdefault(table, {})
                            names.update({str(k): str(v) for k, v in entries.items()})
                elif kind == "end":
                    rec.ended = True
                # other line types come from newer writers: skipped, so old readers keep working
            except (KeyError, TypeError, ValueError) as exc:
                what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
                raise RecordingError(name, n, f"bad {kind} line: {what}") from None
    except RecordingError as exc:
        if strict:
            raise
        rec.error = exc
    for map_id in rec.frames:
        if map_id not in rec.maps and rec.error is None:
            line = rec.frames[map_id][0].line if rec.frames[map_id] else n
            rec.error = RecordingError(name, line, f"frame of map {map_id}, which has no map line")
            if strict:
                raise rec.error
    return rec
