"""Which processes hold which BPF maps and programs, and where maps are pinned.

Owners: every process's fds that are ``anon_inode:bpf-map``, resolved to a map id through
/proc/PID/fdinfo (``map_id:``). Program owners (:func:`prog_owners`): fds that are ``anon_inode:bpf-prog``
or ``anon_inode:bpf_link`` (fdinfo ``prog_id:``), and perf events carrying a program (BPF_TASK_FD_QUERY,
which also says where the program is attached). Pins: every file under each bpffs mount of /proc/mounts,
opened with BPF_OBJ_GET and, when it is a map, resolved to its id.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from mapexplorer.kernel import links, maps


@dataclass(frozen=True, slots=True, order=True)
class Owner:
    """A process holding an fd to a map."""

    pid: int
    comm: str


_BPF_MAP_LINK = "anon_inode:bpf-map"
# A map's fdinfo (kernel/bpf/syscall.c bpf_map_show_fdinfo) prints these three lines in this order; any
# other layout is read line by line (maps.fdinfo_ints).
_MAP_FACTS = re.compile(rb"\nmemlock:\s*(\d+)\nmap_id:\s*(\d+)\nfrozen:\s*(\d+)")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


DIRECT_AFTER = 16
"""Map fds in a row (by their links) after which a process's next fds have their fdinfo read directly,
without the readlink first: a loader holding thousands of maps costs one syscall less per map. The first
fd that is not a map switches back."""


class _ProcFds:
    """A process's /proc/PID/fd and /proc/PID/fdinfo directories, opened when first needed: each fd is
    then looked up by its number alone (``readlinkat``/``openat``), not by a path walked from / through
    /proc/PID again. ``direct``: the fds of this process are maps so far (see :data:`DIRECT_AFTER`)."""

    __slots__ = ("_fd_dir", "_info_dir", "direct", "pid", "streak")

    def __init__(self, pid: str) -> None:
        self.pid = pid
        self._fd_dir = -1
        self._info_dir = -1
        self.direct = False
        self.streak = 0

    @property
    def fd_dir(self) -> int:
        if self._fd_dir < 0:
            self._fd_dir = os.open(f"/proc/{self.pid}/fd", _DIR_FLAGS)
        return self._fd_dir

    @property
    def info_dir(self) -> int:
        if self._info_dir < 0:
            self._info_dir = os.open(f"/proc/{self.pid}/fdinfo", _DIR_FLAGS)
        return self._info_dir

    def close(self) -> None:
        for fd in (self._fd_dir, self._info_dir):
            if fd >= 0:
                os.close(fd)
        self._fd_dir = self._info_dir = -1


def _fd_map(dirs: _ProcFds, pid: int, fd: str) -> tuple[int, int, int] | None:
    """(map id, memlock, frozen) of one fd of a process, or None when the fd is not a map (or is gone).

    The link is read first (one syscall), so only map fds have their fdinfo opened: on a usual box maps
    are a small share of all fds. In a process whose fds were maps :data:`DIRECT_AFTER` times in a row,
    the fdinfo is read at once (a map's has a ``map_type:`` line; nothing else's does)."""
    direct = dirs.direct
    try:
        if not direct and os.readlink(fd, dir_fd=dirs.fd_dir) != _BPF_MAP_LINK:
            dirs.streak = 0
            return None
        f = os.open(fd, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dirs.info_dir)
        try:
            data = os.read(f, 4096)
        finally:
            os.close(f)
    except OSError:
        return None  # the fd or the process went away
    if direct:
        if b"\nmap_type:" not in data:
            dirs.direct, dirs.streak = False, 0  # not a map: links first again
            return None
    else:
        dirs.streak += 1
        if dirs.streak >= DIRECT_AFTER:
            dirs.direct = True
    m = _MAP_FACTS.search(data)
    if m is not None:
        memlock, mid, frozen = int(m[1]), int(m[2]), int(m[3])
    else:
        mid, memlock, frozen = maps.parse_fdinfo_ints(data, (b"map_id", b"memlock", b"frozen"))
    return (mid, memlock, frozen) if mid else None


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip() or "?"
    except OSError:
        return "?"


class OwnerScanner:
    """Which processes hold which maps, from one walk of /proc, remembering each process's fds between
    walks: only fd numbers not seen in that process before are read again (a readlink, and the fdinfo
    when the fd is a map), so a second walk of a box whose processes hold 20,000 map fds costs one
    directory listing per process.

    Known limit: an fd number closed and reused for another map between two walks (or a pid reused by a
    new process with the same fd numbers) keeps its old map id until that fd number goes away. A
    one-shot command uses a new scanner, so it always reads everything.

    This process is read afresh at every walk and is never an owner through the fds it opened to read
    (``maps.READER_FDS``: a map view keeps one open as long as it shows). After the first walk it is an
    owner only of the maps it has held since the previous walk, so fds opened for a moment by other means
    never make it one either. What it holds otherwise (the maps a ``--demo`` session created, a perf map
    whose rings it installed) makes it an owner.
    """

    def __init__(self) -> None:
        self._self_pid = os.getpid()
        self._own_prev: dict[str, int | None] | None = None  # None: no walk yet
        self._fds: dict[int, dict[str, int | None]] = {}
        self._comms: dict[int, str] = {}
        self.fdinfo_facts: dict[int, tuple[int, int]] = {}
        """Map id -> (memlock, frozen) as read from a holder's fdinfo during the last walk (only the fds
        read in that walk: a listing then need not read each map's fdinfo again)."""

    def scan(self) -> dict[int, list[Owner]]:
        """Map id -> processes holding an fd to it (sorted by pid, each once)."""
        out: dict[int, set[Owner]] = {}
        seen: dict[int, dict[str, int | None]] = {}
        facts: dict[int, tuple[int, int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            try:
                names = os.listdir(f"/proc/{entry}/fd")
            except OSError:
                continue
            dirs = _ProcFds(entry)
            own = pid == self._self_pid
            known = {} if own else self._fds.get(pid, {})
            fds: dict[str, int | None] = {}
            try:
                for n in names:
                    if n in known:
                        fds[n] = known[n]
                        continue
                    got = _fd_map(dirs, pid, n)
                    if got is None:
                        fds[n] = None
                    else:
                        fds[n] = got[0]
                        facts[got[0]] = got[1:]
            finally:
                dirs.close()
            if own:
                # This process opens maps for a moment to read them (other threads may be doing so now):
                # after the first walk only fds held since the previous walk make it an owner, and nothing
                # is cached for it, since its fd numbers are reused for other maps all the time.
                prev = self._own_prev
                readers = maps.READER_FDS
                ids = {
                    mid for n, mid in fds.items()
                    if mid is not None and (prev is None or prev.get(n) == mid) and readers.get(int(n)) != mid
                }
                self._own_prev = fds
            else:
                seen[pid] = fds
                ids = {mid for mid in fds.values() if mid is not None}
            if not ids:
                continue
            comm = self._comms.get(pid) if pid in self._fds or own else None
            if comm is None:
                comm = self._comms[pid] = _comm(pid)
            owner = Owner(pid, comm)
            for mid in ids:
                out.setdefault(mid, set()).add(owner)
        self._fds = seen
        self.fdinfo_facts = facts
        self._comms = {pid: c for pid, c in self._comms.items() if pid in seen or pid == self._self_pid}
        return {mid: sorted(owners) for mid, owners in out.items()}


def map_owners() -> dict[int, list[Owner]]:
    """Map id -> processes holding an fd to it (sorted by pid, each once): one full walk of /proc (a
    process's name is read only when it holds a map). Use an :class:`OwnerScanner` to walk repeatedly."""
    return OwnerScanner().scan()


@dataclass(frozen=True, slots=True)
class ProgOwners:
    """Programs' owner processes, and the attachments found through perf_event fds."""

    owners: dict[int, list[Owner]]
    """Program id -> processes holding its fd, a link to it or a perf event running it."""
    perf_attachments: list[links.Attachment]


def prog_owners() -> ProgOwners:
    """One walk of every process's fds for programs (see the module docstring)."""
    found: dict[int, set[Owner]] = {}
    attached: dict[tuple[int, str, str], links.Attachment] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        owner: Owner | None = None
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            prog_id = 0
            if target in ("anon_inode:bpf-prog", "anon_inode:bpf_link"):
                try:
                    prog_id = int(maps.read_fdinfo(int(fd), pid).get("prog_id", "0") or 0)
                except (OSError, ValueError):
                    continue
            elif target == "anon_inode:[perf_event]":
                att = links.task_fd_query(pid, int(fd))
                if att is None:
                    continue
                prog_id = att.prog_id
                attached.setdefault((att.prog_id, att.kind, att.target), att)
            if prog_id:
                owner = owner or Owner(pid, _comm(pid))
                found.setdefault(prog_id, set()).add(owner)
    return ProgOwners({p: sorted(o) for p, o in found.items()}, list(attached.values()))


def bpffs_mounts() -> list[str]:
    """Mount points of every bpffs in /proc/mounts."""
    points: list[str] = []
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == "bpf":
                points.append(parts[1].replace("\\040", " "))
    return points


def map_pins() -> dict[int, list[str]]:
    """Map id -> the bpffs paths it is pinned at."""
    out: dict[int, list[str]] = {}
    seen: set[str] = set()
    for mount in bpffs_mounts():
        for root, _dirs, files in os.walk(mount):
            for name in files:
                path = os.path.join(root, name)
                if path in seen:
                    continue
                seen.add(path)
                try:
                    fd = maps.obj_get(path)
                except OSError:
                    continue
                try:
                    if os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:bpf-map":
                        mid = int(maps.read_fdinfo(fd).get("map_id", "0"))
                        if mid:
                            out.setdefault(mid, []).append(path)
                except OSError:
                    pass  # the pin was removed while we looked: nothing to report
                finally:
                    os.close(fd)
    for paths in out.values():
        paths.sort()
    return out
