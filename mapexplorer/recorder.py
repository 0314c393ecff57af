"""Recording live maps into the recording format (:mod:`mapexplorer.recording`): what ``mapexplorer
record`` and scripts/record_fixtures.py drive.

A :class:`Recorder` writes the header, then at each :meth:`Recorder.frame` reads every chosen map (by
id, opening it anew each time so that a map that vanished is recorded as gone) and writes one frame line
per map, a map line the first time it sees a map, and the names that the rewritten views need (program
names of a prog_array, inner map names, kernel symbols of stack traces, interface names of devmaps).
Stream maps given to :meth:`Recorder.add_stream` are read in tap mode and their records written as events.

Blocking kernel work; no textual.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from mapexplorer.kernel import inventory, maps, progs
from mapexplorer.kernel.btf_fetch import btf_by_id
from mapexplorer.maptypes import NON_ITERABLE_TYPES, PEEK_TYPES
from mapexplorer.recording import Writer

UNLISTED_TYPES = NON_ITERABLE_TYPES - PEEK_TYPES
MAP_OF_MAPS = frozenset({"array_of_maps", "hash_of_maps"})
DEVMAPS = frozenset({"devmap", "devmap_hash"})


@dataclass
class _Known:
    info: maps.MapInfo
    gone: bool = False


@dataclass
class Recorder:
    """Writes frames of the maps ``map_ids`` (None: every map in the kernel, including maps that appear
    while recording) to ``writer``. ``max_entries`` caps the entries written per frame (None: all)."""

    writer: Writer
    map_ids: list[int] | None = None
    max_entries: int | None = None
    note: str = ""
    frames: int = 0
    """Frame rounds taken so far."""
    notices: list[str] = field(default_factory=list)
    """Problems met while recording (a map that could not be read), for the caller to show."""
    _known: dict[int, _Known] = field(default_factory=dict)
    _facts: dict[int, dict[str, Any]] = field(default_factory=dict)
    _btf_lines: dict[int, int] = field(default_factory=dict)
    _names: dict[str, dict[str, str]] = field(default_factory=dict)
    _ksyms: Any = None
    _streams: list[Any] = field(default_factory=list)
    _t0: float = 0.0

    def start(self) -> None:
        self._t0 = time.monotonic()
        self.writer.header(kernel=os.uname().release, possible_cpus=maps.possible_cpu_count(),
                           hostname=socket.gethostname(), wall=time.time(), mono=self._t0, note=self.note)

    @property
    def maps_seen(self) -> int:
        return len(self._known)

    # -- maps ----------------------------------------------------------------------------------------

    def frame(self) -> None:
        """Read every chosen map once and write its frame (or its disappearance)."""
        ids = list(maps.map_ids()) if self.map_ids is None else self.map_ids
        if self.map_ids is None:
            present = set(ids)
            for map_id, known in self._known.items():
                if map_id not in present and not known.gone:
                    self._gone(map_id)
        self._prefetch_facts([i for i in ids if i not in self._known or self._known[i].gone])
        for map_id in ids:
            self._read(map_id)
        self._facts.clear()
        self.frames += 1

    def _prefetch_facts(self, ids: list[int]) -> None:
        """The ``list --json`` facts of maps new in this round, in one inventory pass (owners and programs
        are found by walking every process and program: once per round, not once per map)."""
        if not ids:
            return
        try:
            recs = inventory.collect(ids)
        except FileNotFoundError:  # one of them vanished meanwhile: each is collected alone
            return
        self._facts = {r.info.id: r.to_json() for r in recs}

    def _gone(self, map_id: int) -> None:
        known = self._known.get(map_id)
        if known is not None and not known.gone:
            known.gone = True
            self.writer.gone(map_id, t=time.monotonic(), wall=time.time(), round=self.frames)

    def _read(self, map_id: int) -> None:
        try:
            m = maps.Map.open(map_id)
        except FileNotFoundError:
            self._gone(map_id)
            return
        except OSError as exc:
            self._notice(f"map {map_id}: {exc.strerror or exc}: not recorded")
            return
        with m:
            info = m.info
            known = self._known.get(map_id)
            new = known is None or known.gone or known.info.type != info.type
            if new and not self._map_line(info):
                return
            if info.type_name in UNLISTED_TYPES:
                return
            t, wall = time.monotonic(), time.time()
            try:
                if info.type_name in PEEK_TYPES:
                    head = m.peek()
                    keys, values = b"", head or b""
                    count, ks, stride = (0 if head is None else 1), 0, info.value_size
                else:
                    keys, values, count, ks, stride = self._entries(m)
            except FileNotFoundError:
                self._gone(map_id)
                return
            except OSError as exc:
                self._notice(f"map {map_id} ({info.name}): {exc.strerror or exc}: frame left out")
                return
            self.writer.frame(map_id, t=t, wall=wall, keys=keys, values=values, count=count, key_size=ks,
                              stride=stride, round=self.frames)
            self._learn_names(info, keys, values, count, stride)

    def _entries(self, m: maps.Map) -> tuple[bytes, bytes, int, int, int]:
        info = m.info
        keys: list[bytes] = []
        values: list[bytes] = []
        count = 0
        stride = info.value_stride
        limit = self.max_entries
        for c in m.read_chunks():
            n = c.count if limit is None else min(c.count, limit - count)
            keys.append(c.keys[: n * c.key_size])
            values.append(c.values[: n * c.stride])
            stride = c.stride
            count += n
            if limit is not None and count >= limit:
                break
        return b"".join(keys), b"".join(values), count, info.key_size, stride

    def _map_line(self, info: maps.MapInfo) -> bool:
        facts = self._facts.get(info.id)
        if facts is None:
            try:
                recs = inventory.collect([info.id])
            except FileNotFoundError:
                self._gone(info.id)
                return False
            facts = recs[0].to_json() if recs else {"id": info.id, "name": info.name, "type": info.type_name}
        facts["map_type"] = info.type
        me = os.getpid()  # the recorder's own fd is not an owner worth recording
        facts["pids"] = [p for p in facts.get("pids", []) if p.get("pid") != me]
        blob, key_type, value_type, note = None, info.btf_key_type_id, info.btf_value_type_id, ""
        btf_from = 0
        if info.btf_id:
            if info.btf_id in self._btf_lines:
                btf_from = self._btf_lines[info.btf_id]
            else:
                try:
                    obj = btf_by_id(info.btf_id)
                except OSError:
                    obj = None
                if obj is None:
                    note = "its BTF could not be read: recorded as bytes"
                elif obj.kernel_btf:
                    note = f"its BTF is kernel BTF ({obj.name}), which recordings do not carry: bytes"
                else:
                    blob = obj.data
        if info.btf_vmlinux_value_type_id:
            value_type = 0
            note = "its value type is kernel BTF (vmlinux), which recordings do not carry: bytes"
        if blob is None and not btf_from:
            key_type = value_type = 0
        kind = "unlisted" if info.type_name in UNLISTED_TYPES else (
            "peek" if info.type_name in PEEK_TYPES else "entries")
        self.writer.map(facts, btf=blob, btf_from=btf_from, key_type_id=key_type, value_type_id=value_type,
                        kind=kind, note=note)
        if blob is not None:
            self._btf_lines[info.btf_id] = info.id
        self._known[info.id] = _Known(info)
        return True

    def _notice(self, msg: str) -> None:
        if msg not in self.notices:
            self.notices.append(msg)

    # -- names the rewritten views show -----------------------------------------------------------

    def _learn_names(self, info: maps.MapInfo, keys: bytes, values: bytes, count: int, stride: int) -> None:
        t = info.type_name
        new: dict[str, dict[str, str]] = {}

        def learn(table: str, key: str, name: Any) -> None:
            have = self._names.setdefault(table, {})
            if key not in have:
                have[key] = str(name)
                new.setdefault(table, {})[key] = str(name)

        ids = [int.from_bytes(values[i * stride : i * stride + 4], "little") for i in range(count)] \
            if stride >= 4 else []
        if t == "prog_array":
            for pid in ids:
                if str(pid) not in self._names.get("progs", {}):
                    try:
                        name = progs.prog_info_by_id(pid).name or f"#{pid}"
                    except OSError:
                        name = "?"
                    learn("progs", str(pid), name)
        elif t in MAP_OF_MAPS:
            for mid in ids:
                if str(mid) not in self._names.get("maps", {}):
                    try:
                        name = maps.map_info_by_id(mid).name
                    except OSError:
                        name = "?"
                    learn("maps", str(mid), name)
        elif t in DEVMAPS:
            for idx in ids:
                try:
                    name = socket.if_indextoname(idx)
                except OSError:
                    name = f"if#{idx}"
                learn("ifnames", str(idx), name)
        elif t == "stack_trace" and stride:
            if self._ksyms is None:
                from mapexplorer.decoders import Kallsyms

                self._ksyms = Kallsyms()
            have = self._names.get("ksyms", {})
            for (addr,) in struct.iter_unpack("<Q", values[: len(values) - len(values) % 8]):
                if addr and f"{addr:x}" not in have:
                    learn("ksyms", f"{addr:x}", self._ksyms.symbolize(addr))
        if new:
            self.writer.names(**new)

    # -- streams -------------------------------------------------------------------------------------

    def add_stream(self, map_id: int) -> str:
        """Record the events of a ringbuf / perf_event_array map (ringbuf: tap, never consuming).

        Returns how it is read (for the user). Raises StreamError / OSError when it cannot be opened.
        """
        from mapexplorer.streams import open_stream

        stream = open_stream(map_id, tap=True, ask=True)
        info = maps.map_info_by_id(map_id)
        if not self._known.get(map_id):
            self._map_line(info)
        self._streams.append(stream)
        for msg in stream.take_notices():
            self._notice(f"map {map_id}: {msg}")
        return stream.describe()

    def pump_events(self, timeout: float) -> None:
        """Write the records that arrive on the streams within ``timeout`` seconds."""
        if not self._streams:
            time.sleep(max(timeout, 0.0))
            return
        from mapexplorer.streams import StreamEnded

        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            left = deadline - time.monotonic()
            each = max(min(left, 0.1), 0.0) / len(self._streams)
            for stream in list(self._streams):
                try:
                    records = stream.read_records(each, linger=0.0)
                except StreamEnded:
                    self._streams.remove(stream)
                    self._gone(stream.map_id)
                    stream.close()
                    continue
                if records:
                    t, wall = time.monotonic(), time.time()
                    for cpu, raw in records:
                        self.writer.event(stream.map_id, t=t, wall=wall, cpu=cpu, data=raw, flush=False)
                    self.writer.flush()
            if not self._streams:
                time.sleep(max(deadline - time.monotonic(), 0.0))
                return
            if time.monotonic() >= deadline:
                return

    def close(self) -> None:
        for stream in self._streams:
            stream.close()
        self._streams.clear()
