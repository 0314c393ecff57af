"""Which processes hold which BPF maps and programs, and where maps are pinned.

Owners: every process's fds that are ``anon_inode:bpf-map``, resolved to a map id through
/proc/PID/fdinfo (``map_id:``). Program owners (:func:`prog_owners`): fds that are ``anon_inode:bpf-prog``
or ``anon_inode:bpf_link`` (fdinfo ``prog_id:``), and perf events carrying a program (BPF_TASK_FD_QUERY,
which also says where the program is attached). Pins: every file under each bpffs mount of /proc/mounts,
opened with BPF_OBJ_GET and, when it is a map, resolved to its id.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import psutil

from mapexplorer.kernel import links, maps


@dataclass(frozen=True, slots=True, order=True)
class Owner:
    """A process holding an fd to a map."""

    pid: int
    comm: str


def _map_ids_of_pid(pid: int) -> set[int]:
    ids: set[int] = set()
    fd_dir = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return ids
    for fd in fds:
        try:
            if os.readlink(f"{fd_dir}/{fd}") != "anon_inode:bpf-map":
                continue
            info = maps.read_fdinfo(int(fd), pid)
        except OSError:
            continue  # the fd or the process went away
        if "map_id" in info:
            ids.add(int(info["map_id"]))
    return ids


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip() or "?"
    except OSError:
        return "?"


def map_owners() -> dict[int, list[Owner]]:
    """Map id -> processes holding an fd to it (sorted by pid, each once).

    Walks /proc directly (a process's name is read only when it holds a map): about half the cost of
    asking psutil for every process's name, which matters to a map list refreshing every second.
    """
    out: dict[int, set[Owner]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        ids = _map_ids_of_pid(pid)
        if not ids:
            continue
        owner = Owner(pid, _comm(pid))
        for mid in ids:
            out.setdefault(mid, set()).add(owner)
    return {mid: sorted(owners) for mid, owners in out.items()}


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
    for proc in psutil.process_iter(["pid", "name"]):
        pid = proc.info["pid"]
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
                owner = owner or Owner(pid, proc.info["name"] or "?")
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
