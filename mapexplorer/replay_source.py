"""The replay source: a :class:`MapSource` over a recording (docs/recording.md), for ``mapexplorer --replay
FILE`` and for the snapshot tests and screenshots (tests/fixtures are recordings). No root, no bpf().

Maps decode with the BTF blob their map line carries, through the same codec as live maps
(:func:`mapexplorer.codec.codec_for_map_line`), and the names the rewritten views show (programs, inner
maps, kernel symbols, interfaces) come from the recording's ``names`` lines.

Two ways to move through time:

- a :class:`Timeline` (``--replay``): ``read_map`` returns each map's frame at the timeline's position, which
  the UI's time bar moves (play, pause, step, jump, speed);
- ``follow_reads`` (tests, screenshots): each ``read_map`` of a map returns its next frame (the last one
  repeats), stamped one second after the previous read, so every refresh advances deterministically.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mapexplorer.btf import Btf, BtfError
from mapexplorer.codec import codec_for_map_line
from mapexplorer.decoders import Decoder, RawDecoder, ResolvedNames, TypeAwareDecoder, friendly
from mapexplorer.fill import recorded_count
from mapexplorer.histread import hist_spec
from mapexplorer.model import WHY_NOT_LISTED, ListSnapshot, MapFacts, MapGone, MapRow, MapSnapshot
from mapexplorer.prog_fixture import FixturePrograms
from mapexplorer.progmodel import ProgListSnapshot
from mapexplorer.recording import Frame, MapLine, RecordedEvent, Recording, read
from mapexplorer.semantics import Clock
from mapexplorer.streams import Decoders, new_event
from mapexplorer.writemodel import EditForm, WriteError, WritePlan, WriteRequest, WriteResult

ROUND_GAP_S = 0.05
"""Frames less than this apart belong to one refresh round (the recorder reads every map in turn)."""


class Timeline:
    """Where a replay is in its recording: ``position`` seconds from the start, playing or paused, at a
    speed. Thread-safe (workers read the position, the UI thread moves it)."""

    SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)

    def __init__(self, rounds: list[float], duration: float) -> None:
        self.rounds = rounds
        """Seconds from the start at which each refresh round was complete (the step points)."""
        self.duration = duration
        self.position = rounds[0] if rounds else 0.0
        self.playing = True
        self.speed = 1.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self.position

    def seek(self, t: float) -> float:
        with self._lock:
            self.position = min(max(t, 0.0), self.duration)
            return self.position

    def advance(self, dt: float) -> bool:
        """Play on by ``dt`` seconds of wall time (times the speed). False once the end is reached."""
        with self._lock:
            self.position = min(self.position + dt * self.speed, self.duration)
            if self.position >= self.duration:
                self.playing = False
            return self.playing

    def step(self, direction: int) -> float:
        """To the next (``+1``) or previous (``-1``) refresh round."""
        with self._lock:
            pos = self.position
        if direction > 0:
            target = next((r for r in self.rounds if r > pos + 1e-6), self.duration)
        else:
            target = next((r for r in reversed(self.rounds) if r < pos - 1e-6), 0.0)
        return self.seek(target)

    def change_speed(self, direction: int) -> float:
        i = min(range(len(self.SPEEDS)), key=lambda k: abs(self.SPEEDS[k] - self.speed))
        self.speed = self.SPEEDS[min(max(i + direction, 0), len(self.SPEEDS) - 1)]
        return self.speed


def _rounds(rec: Recording) -> list[float]:
    """When each refresh round was complete, in seconds from the start: from the frames' ``round`` numbers,
    else (older writers, hand-made files) frames closer than ROUND_GAP_S form one round."""
    mono = rec.header.mono
    ends: dict[int, float] = {}
    for frames in rec.frames.values():
        for f in frames:
            if f.round is not None:
                ends[f.round] = max(ends.get(f.round, f.t - mono), f.t - mono)
    if ends:
        return sorted(ends.values())
    times = sorted(f.t - mono for frames in rec.frames.values() for f in frames)
    out: list[float] = []
    start = None
    for t in times:
        if start is None or t - start > ROUND_GAP_S:
            out.append(t)
            start = t
        else:
            out[-1] = t
    return out


class _IdNames(Mapping[int, str]):
    """One table of the recording's names (``{"927": "name"}``), read by integer id, live: names the
    recording learns later show up (the decoder looks them up when it decodes)."""

    def __init__(self, names: dict[str, dict[str, str]], table: str, rows: dict[int, MapRow] | None = None):
        self._names = names
        self._table = table
        self._rows = rows

    def __getitem__(self, key: int) -> str:
        if self._rows is not None and key in self._rows:
            return self._rows[key].name
        return self._names.get(self._table, {})[str(key)]

    def __iter__(self) -> Iterator[int]:
        return (int(k) for k in self._names.get(self._table, {}))

    def __len__(self) -> int:
        return len(self._names.get(self._table, {}))


class _Names:
    """Names from the recording, shaped like the live lookups TypeAwareDecoder calls."""

    def __init__(self, names: dict[str, dict[str, str]], rows: dict[int, MapRow]) -> None:
        self.names = names
        self.rows = rows
        self.resolved = ResolvedNames(
            progs=_IdNames(names, "progs"),
            maps=_IdNames(names, "maps", rows),
            ifnames=_IdNames(names, "ifnames"),
            symbols=self,
        )

    def prog_name(self, prog_id: int) -> str:
        return self.names.get("progs", {}).get(str(prog_id), f"#{prog_id}")

    def map_name(self, map_id: int) -> str:
        row = self.rows.get(map_id)
        return row.name if row is not None else self.names.get("maps", {}).get(str(map_id), "?")

    def ifname(self, ifindex: int) -> str:
        return self.names.get("ifnames", {}).get(str(ifindex), f"if#{ifindex}")

    def symbolize(self, addr: int) -> str:
        return self.names.get("ksyms", {}).get(f"{addr:x}", f"0x{addr:x}")


@dataclass(frozen=True, slots=True)
class _Replayed:
    line: MapLine
    row: MapRow
    facts: MapFacts
    decoder: Decoder


def _row(m: MapLine) -> MapRow:
    f = m.facts
    names = f.get("prog_names") or []
    progs = tuple(n or f"#{i}" for i, n in zip(f.get("progs", []), names, strict=False)) or tuple(names)
    return MapRow(
        id=m.id,
        name=m.name,
        type_name=m.type_name,
        key_size=int(f.get("key_size", 0)),
        value_size=int(f.get("value_size", 0)),
        max_entries=int(f.get("max_entries", 0)),
        flags=int(f.get("flags", 0)),
        memlock=int(f.get("memlock", 0)),
        frozen=bool(f.get("frozen", False)),
        btf_id=int(f.get("btf_id", 0)),
        owners=tuple(f"{p.get('comm', '?')}[{p.get('pid', '?')}]" for p in f.get("pids", [])),
        progs=progs,
        pinned=tuple(f.get("pinned", [])),
    )


class ReplaySource:
    """A recording as a :class:`mapexplorer.model.MapSource` (see the module docstring).

    ``errors`` maps a map id to the exception ``read_map`` raises for it (how the UI reacts to a failing or
    vanished map, for tests).
    """

    def __init__(
        self,
        recording: Recording | str | Path,
        *,
        follow_reads: bool = False,
        errors: dict[int, Exception] | None = None,
        programs: str | Path | None = None,
    ) -> None:
        rec = recording if isinstance(recording, Recording) else read(recording)
        self.recording = rec
        self.ncpus = rec.header.possible_cpus
        self.name = f"replay {Path(rec.path).name} · {self.ncpus} CPUs"
        self.follow_reads = follow_reads
        self.timeline = Timeline(_rounds(rec), rec.duration)
        self.errors = dict(errors or {})
        self.list_calls = 0
        self._reads: dict[int, int] = {}
        self._lock = threading.Lock()
        rows = {m.id: _row(m) for m in rec.maps.values()}
        self._programs: FixturePrograms | None = None
        """Recorded programs (e.g. tests/fixtures/programs.json) when given: the programs screen and the
        writers/readers of the maps they use; without them the source has no programs."""
        if programs is not None:
            def map_info(map_id: int) -> tuple[str, str]:
                row = rows.get(map_id)
                return (row.name, row.type_name) if row is not None else ("?", "?")

            self._programs = FixturePrograms(programs, map_info, epoch=self.start_wall, ncpus=self.ncpus)
            for mid, row in list(rows.items()):
                users = self._programs.names_of(mid)
                if users:
                    rows[mid] = replace(row, progs=users, users=self._programs.users_of(mid))
        self._rows = rows
        self._names = _Names(rec.names, rows)
        self._maps: dict[int, _Replayed] = {}
        """Decoders and facts, made when a map is first read (a recording may hold 20,000 maps)."""
        self._btfs: dict[bytes, Btf | None] = {}
        """Recorded BTF blobs, parsed when a stream's events need them (None: the blob did not parse)."""

    def _load(self, m: MapLine, row: MapRow, names: _Names) -> _Replayed:
        codec = codec_for_map_line(m, self.ncpus)
        note = m.note
        inner: Decoder
        if codec.has_btf:
            # recorded timestamps shown against the recording's own clocks (a replay never moves them)
            h = self.recording.header
            inner = friendly(codec, lambda: Clock(h.wall, int(h.mono * 1e9)))
        else:
            inner = RawDecoder(row.key_size, row.value_size, self.ncpus)
            if inner.value_int and not note and m.kind == "entries":
                note = f"no BTF: {row.value_size}-byte values read as little-endian unsigned integers"
        facts = MapFacts(row, self.ncpus, codec.has_btf, codec.key_c, codec.value_c, note,
                         hist=hist_spec(codec), hist_any=hist_spec(codec, guess=False))
        decoder = TypeAwareDecoder(inner, row.type_name, names.resolved)
        return _Replayed(m, row, facts, decoder)

    # -- time ----------------------------------------------------------------------------------------

    @property
    def start_wall(self) -> float:
        return self.recording.header.wall

    def _frame(self, map_id: int) -> tuple[Frame | None, float, int]:
        """The frame to show, its time stamp and sequence number."""
        frames = self.recording.frames.get(map_id, [])
        if self.follow_reads:
            with self._lock:
                i = self._reads.get(map_id, 0)
                self._reads[map_id] = i + 1
            if not frames:
                return None, self.start_wall, i + 1
            return frames[min(i, len(frames) - 1)], frames[0].wall + i, i + 1
        f = self.recording.frame_at(map_id, self.timeline.now())
        if f is None:
            return None, self.start_wall + self.timeline.now(), 0
        return f, f.wall, f.index + 1

    # -- MapSource -----------------------------------------------------------------------------------

    def list_maps(self) -> ListSnapshot:
        """The maps alive at the replay's time, with entries and fill as recorded then."""
        with self._lock:
            self.list_calls += 1
        if self.follow_reads:
            rows = [self._counted(row, (self.recording.frames.get(row.id) or [None])[0])
                    for row in self._rows.values()]
            return ListSnapshot(tuple(rows), self.start_wall)
        now = self.timeline.now()
        rows = []
        for row in self._rows.values():
            f = self.recording.frame_at(row.id, now)
            if f is not None and f.gone:
                continue
            rows.append(self._counted(row, f))
        return ListSnapshot(tuple(rows), self.start_wall + now)

    def _counted(self, row: MapRow, frame: Frame | None) -> MapRow:
        line = self.recording.maps.get(row.id)
        kind = line.kind if line is not None else ""
        entries = frame.count if kind == "entries" and frame is not None else None
        backlog = line.facts.get("backlog") if line is not None else None
        return replace(row, count=recorded_count(row.type_name, row.max_entries, entries,
                                                 int(backlog) if backlog is not None else None))

    def doctor(self) -> tuple[list[Any], int]:
        """The doctor's rules over the maps at the replay's time (their recorded counts; no perf or per-CPU
        samples)."""
        from mapexplorer import doctor

        rows = self.list_maps().rows
        return doctor.diagnose(doctor.facts_from_rows(rows)), len(rows)

    def _line(self, map_id: int) -> MapLine:
        err = self.errors.get(map_id)
        if err is not None:
            raise err
        line = self.recording.maps.get(map_id)
        if line is None:
            raise MapGone(f"map {map_id} is not in the recording")
        return line

    def _get(self, map_id: int) -> _Replayed:
        line = self._line(map_id)
        with self._lock:
            m = self._maps.get(map_id)
        if m is None:
            m = self._load(line, self._rows[map_id], self._names)
            with self._lock:
                self._maps[map_id] = m
        return m

    def read_map(self, map_id: int) -> MapSnapshot:
        m = self._get(map_id)
        frame, taken_at, seq = self._frame(map_id)
        kind = m.line.kind
        if kind == "unlisted":
            return MapSnapshot(m.facts, b"", b"", 0, 0, 0, taken_at, m.decoder, "unlisted",
                               WHY_NOT_LISTED.get(m.row.type_name, "nothing can be read from this map"),
                               seq=seq)
        if frame is not None and frame.gone:
            raise MapGone(f"map {map_id} was gone at {frame.t - self.recording.header.mono:.1f} s")
        if frame is None:
            ks = 0 if kind == "peek" else m.row.key_size
            return MapSnapshot(m.facts, b"", b"", 0, ks, m.row.value_size, taken_at, m.decoder, kind,
                               seq=seq)
        note = "" if frame.stride or kind != "entries" else \
            f"{m.row.type_name} values cannot be read back from user space: keys only"
        return MapSnapshot(m.facts, frame.keys, frame.values, frame.count, frame.key_size, frame.stride,
                           taken_at, m.decoder, kind, note, seq=seq)

    def lookup(self, map_id: int, key: bytes) -> MapSnapshot:
        snap = self.read_map(map_id)
        for i in range(snap.count):
            if snap.key_raw(i) == key:
                return replace(snap, keys=key, values=snap.value_raw(i), count=1, kind="entries", note="")
        return replace(snap, keys=b"", values=b"", count=0, kind="entries", note="")

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
        if ref.isdigit() and int(ref) in self._rows:
            return int(ref)
        found = [row.id for row in self._rows.values() if row.name == ref]
        if len(found) != 1:
            raise LookupError(
                f"no map named {ref!r} in the recording" if not found else
                f"{len(found)} maps are named {ref!r}: use an id ({', '.join(map(str, found))})"
            )
        return found[0]

    def stream_factory(self, map_id: int) -> Callable[[], Any] | None:
        events = self.recording.events.get(map_id)
        if not events:
            return None
        row = self._rows.get(map_id)
        name = row.name if row is not None else str(map_id)
        return lambda: RecordedStream(map_id, name, events, self, self.event_decoders(map_id))

    def event_decoders(self, map_id: int) -> Decoders:
        """How a stream map's recorded events decode, as a live stream's do (:class:`Decoders`: the
        unique struct of a record's size), in the BTF recorded for the maps of the programs that use it
        (the struct is there when a program declares a map of it, as the demo does), else in every BTF
        of the recording."""
        mine = self.recording.maps.get(map_id)
        users = set(mine.facts.get("prog_names") or []) if mine is not None else set()
        blobs = [m.btf for m in self.recording.maps.values() if m.btf]
        shared = [m.btf for m in self.recording.maps.values()
                  if m.btf and users & set(m.facts.get("prog_names") or [])]
        btfs = []
        for blob in dict.fromkeys(shared or blobs):  # distinct, in order
            if blob not in self._btfs:
                try:
                    self._btfs[blob] = Btf.parse(blob)
                except BtfError:
                    self._btfs[blob] = None
            btf = self._btfs[blob]
            if btf is not None:
                btfs.append(btf)
        padded = mine is not None and mine.type_name == "perf_event_array"
        return Decoders(btfs, None, padded)

    def list_programs(self) -> ProgListSnapshot:
        if self._programs is None:
            return ProgListSnapshot((), self.start_wall, False, "", self.ncpus)
        return self._programs.list_programs()

    def set_prog_stats(self, on: bool) -> None:
        if self._programs is not None:
            self._programs.set_stats(on)

    def edit_form(self, map_id: int, op: str, key: bytes | None, cpu: int | None) -> EditForm:
        raise WriteError("a recording cannot be written")

    def plan_write(self, request: WriteRequest) -> WritePlan:
        raise WriteError("a recording cannot be written")

    def apply_write(self, plan: WritePlan) -> WriteResult:
        raise WriteError("a recording cannot be written")

    def close(self) -> None:
        return None


