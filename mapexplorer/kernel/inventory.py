"""The whole picture of one or every map: kernel info plus owner processes, pin paths and the programs
using it. This is what ``mapexplorer list`` / ``show`` print and what the UI's map list shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from mapexplorer.kernel import maps, owners, programs, progs
from mapexplorer.kernel.budget import Throttled


@dataclass(frozen=True, slots=True)
class ProgRef:
    """A program using a map: its id, full name (BTF func_info when the kernel's is cut) and type."""

    id: int
    name: str
    type: str
    access: str = ""
    """How the program uses the map: ``r``, ``w``, ``rw``, ``w?`` (probable write) or ``?`` (unknown)."""
    why: str = ""
    """Why the access is unknown, when the kernel hides the program's instructions."""


@dataclass(frozen=True, slots=True)
class MapRecord:
    """One map with everything known about it."""

    info: maps.MapInfo
    pinned: tuple[str, ...] = ()
    owners: tuple[owners.Owner, ...] = ()
    progs: tuple[ProgRef, ...] = field(default_factory=tuple)

    def to_json(self) -> dict:
        """The object ``mapexplorer list --json`` prints (see DESIGN.md)."""
        i = self.info
        return {
            "id": i.id,
            "name": i.name,
            "type": i.type_name,
            "key_size": i.key_size,
            "value_size": i.value_size,
            "max_entries": i.max_entries,
            "flags": i.flags,
            "btf_id": i.btf_id,
            "btf_key_type_id": i.btf_key_type_id,
            "btf_value_type_id": i.btf_value_type_id,
            "btf_vmlinux_value_type_id": i.btf_vmlinux_value_type_id,
            "map_extra": i.map_extra,
            "ifindex": i.ifindex,
            "memlock": i.memlock,
            "frozen": i.frozen,
            "pinned": list(self.pinned),
            "pids": [{"pid": o.pid, "comm": o.comm} for o in self.owners],
            "progs": [p.id for p in self.progs],
            "prog_names": [p.name for p in self.progs],
            "programs": [
                {"id": p.id, "name": p.name, "type": p.type, "access": p.access} for p in self.progs
            ],
        }


def _ref(p: progs.ProgInfo, map_id: int, st: programs.ProgStatic | None) -> ProgRef:
    if st is None:
        return ProgRef(p.id, p.name, p.type_name, "?", "the program went away while we looked")
    a = st.maps.access(map_id)
    return ProgRef(p.id, st.name, p.type_name, a.mode if a is not None else "?", st.maps.hidden)


def _infos(ids: list[int] | None, facts: dict[int, tuple[int, int]]) -> list[maps.MapInfo]:
    if ids is None:
        return list(maps.map_infos(maps.map_ids(), facts))  # a map freed meanwhile is left out
    return list(maps.map_infos(ids, facts, missing_ok=False))


def collect(ids: list[int] | None = None, *,
            owner_map: dict[int, list[owners.Owner]] | None = None) -> list[MapRecord]:
    """Records for the given map ids (every map when None), ordered by id.

    ``owner_map`` (map id -> holders, from :func:`owners.map_owners`) replaces the walk of every
    process's fds, for a caller that refreshes it on its own schedule.

    Raises:
        FileNotFoundError: one of the explicitly requested ids does not exist.
    """
    facts: dict[int, tuple[int, int]] = {}
    if owner_map is None:
        scanner = owners.OwnerScanner()
        owner_map = scanner.scan()
        facts = scanner.fdinfo_facts  # read just now from the holders' fds: no second fdinfo read
    infos = _infos(ids, facts)
    all_progs = progs.all_progs()
    by_map = progs.progs_by_map(all_progs)
    wanted = {i.id for i in infos}
    used = [p for p in all_progs if not wanted.isdisjoint(p.map_ids)]
    statics = programs.default_catalog().statics(used)
    pin_map = owners.map_pins()
    return [
        MapRecord(
            info=i,
            pinned=tuple(pin_map.get(i.id, ())),
            owners=tuple(owner_map.get(i.id, ())),
            progs=tuple(_ref(p, i.id, statics.get(p.id)) for p in by_map.get(i.id, ())),
        )
        for i in sorted(infos, key=lambda x: x.id)
    ]


UNREAD = -1
"""``MapInfo.memlock`` of a map listed by a quick first call (:meth:`Inventory.collect`): not read yet."""


class Inventory:
    """:func:`collect` for a caller that asks again and again (the map list, every second): what does not
    change is kept between calls.

    A map's info (type, sizes, name, flags, BTF ids) never changes; its memlock and frozen flag rarely do,
    so each call re-reads at most ``reread_per_call`` known maps' info (round robin) besides the maps that
    appeared. Owners come from an :class:`~mapexplorer.kernel.owners.OwnerScanner` (only new fds are
    read), walked at most every ``owners_every`` s and within ``owners_cpu_share`` of a core; programs'
    map lists are read once per program (they are fixed at load); pins are walked at most every
    ``pins_every`` calls. A call with nothing new costs one GET_NEXT_ID walk of the map and program ids
    (none when the caller passes the ids, from the counting iterator) and a few re-reads, and returns the
    very same :class:`MapRecord` objects for the maps that did not change (the caller can compare by
    identity).

    Blocking: call from one worker thread at a time.
    """

    def __init__(self, *, reread_per_call: int = 200, pins_every: int = 5, owners_every: float = 2.0,
                 owners_cpu_share: float = 0.01) -> None:
        self.reread_per_call = reread_per_call
        self.pins_every = pins_every
        self._infos: dict[int, maps.MapInfo] = {}
        self._progs: dict[int, progs.ProgInfo] = {}
        self._scanner = owners.OwnerScanner()
        # The owner walk lists every process's fds (tens of ms on a busy box): at most every
        # ``owners_every`` s and within ``owners_cpu_share`` of a core; between walks the last answer.
        self._owners = Throttled(self._scanner.scan, min_interval=owners_every, cpu_share=owners_cpu_share)
        self._pins: dict[int, list[str]] = {}
        self._calls = 0
        self._cursor = 0
        self._records: dict[int, MapRecord] = {}
        self._inputs: tuple[Any, ...] = ()
        """(owner map, pins, programs) of the last call: what a map's record was made from."""
        self._prog_maps: set[int] = set()
        self._ids: list[int] = []
        self._infos_moved = True
        self._list: list[MapRecord] | None = None
        self._unread: set[int] = set()
        """Maps listed by a quick call: their memlock and frozen flag are still to be read."""

    def _refresh_infos(self, ids: list[int] | None, quick: bool) -> list[int]:
        """Bring the infos up to date (an info that did not change stays the same object); the ids alive,
        ascending."""
        ids = list(maps.map_ids()) if ids is None else ids
        infos = self._infos
        self._infos_moved = False
        if ids == self._ids:  # the same maps as last time
            new, known = [], ids
        else:
            self._infos_moved = True
            if len(infos) != len(ids) or not all(i in infos for i in ids):
                infos = {mid: infos[mid] for mid in ids if mid in infos}
            new = [mid for mid in ids if mid not in infos]
            known = [mid for mid in ids if mid in infos]
        facts = self._scanner.fdinfo_facts
        again: list[int] = []
        if known and self.reread_per_call and not quick:
            start = self._cursor % len(known)
            again = (known[start:] + known[:start])[: self.reread_per_call]
            self._cursor = start + len(again)
        if not quick:
            for mid in self._unread:  # listed quickly: memlock and frozen from the owner walk, else read
                got = facts.get(mid)
                if mid not in infos:
                    continue
                if got is None:
                    again.append(mid)
                else:
                    infos[mid] = replace(infos[mid], memlock=got[0], frozen=bool(got[1]))
                    self._infos_moved = True
            self._unread = set()
        wanted = new + again
        if quick:
            facts = dict.fromkeys(wanted, (UNREAD, 0))  # no fdinfo read: memlock comes with the next call
        read = {i.id: i for i in maps.map_infos(wanted, facts)}
        for mid in wanted:
            info = read.get(mid)
            if info is None:
                infos.pop(mid, None)  # freed since the id walk
                self._infos_moved = True
                continue
            if infos.get(mid) != info:  # keep the same object when nothing changed
                infos[mid] = info
                self._infos_moved = True
            if quick:
                self._unread.add(mid)
        self._infos = infos
        alive = ids if len(infos) == len(ids) else [mid for mid in ids if mid in infos]
        self._ids = alive
        return alive

    def _refresh_progs(self) -> list[progs.ProgInfo]:
        alive: dict[int, progs.ProgInfo] = {}
        for pid in progs.prog_ids():
            info = self._progs.get(pid)
            if info is None:
                try:
                    info = progs.prog_info_by_id(pid)
                except FileNotFoundError:
                    continue
            alive[pid] = info
        self._progs = alive
        return list(alive.values())

    def collect(self, *, ids: list[int] | None = None, quick: bool = False) -> list[MapRecord]:
        """Every map's record, ordered by id (like :func:`collect` with no ids).

        Args:
            ids: the id of every map alive, ascending (the counting iterator lists them in one read): no
                GET_NEXT_ID walk.
            quick: a first listing for a UI in a hurry: no owner walk, pin walk or program lookup, and no
                fdinfo read (memlock is :data:`UNREAD`): 20,000 maps in well under a second. The next call
                fills all of it in.
        """
        prev_owners, prev_pins, prev_progs = self._inputs or ({}, {}, ())
        owner_map = {} if quick else self._owners.get()
        alive = self._refresh_infos(ids, quick)
        if quick:
            all_progs: list[progs.ProgInfo] = []
            statics: dict[int, programs.ProgStatic] = {}
        else:
            all_progs = self._refresh_progs()
            used = [p for p in all_progs if p.map_ids]
            statics = programs.default_catalog().statics(used)  # full names and map accesses, cached
            if self._calls % self.pins_every == 0:
                pins = owners.map_pins()
                if pins != self._pins:  # (a small dict: pinned maps only) else keep the object
                    self._pins = pins
            self._calls += 1
        by_map = progs.progs_by_map(all_progs)
        progs_now = (tuple(self._progs), tuple(statics.get(p.id) for p in all_progs))
        self._inputs = (owner_map, self._pins, progs_now)
        # What can have changed, per map: its owners (a new walk), its pins (a new pin walk), its programs
        # (programs came or went: only the maps they use, then and now).
        owners_moved = owner_map is not prev_owners
        pins = self._pins
        pins_moved = pins is not prev_pins
        touched: set[int] = set()
        if progs_now != prev_progs:
            touched = set(by_map) | self._prog_maps
        self._prog_maps = set(by_map)
        if not (self._infos_moved or owners_moved or pins_moved or touched) and self._list is not None:
            return self._list  # nothing changed: the very same list

        def refs(map_id: int) -> tuple[ProgRef, ...]:
            return tuple(_ref(p, map_id, statics.get(p.id)) for p in by_map.get(map_id, ()))

        old, infos = self._records, self._infos
        records: dict[int, MapRecord] = {}
        for mid in alive:
            info = infos[mid]
            rec = old.get(mid)
            if (rec is None or rec.info is not info or mid in touched
                    or (owners_moved and owner_map.get(mid) != prev_owners.get(mid))
                    or (pins_moved and pins.get(mid) != prev_pins.get(mid))):
                made = MapRecord(
                    info=info,
                    pinned=tuple(pins.get(mid, ())),
                    owners=tuple(owner_map.get(mid, ())),
                    progs=refs(mid),
                )
                if rec is None or made != rec:
                    rec = made  # else the same record object as before: nothing changed after all
            records[mid] = rec
        self._records = records
        self._list = list(records.values())
        return self._list
