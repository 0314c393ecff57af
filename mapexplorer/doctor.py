"""``mapexplorer doctor``: findings about the health of every map, each with a severity, the map(s), and
one sentence of why and what to do.

:func:`gather` reads the kernel (inventory, entry counts, inner maps of maps-of-maps, perf_event_array
slots, two samples of every small per-CPU array); :func:`diagnose` is pure and turns those facts into
:class:`Finding` s. No Textual here: the CLI and the TUI's findings screen share both.

Exit status (see :func:`exit_status`): 0 no findings, 3 warnings only, 4 at least one error.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mapexplorer.fill import INDEXED_TYPES
from mapexplorer.kernel import health, inventory, maps, perf
from mapexplorer.kernel.health import EntryCount
from mapexplorer.kernel.inventory import MapRecord, ProgRef
from mapexplorer.kernel.owners import Owner

ERROR = "error"
WARNING = "warning"
EXIT_OK, EXIT_WARNINGS, EXIT_ERRORS = 0, 3, 4

NEARLY_FULL = 0.90
RING_BACKLOG = 0.50
# What happens to a map of this type once it is full.
WHEN_FULL = {
    "lpm_trie": "inserts fail with ENOSPC",
    "stack_trace": "new stacks whose bucket is taken are dropped (EEXIST) unless BPF_F_REUSE_STACKID",
}
WHEN_FULL_DEFAULT = "inserts fail with E2BIG"
# Per-CPU arrays are sampled twice when their values take at most this many bytes.
PERCPU_SAMPLE_MAX = 1 << 20


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: ``kind`` is a stable identifier (``full``, ``duplicate-name``...)."""

    severity: str
    kind: str
    map_ids: tuple[int, ...]
    message: str

    def to_json(self) -> dict:
        return {"severity": self.severity, "kind": self.kind, "maps": list(self.map_ids),
                "message": self.message}


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything :func:`diagnose` looks at, read at one moment."""

    records: tuple[MapRecord, ...]
    counts: Mapping[int, EntryCount]
    inner: Mapping[int, Sequence[int]] = field(default_factory=dict)  # outer id -> inner ids
    perf_slots: Mapping[int, Mapping[int, bool]] = field(default_factory=dict)  # map id -> cpu -> occupied
    percpu_idle: Mapping[int, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)
    """per-CPU array id -> (CPUs whose values moved, online CPUs whose values stayed all zero)"""
    iterator_reason: str | None = None


def exit_status(findings: Sequence[Finding]) -> int:
    if any(f.severity == ERROR for f in findings):
        return EXIT_ERRORS
    return EXIT_WARNINGS if findings else EXIT_OK


def _label(r: MapRecord) -> str:
    return f"map {r.info.id} ({r.info.type_name} {r.info.name or '<no name>'})"


def _users(r: MapRecord) -> str:
    """Who uses a map, in a few words: programs, processes, pins."""
    parts = []
    if r.progs:
        parts.append("used by " + ", ".join(
            f"prog {p.id} {p.name}".rstrip() if p.id else f"prog {p.name}" for p in r.progs))
    else:
        parts.append("used by no program")
    if r.owners:
        parts.append("held by " + ", ".join(f"{o.comm}[{o.pid}]" for o in r.owners))
    if r.pinned:
        parts.append("pinned at " + ", ".join(r.pinned))
    return "; ".join(parts)


def _fill_findings(r: MapRecord, c: EntryCount | None) -> list[Finding]:
    t = r.info.type_name
    if c is None or c.fill is None or t in INDEXED_TYPES:
        return []
    pct = f"{'~' if c.approx else ''}{c.fill * 100:.0f} %"
    ids = (r.info.id,)
    if t in health.RING_TYPES:
        if c.fill > RING_BACKLOG:
            return [Finding(WARNING, "ringbuf-backlog", ids,
                            f"{_label(r)}: backlog at {pct} of the ring: the consumer is falling behind and "
                            "records are dropped once it is full; consume faster or enlarge the ring.")]
        return []
    if c.entries is None:
        return []
    if t in health.LRU_TYPES and c.fill >= NEARLY_FULL:
        return [Finding(WARNING, "lru-evicting", ids,
                        f"{_label(r)}: {c.entries} of {r.info.max_entries} entries ({pct}): an LRU map "
                        "evicts its least recently used entries instead of failing; raise max_entries if "
                        "those entries matter.")]
    if c.fill >= 1.0 and t in health.FAILS_WHEN_FULL:
        return [Finding(ERROR, "full", ids,
                        f"{_label(r)}: full, {c.entries} of {r.info.max_entries} entries: new keys "
                        f"{WHEN_FULL.get(t, WHEN_FULL_DEFAULT).removeprefix('inserts ')}; raise "
                        "max_entries or delete stale entries.")]
    if c.fill >= NEARLY_FULL:
        return [Finding(WARNING, "nearly-full", ids,
                        f"{_label(r)}: {c.entries} of {r.info.max_entries} entries ({pct}); "
                        f"{'now that it is' if c.fill >= 1.0 else 'when it is'} full, "
                        f"{WHEN_FULL.get(t, WHEN_FULL_DEFAULT)}: raise max_entries or delete stale entries.")]
    return []


def _duplicates(records: Sequence[MapRecord]) -> list[Finding]:
    by_name: dict[str, list[MapRecord]] = {}
    for r in records:
        if r.info.name:
            by_name.setdefault(r.info.name, []).append(r)
    out = []
    for name, rs in sorted(by_name.items()):
        if len(rs) < 2:
            continue
        ids = tuple(r.info.id for r in rs)
        each = " | ".join(f"id {r.info.id}: {_users(r)}" for r in rs)
        stale = [r for r in rs if r.pinned and not r.progs]
        hint = (f"the pinned one{'s' if len(stale) > 1 else ''} no program uses "
                f"({', '.join(str(r.info.id) for r in stale)}) is likely stale"
                if stale and len(stale) < len(rs) else "check which one your tools open by name")
        out.append(Finding(WARNING, "duplicate-name", ids,
                           f"{len(rs)} live maps are named {name!r} ({each}): {hint}."))
    return out


def _orphans(records: Sequence[MapRecord], inner_ids: set[int]) -> list[Finding]:
    out = []
    for r in records:
        if r.progs or r.owners or r.info.id in inner_ids or r.info.type_name == "struct_ops":
            continue
        if r.pinned:
            out.append(Finding(WARNING, "orphan-pin", (r.info.id,),
                               f"{_label(r)} is pinned at {', '.join(r.pinned)} but no program uses it and "
                               "no process holds it: if nothing will reopen it, remove the pin "
                               f"(rm {r.pinned[0]}) to free {r.info.memlock} bytes."))
        else:
            out.append(Finding(WARNING, "unheld", (r.info.id,),
                               f"{_label(r)} is used by no program and held by no process (its owner "
                               "exited): something invisible keeps it alive (a link, an fd in flight); "
                               "find what still references it or it leaks until reboot."))
    return out


def _perf(records: Sequence[MapRecord], slots: Mapping[int, Mapping[int, bool]]) -> list[Finding]:
    out = []
    for r in records:
        states = slots.get(r.info.id)
        if not states:
            continue
        missing = sorted(c for c, occupied in states.items() if not occupied)
        if not missing or (len(missing) == len(states) and not r.progs):
            continue  # every ring installed, or an unused array nobody reads
        cpus = ",".join(map(str, missing))
        out.append(Finding(WARNING, "perf-rings-missing", (r.info.id,),
                           f"{_label(r)}: no perf ring installed on CPU {cpus}: events submitted on "
                           f"{'those CPUs' if len(missing) > 1 else 'that CPU'} are lost; the reader "
                           "should open a ring on every CPU."))
    return out


def _percpu(records: Sequence[MapRecord], idle: Mapping[int, tuple[tuple[int, ...], tuple[int, ...]]]
            ) -> list[Finding]:
    out = []
    for r in records:
        moved, zero = idle.get(r.info.id, ((), ()))
        if moved and zero:
            out.append(Finding(WARNING, "percpu-idle-cpus", (r.info.id,),
                               f"{_label(r)}: values move on CPU {','.join(map(str, moved))} but stay zero "
                               f"on CPU {','.join(map(str, zero))}: the program likely runs pinned to some "
                               "CPUs (IRQ or task affinity); check that this is intended."))
    return out


def diagnose(facts: Facts) -> list[Finding]:
    """Every finding, errors first, then by map id."""
    records = facts.records
    inner_ids = {i for ids in facts.inner.values() for i in ids}
    out: list[Finding] = []
    for r in records:
        out.extend(_fill_findings(r, facts.counts.get(r.info.id)))
    out.extend(_duplicates(records))
    out.extend(_orphans(records, inner_ids))
    out.extend(_perf(records, facts.perf_slots))
    out.extend(_percpu(records, facts.percpu_idle))
    out.sort(key=lambda f: (f.severity != ERROR, f.map_ids, f.kind))
    return out


def facts_from_rows(rows: Sequence[Any]) -> Facts:
    """Facts from map-list rows (:class:`mapexplorer.model.MapRow`: owners as ``comm[pid]``, programs by
    name), for a recorded source: no inner maps, perf slots or per-CPU samples."""
    records = []
    counts: dict[int, EntryCount] = {}
    for r in rows:
        info = maps.MapInfo(
            id=r.id, type=0, type_name=r.type_name, name=r.name, key_size=r.key_size,
            value_size=r.value_size, max_entries=r.max_entries, flags=r.flags, btf_id=r.btf_id,
            btf_key_type_id=0, btf_value_type_id=0, btf_vmlinux_value_type_id=0, map_extra=0, ifindex=0,
            memlock=r.memlock, frozen=r.frozen,
        )
        holders = []
        for o in r.owners:
            comm, _, pid = o.rpartition("[")
            holders.append(Owner(int(pid.rstrip("]") or 0) if pid.rstrip("]").isdigit() else 0, comm or o))
        progs = tuple(ProgRef(0, name, "") for name in r.progs)
        records.append(MapRecord(info=info, pinned=tuple(r.pinned), owners=tuple(holders), progs=progs))
        if r.count is not None:
            counts[r.id] = r.count
    return Facts(tuple(records), counts)


# -- reading the facts ---------------------------------------------------------------------------


def read_inner_maps(records: Sequence[MapRecord]) -> dict[int, list[int]]:
    """Outer map id -> inner map ids, for every array_of_maps / hash_of_maps."""
    out: dict[int, list[int]] = {}
    for r in records:
        if r.info.type_name in health.MAP_OF_MAPS:
            try:
                out[r.info.id] = health.inner_map_ids(r.info.id)
            except OSError:
                continue  # gone, or not readable: no inner maps known
    return out


def _percpu_sample(map_id: int) -> tuple[maps.MapInfo, bytes] | None:
    try:
        with maps.Map.open(map_id) as m:
            if m.info.max_entries * m.info.value_stride > PERCPU_SAMPLE_MAX:
                return None
            return m.info, b"".join(c.values for c in m.read_chunks())
    except OSError:
        return None


def percpu_activity(value_size: int, ncpus: int, a: bytes, b: bytes,
                    online: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(CPUs whose values changed between two reads ``a`` and ``b`` of a per-CPU array, online CPUs whose
    values are all zero in both). Each entry's value is ``ncpus`` slots of round_up8(value_size) bytes."""
    slot = maps.round_up8(value_size)
    stride = slot * ncpus
    n = min(len(a), len(b)) // stride if stride else 0
    moved, zero = [], []
    for cpu in online:
        lo = cpu * slot
        cells_a = [a[e * stride + lo : e * stride + lo + slot] for e in range(n)]
        cells_b = [b[e * stride + lo : e * stride + lo + slot] for e in range(n)]
        if cells_a != cells_b:
            moved.append(cpu)
        elif not any(any(c) for c in cells_a):
            zero.append(cpu)
    return tuple(moved), tuple(zero)


def gather(sample_s: float = 1.0, counter: health.Counter | None = None) -> Facts:
    """Read every fact :func:`diagnose` needs. ``sample_s`` is the gap between the two reads of each
    per-CPU array (0: skip that check). Raises PermissionError when not root."""
    records = tuple(inventory.collect())
    counter = counter or health.Counter(read_budget_s=2.0)
    counts = counter.count([r.info for r in records])
    inner = read_inner_maps(records)
    slots: dict[int, dict[int, bool]] = {}
    for r in records:
        if r.info.type_name == "perf_event_array":
            try:
                slots[r.info.id] = perf.slot_states(r.info.id)
            except OSError:
                continue
    idle: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {}
    if sample_s > 0:
        first = {r.info.id: s for r in records if r.info.type_name == "percpu_array"
                 and (s := _percpu_sample(r.info.id)) is not None}
        if first:
            time.sleep(sample_s)
            online = perf.online_cpus()
            ncpus = maps.possible_cpu_count()
            for mid, (info, before) in first.items():
                again = _percpu_sample(mid)
                if again is not None:
                    idle[mid] = percpu_activity(info.value_size, ncpus, before, again[1], online)
    return Facts(records, counts, inner, slots, idle, counter.reason)
