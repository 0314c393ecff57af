"""The live source: :class:`KernelSource` reads the running kernel through :mod:`mapexplorer.kernel` and
decodes entries with :mod:`mapexplorer.codec` (BTF). Every method blocks: the UI calls them from thread
workers only.
"""

from __future__ import annotations

import os
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from mapexplorer.decoders import (
    KERNEL_SPACE,
    Decoder,
    NameCache,
    RawDecoder,
    ResolvedNames,
    TypeAwareDecoder,
    friendly,
    ifname,
)
from mapexplorer.fill import EntryCount
from mapexplorer.maptypes import MAP_OF_MAPS_TYPES, PEEK_TYPES
from mapexplorer.model import (
    WHY_NOT_LISTED,
    ListSnapshot,
    MapFacts,
    MapGone,
    MapRow,
    MapSnapshot,
    ResolvedStack,
)
from mapexplorer.progmodel import ProgListSnapshot, map_users
from mapexplorer.symbols import Kallsyms, frame_text, process_maps
from mapexplorer.writemodel import EditForm, WriteError, WritePlan, WriteRequest, WriteResult

NAMED_TYPES = MAP_OF_MAPS_TYPES | {"prog_array", "stack_trace", "devmap", "devmap_hash"}
"""Map types whose values show names resolved in the worker (see :meth:`KernelSource._named`)."""
NAME_TTL_S = 10.0
"""How long a resolved program, map or interface name is reused before it is asked again."""

FIRST_ROWS = 1000
"""Maps the very first listing reads (the lowest ids: what the list shows first), the rest coming next."""

# Reading maps of maps (which inner maps each holds, for memory by owner): at most this often, within this
# share of one core.
INNER_EVERY_S, INNER_CPU = 10.0, 0.01


MAX_PATCHED = 4096
"""Rows looked up again kept as patches over a snapshot's buffers, at most (then they start over)."""
PASS_BATCH = 16384
"""Entries per BPF_MAP_LOOKUP_BATCH call of a sliced full read."""


class MapPass:
    """One read of every entry of a map, done a slice at a time (:meth:`step`), each slice some
    BPF_MAP_LOOKUP_BATCH calls: how the map view re-reads a big map between frames within its CPU budget
    (the batch token carries the position from one slice to the next). Holds the map's fd until done or
    closed. Thread-safe: a lock serialises the slices (an abandoned worker may still be in one)."""

    def __init__(self, source: KernelSource, m: Any, facts: MapFacts, decoder: Decoder) -> None:
        self._source = source
        self._map = m
        self._chunks = m.read_chunks(PASS_BATCH)
        self.facts = facts
        self._decoder = decoder
        self._keys: list[bytes] = []
        self._values: list[bytes] = []
        self._stride = m.info.value_stride
        self._info = m.info
        self.count = 0
        """Entries read so far."""
        self.done = False
        self.started_at = time.time()
        self._lock = threading.Lock()

    def step(self, max_entries: int) -> bool:
        """Read at least ``max_entries`` more entries (whole batches), or up to the end; True when done."""
        with self._lock:
            if self.done:
                return True
            goal = self.count + max(max_entries, 1)
            while self.count < goal:
                try:
                    chunk = next(self._chunks)
                except StopIteration:
                    self.done = True
                    self._map.close()
                    break
                except FileNotFoundError:
                    self.close()
                    raise MapGone(f"map {self.facts.row.id} is gone") from None
                except BaseException:
                    self.close()
                    raise
                self._keys.append(chunk.keys)
                self._values.append(chunk.values)
                self._stride = chunk.stride
                self.count += chunk.count
            return self.done

    def snapshot(self) -> MapSnapshot:
        """What was read so far as one snapshot (the whole map once :attr:`done`)."""
        with self._lock:
            keys = self._keys[0] if len(self._keys) == 1 else b"".join(self._keys)
            values = self._values[0] if len(self._values) == 1 else b"".join(self._values)
            if self.done:  # one buffer from now on: the batches' bytes are freed with the snapshot's
                self._keys, self._values = [keys], [values]
            stride, t = self._stride, self.facts.row.type_name
            note = "" if stride else f"{t} values cannot be read back from user space: keys only"
            decoder = self._source._named(self._decoder, t, values, stride)
            if self.done and not self.facts.row.owners and not self.facts.row.progs:
                # the whole map is in: now the owners, programs and pins (a walk of every process's fds)
                self.facts = self._source._facts(self._info)[1]
            return MapSnapshot(self.facts, keys, values, self.count, self.facts.row.key_size, stride,
                               self.started_at, decoder, "entries", note, seq=self._source._next_seq())

    def close(self) -> None:
        """Give the map's fd back (an unfinished pass is abandoned)."""
        if not self.done:
            self.done = True
            self._chunks.close()
            self._map.close()


