"""The whole picture of one or every map: kernel info plus owner processes, pin paths and the programs
using it. This is what ``mapexplorer list`` / ``show`` print and what the UI's map list shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mapexplorer.kernel import maps, owners, programs, progs


@dataclass(frozen=True, slots=True)
class ProgRef:
    """A program using a map: its id, full name (BTF func_info when the kernel's is cut) and type."""

    id: int
    name: str
    type: str


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
            "programs": [{"id": p.id, "name": p.name, "type": p.type} for p in self.progs],
        }


def _infos(ids: list[int] | None, facts: dict[int, tuple[int, int]]) -> list[maps.MapInfo]:
    out = []
    for mid in maps.map_ids() if ids is None else ids:
        try:
            out.append(maps.map_info_by_id(mid, facts.get(mid)))
        except FileNotFoundError:
            if ids is not None:
                raise
            continue  # freed between GET_NEXT_ID and GET_FD_BY_ID
    return out


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
    names = programs.default_catalog().full_names(used)
    pin_map = owners.map_pins()
    return [
        MapRecord(
            info=i,
            pinned=tuple(pin_map.get(i.id, ())),
            owners=tuple(owner_map.get(i.id, ())),
            progs=tuple(ProgRef(p.id, names.get(p.id, p.name), p.type_name) for p in by_map.get(i.id, ())),
        )
        for i in sorted(infos, key=lambda x: x.id)
    ]
