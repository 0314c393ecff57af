"""The whole picture of one or every map: kernel info plus owner processes, pin paths and the programs
using it. This is what ``mapexplorer list`` / ``show`` print and what the UI's map list shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


class Inventory:
    """:func:`collect` for a caller that asks again and again (the map list, every second): what does not
    change is kept between calls.

    A map's info (type, sizes, name, flags, BTF ids) never changes; its memlock and frozen flag rarely do,
    so each call re-reads at most ``reread_per_call`` known maps' info (round robin) besides the maps that
    appeared. Owners come from an :class:`~mapexplorer.kernel.owners.OwnerScanner` (only new fds are
    read), walked at most every ``owners_every`` s and within ``owners_cpu_share`` of a core; programs'
    map lists are read once per program (they are fixed at load); pins are walked at most every
    ``pins_every`` calls. A call with nothing new costs one GET_NEXT_ID walk of the map and program ids
    and a few re-reads.

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

    def _refresh_infos(self) -> None:
        ids = list(maps.map_ids())
        alive = set(ids)
        infos = {mid: info for mid, info in self._infos.items() if mid in alive}
        facts = self._scanner.fdinfo_facts
        new = [mid for mid in ids if mid not in infos]
        known = [mid for mid in ids if mid in infos]
        if known and self.reread_per_call:
            start = self._cursor % len(known)
            again = (known[start:] + known[:start])[: self.reread_per_call]
            self._cursor = start + len(again)
        else:
            again = []
        wanted = new + again
        got = {i.id: i for i in maps.map_infos(wanted, facts)}
        for mid in wanted:
            if mid in got:
                infos[mid] = got[mid]
            else:
                infos.pop(mid, None)  # freed since the id walk
        self._infos = infos

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

    def collect(self) -> list[MapRecord]:
        """Every map's record, ordered by id (like :func:`collect` with no ids)."""
        owner_map = self._owners.get()
        self._refresh_infos()
        all_progs = self._refresh_progs()
        by_map = progs.progs_by_map(all_progs)
        used = [p for p in all_progs if p.map_ids]
        statics = programs.default_catalog().statics(used)  # full names and map accesses, cached
        if self._calls % self.pins_every == 0:
            self._pins = owners.map_pins()
        self._calls += 1

        def refs(map_id: int) -> tuple[ProgRef, ...]:
            return tuple(_ref(p, map_id, statics.get(p.id)) for p in by_map.get(map_id, ()))

        return [
            MapRecord(
                info=i,
                pinned=tuple(self._pins.get(i.id, ())),
                owners=tuple(owner_map.get(i.id, ())),
                progs=refs(i.id),
            )
            for i in sorted(self._infos.values(), key=lambda x: x.id)
        ]