def _bare_row(info: Any) -> MapRow:
    """A map's row from its info alone (no owners, programs or pins)."""
    return MapRow(id=info.id, name=info.name, type_name=info.type_name, key_size=info.key_size,
                  value_size=info.value_size, max_entries=info.max_entries, flags=info.flags,
                  memlock=info.memlock, frozen=info.frozen, btf_id=info.btf_id)


def _row_from_record(rec: Any, count: EntryCount | None = None) -> MapRow:
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
        users=map_users((p.name or f"#{p.id}", p.access, p.why) for p in rec.progs),
        count=count,
    )


class KernelSource:
    """The running kernel, through :mod:`mapexplorer.kernel` and :mod:`mapexplorer.codec`.

    Blocking: call every method from a thread worker. Thread-safe: each call opens its own fds.
    """

    name = "kernel"

    def __init__(self, *, write: bool = False, prog_stats: bool = False) -> None:
        from mapexplorer.kernel import maps
        from mapexplorer.kernel.budget import Throttled
        from mapexplorer.kernel.health import Counter

        self._maps = maps
        self.write = write
        self.prog_stats = prog_stats
        """Keep run statistics on for the whole session (``--prog-stats``)."""
        self._programs: Any = None
        self.ncpus = maps.possible_cpu_count()
        self.ksyms = Kallsyms()
        self._stack_maps: dict[int, list[int]] = {}
        """Stream map id -> the stack_trace maps its programs use (for event stack ids)."""
        self.prog_names = NameCache(self._prog_name, NAME_TTL_S)
        self.map_names = NameCache(self._map_name, NAME_TTL_S)
        self.ifnames = NameCache(ifname, NAME_TTL_S)
        self._rows: dict[int, MapRow] = {}
        self._codecs: dict[tuple[int, int], tuple[Decoder, MapFacts]] = {}
        self._lock = threading.Lock()
        self._seq = 0
        self._inventory: Any = None
        self.name = f"kernel {os.uname().release}"
        self._counter = Counter()
        """Entry counts: one BPF iterator read per list, budgeted reads for the types it cannot count."""
        self._records: list[Any] = []
        self._quick_calls = 2
        """Quick listings still to make (the first rows, then every map's)."""
        self._infos: list[Any] = []
        self._made: dict[int, tuple[Any, EntryCount | None, MapRow]] = {}
        """Map id -> (record, count, row): the row made from them, reused while both stay the same."""
        self._listed: tuple[MapRow, ...] = ()
        """The rows of the last list, in order (the same tuple again when nothing changed)."""
        self._pos: dict[int, int] = {}
        self._made_from: list[Any] | None = None
        self._inner = Throttled(self._read_inner, min_interval=INNER_EVERY_S, cpu_share=INNER_CPU)

    # -- list ----------------------------------------------------------------------------------------

    def list_maps(self) -> ListSnapshot:
        """Every map with its owners, programs, pins and entry counts. Nothing reads every map: counts
        come from one BPF iterator read (which also lists every map's id); inner maps of maps-of-maps are
        re-read when their budget allows.

        The first calls are quick (no owner, pin or program walk, memlock unread: ``partial``) so that a
        UI shows rows at once: the first lists the :data:`FIRST_ROWS` lowest ids (``total`` says how many
        maps there are), the second every map; the third fills in what the quick ones left out. A map
        whose record and count did not change keeps the very same row object from one call to the next.
        """
        from mapexplorer.kernel import inventory

        if self._inventory is None:
            # keeps what does not change between refreshes; memlock and frozen (rarely changing) re-read for
            # 50 maps a call: at 20,000 maps a full round every 400 refreshes
            self._inventory = inventory.Inventory(reread_per_call=50)
        by_iter = self._counter.iterator_counts()
        ids = sorted(by_iter) if by_iter is not None else None
        quick, total = self._quick_calls > 0, None
        if quick:
            self._quick_calls -= 1
            if ids is None:
                ids = list(self._maps.map_ids())
            if self._quick_calls and len(ids) > FIRST_ROWS:
                ids, total = ids[:FIRST_ROWS], len(ids)  # the first screenfuls now, the rest next call
            else:
                self._quick_calls = 0
        records = self._inventory.collect(ids=ids, quick=quick)
        if records is not self._records:  # the same list: the same maps and facts as last call
            self._infos = [r.info for r in records]
        counts = self._counter.count(self._infos, by_iter=by_iter)
        self._records = records
        inner = {} if quick else self._inner.get()
        made = self._made
        redone = self._counter.redone
        changed: tuple[int, ...] | None = None
        base = self._listed
        if records is self._made_from and redone is not None:
            # the same maps and facts: only the maps whose count was redone can have another row
            changed = self._update_rows(redone, counts)
        else:
            self._made_from = records
            rows = []
            for rec in records:
                count = counts.get(rec.info.id)
                hit = made.get(rec.info.id)
                if hit is not None and hit[0] is rec and (hit[1] is count or hit[1] == count):
                    rows.append(hit[2])
                    continue
                row = _row_from_record(rec, count)
                made[rec.info.id] = (rec, count, row)
                rows.append(row)
            if len(made) > len(rows):
                alive = {r.id for r in rows}
                self._made = {k: v for k, v in made.items() if k in alive}
            prev = self._listed
            if len(prev) != len(rows) or not all(a is b for a, b in zip(prev, rows, strict=True)):
                self._listed = tuple(rows)
                self._pos = {r.id: i for i, r in enumerate(rows)}
                with self._lock:
                    self._rows = {r.id: r for r in rows}
        # nothing changed: the very same tuple as last time (the UI then has nothing to compare)
        return ListSnapshot(self._listed, time.time(), count_reason=self._counter.reason, inner=inner,
                            partial=quick, changed=changed, base=base if changed else None, total=total)

    def _update_rows(self, ids: list[int], counts: dict[int, EntryCount]) -> tuple[int, ...]:
        """Make again the rows of ``ids`` whose count changed (the other maps are as they were); the ids
        of the rows made again."""
        made, rows, remade = self._made, None, []
        for mid in ids:
            hit = made.get(mid)
            count = counts.get(mid)
            if hit is None or hit[1] is count or hit[1] == count:
                continue
            row = _row_from_record(hit[0], count)
            made[mid] = (hit[0], count, row)
            if rows is None:
                rows = list(self._listed)
            rows[self._pos[mid]] = row
            remade.append(mid)
            with self._lock:
                self._rows[mid] = row
        if rows is not None:
            self._listed = tuple(rows)
        return tuple(remade)

    def _read_inner(self) -> dict[int, tuple[int, ...]]:
        from mapexplorer.doctor import read_inner_maps

        return {k: tuple(v) for k, v in read_inner_maps(self._records).items()}

    def doctor(self) -> tuple[list[Any], int]:
        from mapexplorer import doctor

        facts = doctor.gather()
        return doctor.diagnose(facts), len(facts.records)

    def resolve(self, ref: str) -> int:
        return self._maps.find_map(ref)

    # -- entries -------------------------------------------------------------------------------------

    def _open(self, map_id: int) -> Any:
        try:
            return self._maps.Map.open(map_id)
        except FileNotFoundError:
            raise MapGone(f"map {map_id} is gone") from None

    def _row(self, info: Any, *, scan: bool = True) -> MapRow:
        """The map's row; its owners, programs and pins need a walk of every process's fds the first
        time (~1 s with 40,000 fds on the box): ``scan=False`` gives the bare row instead (not kept)."""
        with self._lock:
            known = self._rows.get(info.id)
        if known is not None and known.type_name == info.type_name and known.memlock >= 0:
            return known  # (a quick listing's row, memlock unread and no owners yet, is read again here)
        from mapexplorer.kernel import inventory

        if not scan:
            return _bare_row(info)

        try:
            rec = inventory.collect([info.id])
        except FileNotFoundError:
            raise MapGone(f"map {info.id} is gone") from None
        if rec:
            row = _row_from_record(rec[0])
            with self._lock:
                self._rows[row.id] = row
            return row
        return _bare_row(info)

    def _decoder(self, info: Any) -> tuple[Decoder, MapFacts]:
        """The map's decoder and facts (cached; the facts' row may be bare: :meth:`_facts` updates it)."""
        cache_key = (info.id, info.btf_id)
        with self._lock:
            hit = self._codecs.get(cache_key)
        if hit is not None:
            return hit
        row = self._row(info, scan=False)
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
                inner = friendly(codec)
            else:
                inner = RawDecoder(info.key_size, info.value_size, self.ncpus)
                if inner.value_int and not note:
                    note = f"no BTF: {info.value_size}-byte values read as little-endian unsigned integers"
            if codec is None:
                facts = MapFacts(row, self.ncpus, False, note=note)
            else:
                from mapexplorer.histread import hist_spec

                facts = MapFacts(row, self.ncpus, bool(codec.has_btf), codec.key_c, codec.value_c, note,
                                 hist=hist_spec(codec), hist_any=hist_spec(codec, guess=False))
        decoder = TypeAwareDecoder(inner, info.type_name)
        with self._lock:
            self._codecs[cache_key] = (decoder, facts)
        return decoder, facts

    def _facts(self, info: Any, *, scan: bool = True) -> tuple[Decoder, MapFacts]:
        """The decoder, and the facts with the latest owners/programs/pins (the list refresh updates them;
        ``scan=False``: without walking the processes when they are not known yet)."""
        decoder, facts = self._decoder(info)
        row = self._row(info, scan=scan)
        if row is not facts.row:
            facts = replace(facts, row=row)
        return decoder, facts

    def _prog_name(self, prog_id: int) -> str:
        from mapexplorer.kernel import progs

        try:
            return progs.prog_info_by_id(prog_id, with_maps=False).name or f"#{prog_id}"
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

    def _named(self, decoder: Decoder, type_name: str, values: bytes, stride: int) -> Decoder:
        """``decoder`` over the names its map type shows (program, inner map, interface names, kernel
        symbols), resolved here in the worker so that decoding on the UI thread makes no syscall."""
        if not isinstance(decoder, TypeAwareDecoder) or type_name not in NAMED_TYPES:
            return decoder
        if type_name == "stack_trace":
            return decoder.with_names(ResolvedNames(symbols=self.ksyms.table()))
        if stride < 4 or not values:
            return decoder
        ids = [int.from_bytes(values[o : o + 4], "little") for o in range(0, len(values) - 3, stride)]
        if type_name == "prog_array":
            names = ResolvedNames(progs=self.prog_names.lookup(ids))
        elif type_name in MAP_OF_MAPS_TYPES:
            names = ResolvedNames(maps=self.map_names.lookup(ids))
        else:  # devmap, devmap_hash
            names = ResolvedNames(ifnames=self.ifnames.lookup(ids))
        return decoder.with_names(names)

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
            decoder = self._named(decoder, t, values, stride)
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
            decoder = self._named(decoder, info.type_name, value, len(value))
            return MapSnapshot(
                facts, key, value, 1, info.key_size, len(value), time.time(), decoder, seq=self._next_seq()
            )

    def refresh_rows(self, snapshot: MapSnapshot, rows: list[int]) -> MapSnapshot:
        """The rows looked up again as patches over the snapshot's buffers (which are not copied: at 10M
        entries a copy per second was 160 MB of memcpy and most of the RSS swings)."""
        m = self._open(snapshot.map_id)
        with m:
            patched = dict(snapshot.patched) if len(snapshot.patched) < MAX_PATCHED else {}
            stride = snapshot.stride
            for i in rows:
                try:
                    value = m.lookup(snapshot.key_raw(i))
                except FileNotFoundError:
                    continue  # deleted since the last full read: the next full read drops it
                if len(value) == stride:
                    patched[i] = value
            t = snapshot.facts.row.type_name
            decoder = snapshot.decoder
            if t in NAMED_TYPES:
                decoder = self._named(decoder, t, snapshot.values + b"".join(patched.values()), stride)
            return replace(snapshot, patched=patched, decoder=decoder, taken_at=time.time(),
                           seq=self._next_seq())

    def entry_count(self, map_id: int, type_name: str) -> int | None:
        """The entries of a hash-family map as the kernel counts them (one BPF iterator read over every
        map, ~0.1 ms here); None for other types or when the iterator cannot be used."""
        from mapexplorer.fill import KERNEL_COUNTED
        from mapexplorer.kernel import counts

        if type_name not in KERNEL_COUNTED:
            return None
        try:
            return counts.entry_counts().get(map_id)
        except OSError:  # CountsUnavailable, PermissionError
            return None

    def open_pass(self, map_id: int) -> MapPass | None:
        """A read of every entry of a listable map, to be done a slice at a time (None for a map that
        is peeked or cannot be listed: read those with :meth:`read_map`)."""
        m = self._open(map_id)
        info = m.info
        if info.type_name in PEEK_TYPES or info.type_name in WHY_NOT_LISTED:
            m.close()
            return None
        try:
            decoder, facts = self._facts(info, scan=False)  # the first rows do not wait for the owners
        except BaseException:
            m.close()
            raise
        return MapPass(self, m, facts, decoder)

    # -- writes (only with --write) ----------------------------------------------------------------------

    def _writer(self) -> Any:
        if not self.write:
            raise WriteError("read-only: start mapexplorer with --write to change maps")
        from mapexplorer import edit

        return edit

    def edit_form(self, map_id: int, op: str, key: bytes | None, cpu: int | None) -> EditForm:
        edit = self._writer()
        try:
            return edit.open_form(map_id, op, key, cpu)
        except ValueError as exc:  # EncodeError / BtfError: the map's BTF cannot describe a form
            raise WriteError(str(exc)) from None

    def plan_write(self, request: WriteRequest) -> WritePlan:
        edit = self._writer()
        try:
            return edit.plan_request(request)
        except ValueError as exc:  # EncodeError: names the field
            raise WriteError(str(exc)) from None

    def apply_write(self, plan: WritePlan) -> WriteResult:
        edit = self._writer()
        try:
            return edit.apply_plan(plan)
        except ValueError as exc:
            raise WriteError(str(exc)) from None

    def stream_factory(self, map_id: int) -> Callable[[], Any] | None:
        try:
            from mapexplorer.streams import open_stream
        except ImportError:
            return None

        def factory() -> Any:
            return open_stream(map_id, ask=True)  # perf: the event view asks before installing

        return factory

    def stack_frames(self, map_id: int, stack_id: int, user: bool,
                     pid: int | None = None) -> ResolvedStack | None:
        """Frames of ``stack_id`` in the stack_trace map that the programs using ``map_id`` also use (how
        an event's ``*stack_id`` field is followed); None when no such map holds that id. User addresses
        are resolved through ``pid``'s /proc/PID/maps when the event named its process and it still
        exists (as ``dump`` does for stack maps)."""
        from mapexplorer.kernel import progs

        with self._lock:
            stacks = self._stack_maps.get(map_id)
        if stacks is None:
            stacks = []
            for p in progs.progs_by_map(progs.all_progs()).get(map_id, []):
                for mid in p.map_ids:
                    try:
                        if mid not in stacks and self._maps.map_info_by_id(mid).type_name == "stack_trace":
                            stacks.append(mid)
                    except OSError:
                        continue
            with self._lock:
                self._stack_maps[map_id] = stacks
        for mid in stacks:
            try:
                with self._open(mid) as m:
                    raw = m.lookup(stack_id.to_bytes(4, "little"))
            except (OSError, MapGone):
                continue
            addrs = [a for (a,) in struct.iter_unpack("<Q", raw[: len(raw) // 8 * 8]) if a]
            pmaps = None
            if pid is not None and pid > 0 and any(a < KERNEL_SPACE for a in addrs):
                pmaps = process_maps(pid)
            frames = tuple(frame_text(a, self.ksyms, pmaps) for a in addrs)
            return ResolvedStack(frames, pid, pmaps is not None)
        return None

    # -- programs ------------------------------------------------------------------------------------

    def _progs(self) -> Any:
        with self._lock:
            if self._programs is None:
                from mapexplorer.prog_source import KernelPrograms

                self._programs = KernelPrograms(always_stats=self.prog_stats)
            return self._programs

    def list_programs(self) -> ProgListSnapshot:
        return self._progs().list_programs()

    def set_prog_stats(self, on: bool) -> None:
        self._progs().set_stats(on)

    def close(self) -> None:
        with self._lock:
            self._codecs.clear()
            programs, self._programs = self._programs, None
        if programs is not None:
            programs.close()
