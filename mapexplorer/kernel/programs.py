"""Every program with everything known about it: full name, info, memlock, attach points, owner processes
and which maps it reads and writes. This is what ``mapexplorer progs`` prints, what the programs screen
shows and where a map's writers and readers come from.

A :class:`ProgCatalog` caches what never changes for a loaded program (full name, memlock, the read/write
analysis of its instructions: keyed by id, tag and load time) and refreshes what rarely changes (owners and
attach points: a walk of every process's fds, link info, netlink) at most every ``slow_every`` seconds, so
that a refresh costs a few syscalls per program. Blocking: call from worker threads only.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

from mapexplorer.kernel import kallsyms, links, owners, prog_maps, progs


@dataclass(frozen=True, slots=True)
class ProgRecord:
    """One program."""

    info: progs.ProgInfo
    name: str
    """The full name (BTF func_info when the kernel's 15 characters are cut)."""
    memlock: int = 0
    attach: tuple[str, ...] = ()
    owners: tuple[owners.Owner, ...] = ()
    maps: prog_maps.ProgMaps = field(default_factory=lambda: prog_maps.ProgMaps(0, ()))

    @property
    def id(self) -> int:
        return self.info.id

    @property
    def type_name(self) -> str:
        return self.info.type_name

    def ref(self) -> dict:
        """``{id, name, type}``: how other objects (maps) name this program in JSON."""
        return {"id": self.info.id, "name": self.name, "type": self.info.type_name}

    def to_json(self) -> dict:
        """The object ``mapexplorer progs --json`` prints for this program."""
        i = self.info
        return {
            "id": i.id,
            "name": self.name,
            "kernel_name": i.name,
            "type": i.type_name,
            "tag": i.tag,
            "loaded_at": round(i.loaded_at(), 3),
            "uid": i.created_by_uid,
            "btf_id": i.btf_id,
            "verified_insns": i.verified_insns,
            "xlated_size": i.xlated_len,
            "jited_size": i.jited_len,
            "memlock": self.memlock,
            "run_cnt": i.run_cnt,
            "run_time_ns": i.run_time_ns,
            "attach": list(self.attach),
            "pids": [{"pid": o.pid, "comm": o.comm} for o in self.owners],
            "maps": [
                {
                    "id": a.map_id,
                    "access": a.mode,
                    "read": a.read,
                    "write": a.write,
                    "probable_write": a.probable_write,
                }
                for a in self.maps.maps
            ],
            "maps_hidden": self.maps.hidden or None,
        }


@dataclass(frozen=True, slots=True)
class ProgStatic:
    """What never changes for a loaded program: full name, memlock, map accesses."""

    name: str
    memlock: int
    maps: prog_maps.ProgMaps


@dataclass(frozen=True, slots=True)
class SlowFacts:
    """Owners and attach points of every program (one walk of /proc, link info, netlink)."""

    owners: dict[int, list[owners.Owner]]
    attach: dict[int, tuple[str, ...]]
    taken_at: float


@dataclass(frozen=True, slots=True)
class MapUsers:
    """The programs that write and read one map."""

    writers: tuple[tuple[ProgRecord, prog_maps.MapAccess], ...] = ()
    readers: tuple[tuple[ProgRecord, prog_maps.MapAccess], ...] = ()
    unknown: tuple[tuple[ProgRecord, str], ...] = ()
    """Programs using the map whose access could not be told, with the reason."""

    def to_json(self) -> dict:
        def one(r: ProgRecord, a: prog_maps.MapAccess) -> dict:
            return {**r.ref(), "access": a.mode, "probable": not a.write and a.probable_write}

        return {
            "writers": [one(r, a) for r, a in self.writers],
            "readers": [one(r, a) for r, a in self.readers],
            "access_unknown": [{**r.ref(), "why": why} for r, why in self.unknown],
        }


class ProgCatalog:
    """Programs with cached static facts; see the module docstring."""

    def __init__(self, *, slow_every: float = 5.0) -> None:
        self.slow_every = slow_every
        self._static: dict[tuple[int, int, str], ProgStatic] = {}
        self._slow: SlowFacts | None = None
        self._lock = threading.Lock()
        self._slow_lock = threading.Lock()

    # -- what never changes for a loaded program ------------------------------------------------------

    def _static_of(self, fd: int, info: progs.ProgInfo) -> ProgStatic:
        key = (info.id, info.load_time_ns, info.tag)
        with self._lock:
            hit = self._static.get(key)
        if hit is not None:
            return hit
        name = progs.full_name(fd, info)
        memlock = progs.prog_memlock(fd)
        try:
            x = progs.xlated_insns(fd, info)
        except OSError as exc:
            x = progs.Xlated(b"", f"the kernel refused the instructions ({exc.strerror})")
        if x.hidden:
            access = prog_maps.unknown(info.id, info.map_ids, x.hidden)
        else:
            access = prog_maps.analyze(x.insns, kallsyms.call_table(), info.id, info.map_ids)
        st = ProgStatic(name, memlock, access)
        with self._lock:
            self._static[key] = st
        return st

    def _prune(self, alive: set[int]) -> None:
        with self._lock:
            for key in [k for k in self._static if k[0] not in alive]:
                del self._static[key]

    # -- what rarely changes ---------------------------------------------------------------------------

    def slow_facts(self, force: bool = False) -> SlowFacts:
        """Owners and attach points, walked again when older than ``slow_every`` (or ``force``)."""
        with self._slow_lock:
            slow = self._slow
            if slow is not None and not force and time.monotonic() - slow.taken_at < self.slow_every:
                return slow
            po = owners.prog_owners()
            found = [*links.all_link_attachments(), *po.perf_attachments]
            xdp = links.xdp_attachments()
            xdp_progs = {a.prog_id for a in xdp}
            found = [a for a in found if not (a.kind == "xdp" and a.prog_id in xdp_progs)] + xdp
            attach: dict[int, list[str]] = {}
            for a in found:
                text = str(a)
                if text not in attach.setdefault(a.prog_id, []):
                    attach[a.prog_id].append(text)
            self._slow = SlowFacts(po.owners, {k: tuple(v) for k, v in attach.items()}, time.monotonic())
            return self._slow

    # -- records -----------------------------------------------------------------------------------------

    def record(self, fd: int, info: progs.ProgInfo, slow: SlowFacts | None) -> ProgRecord:
        st = self._static_of(fd, info)
        return ProgRecord(
            info=info,
            name=st.name,
            memlock=st.memlock,
            attach=slow.attach.get(info.id, ()) if slow else (),
            owners=tuple(slow.owners.get(info.id, ())) if slow else (),
            maps=st.maps,
        )

    def collect(self, ids: list[int] | None = None, *, details: bool = True) -> list[ProgRecord]:
        """Records of the given program ids (every program when None), ordered by id. Programs that vanish
        while we look are skipped. ``details=False`` leaves out owners and attach points (no /proc walk)."""
        slow = self.slow_facts() if details else None
        out: list[ProgRecord] = []
        for pid in progs.prog_ids() if ids is None else sorted(ids):
            try:
                fd = progs.open_prog(pid)
            except FileNotFoundError:
                continue
            try:
                out.append(self.record(fd, progs.prog_info(fd), slow))
            except FileNotFoundError:
                continue
            finally:
                os.close(fd)
        if ids is None:
            self._prune({r.id for r in out})
        return out

    def statics(self, infos: list[progs.ProgInfo]) -> dict[int, ProgStatic]:
        """Program id -> full name, memlock and map accesses for these programs (cached per program)."""
        out: dict[int, ProgStatic] = {}
        for i in infos:
            key = (i.id, i.load_time_ns, i.tag)
            with self._lock:
                hit = self._static.get(key)
            if hit is not None:
                out[i.id] = hit
                continue
            try:
                fd = progs.open_prog(i.id)
            except FileNotFoundError:
                continue
            try:
                out[i.id] = self._static_of(fd, i)
            finally:
                os.close(fd)
        return out

    def full_names(self, infos: list[progs.ProgInfo]) -> dict[int, str]:
        """Program id -> full name for these programs (cached)."""
        return {pid: st.name for pid, st in self.statics(infos).items()}

    def map_users(self, map_id: int, records: list[ProgRecord] | None = None) -> MapUsers:
        """Which programs write and which read ``map_id`` (a program can be both)."""
        if records is None:
            users = [p.id for p in progs.all_progs() if map_id in p.map_ids]
            records = self.collect(users, details=False)
        writers, readers, unknown = [], [], []
        for r in records:
            a = r.maps.access(map_id)
            if a is None:
                continue
            if r.maps.hidden or a.mode == "?":
                unknown.append((r, r.maps.hidden or "not referenced by its instructions"))
                continue
            if a.writes:
                writers.append((r, a))
            if a.read:
                readers.append((r, a))
        return MapUsers(tuple(writers), tuple(readers), tuple(unknown))


_default: ProgCatalog | None = None
_default_lock = threading.Lock()


def default_catalog() -> ProgCatalog:
    """The process-wide catalog (CLI commands and the kernel source share its caches)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = ProgCatalog()
        return _default
