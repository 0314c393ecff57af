"""The recorded source: :class:`FixtureSource` replays maps recorded from a real kernel (the JSON format
that scripts/record_fixtures.py writes and tests/fixtures holds) with a fixed CPU count and fixed timestamps,
for snapshot tests and screenshots. The recording is a file the caller names: nothing is looked up inside
the installed package.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mapexplorer.decoders import RawDecoder
from mapexplorer.model import WHY_NOT_LISTED, ListSnapshot, MapFacts, MapGone, MapRow, MapSnapshot
from mapexplorer.writemodel import EditForm, WriteError, WritePlan, WriteRequest, WriteResult

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

    ``path`` is the recording (JSON). Each ``read_map`` of a map returns its next recorded frame (the last
    one repeats), stamped ``FIXTURE_EPOCH + frame``; ``errors`` maps a map id to the error ``read_map``
    raises for it (to show how the UI reacts to a failing or vanished map).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        ncpus: int | None = None,
        errors: dict[int, Exception] | None = None,
    ) -> None:
        path = Path(path)
        data = json.loads(path.read_text())
        self.ncpus = int(ncpus or data.get("ncpus", 4))
        self.name = f"fixture {path.name} · {self.ncpus} CPUs"
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

    def edit_form(self, map_id: int, op: str, key: bytes | None, cpu: int | None) -> EditForm:
        raise WriteError("recorded maps cannot be written")

    def plan_write(self, request: WriteRequest) -> WritePlan:
        raise WriteError("recorded maps cannot be written")

    def apply_write(self, plan: WritePlan) -> WriteResult:
        raise WriteError("recorded maps cannot be written")

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