class RecordedStream:
    """Recorded events of one stream map, handed out as the replay's position passes their time (what the
    event view reads instead of a live :class:`mapexplorer.streams.EventStream`), decoded with the
    recording's BTF when a struct fits (else shown as bytes)."""

    kind = "replay"

    def __init__(self, map_id: int, map_name: str, events: list[RecordedEvent], source: ReplaySource,
                 decoders: Decoders | None = None) -> None:
        self.map_id = map_id
        self.decoders = decoders
        self.map_name = map_name
        self.events = events
        self.source = source
        self.total = 0
        self.lost = 0
        self.dropped = 0
        self._next = 0
        self._closed = threading.Event()

    def describe(self) -> str:
        return f"{len(self.events)} recorded events of map {self.map_id} ({self.map_name})"

    def take_notices(self) -> list[str]:
        return []

    @property
    def type_name(self) -> str | None:
        """The BTF type events are decoded as (None: none fits, or nothing decoded yet)."""
        return self.decoders.type_name if self.decoders is not None else None

    def make_event(self, cpu: int | None, raw: bytes) -> Any:
        decoder = self.decoders.for_size(len(raw)) if self.decoders is not None else None
        return new_event(cpu, len(raw), raw, decoder)

    def _due(self) -> float:
        src = self.source
        if src.follow_reads:
            return float("inf")
        return src.recording.header.mono + src.timeline.now()

    def read_records(self, timeout: float, max_events: int | None = None, keep_last: int | None = None,
                     linger: float = 0.0) -> list[tuple[int | None, bytes]]:
        due = self._due()
        if due < (self.events[self._next - 1].t if self._next else float("-inf")):
            self._next = 0  # the replay went back in time: hand the events out again
        out: list[tuple[int | None, bytes]] = []
        while self._next < len(self.events) and self.events[self._next].t <= due:
            e = self.events[self._next]
            out.append((e.cpu, e.data))
            self._next += 1
            if max_events is not None and len(out) >= max_events:
                break
        if not out:
            self._closed.wait(timeout)
        self.total += len(out)
        return out[-keep_last:] if keep_last else out

    def read_batch(self, timeout: float, max_events: int | None = None, keep_last: int | None = None,
                   linger: float = 0.0) -> list[Any]:
        return [self.make_event(c, r) for c, r in self.read_records(timeout, max_events, keep_last, linger)]

    def close(self) -> None:
        self._closed.set()
