"""Where programs are attached, as far as the kernel tells it.

- BPF links (BPF_LINK_GET_NEXT_ID + link info): tracepoints, kprobes/uprobes through perf links, cgroups
  (by path), XDP and tcx (by interface name), netns, iterators, struct_ops, netfilter, ...
- Perf events with a program (how BCC attaches tracepoints and probes, via PERF_EVENT_IOC_SET_BPF):
  BPF_TASK_FD_QUERY on a process's perf_event fd names the tracepoint / function / file.
- XDP programs attached through netlink (and the mode of every XDP program): RTM_GETLINK's IFLA_XDP.

Every function returns plain strings and frozen dataclasses; none imports textual.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from mapexplorer.kernel import syscall as sc
from mapexplorer.kernel.names import attach_type_name, link_type_name

# enum bpf_link_type
LINK_RAW_TRACEPOINT = 1
LINK_TRACING = 2
LINK_CGROUP = 3
LINK_ITER = 4
LINK_NETNS = 5
LINK_XDP = 6
LINK_PERF_EVENT = 7
LINK_KPROBE_MULTI = 8
LINK_STRUCT_OPS = 9
LINK_NETFILTER = 10
LINK_TCX = 11
LINK_UPROBE_MULTI = 12
LINK_NETKIT = 13
LINK_SOCKMAP = 14

# enum bpf_perf_event_type (link info) and enum bpf_task_fd_type (BPF_TASK_FD_QUERY)
PERF_EVENT_KINDS = {
    1: "uprobe", 2: "uretprobe", 3: "kprobe", 4: "kretprobe", 5: "tracepoint", 6: "perf_event"
}
TASK_FD_KINDS = {
    0: "raw_tracepoint", 1: "tracepoint", 2: "kprobe", 3: "kretprobe", 4: "uprobe", 5: "uretprobe"
}

XDP_MODES = {1: "driver", 2: "generic", 3: "offload"}


@dataclass(frozen=True, slots=True)
class Attachment:
    """One place a program runs from."""

    prog_id: int
    kind: str
    """``tracepoint``, ``kprobe``, ``cgroup``, ``xdp``, ``tcx``, ``struct_ops``, ... (link or fd kind)."""
    target: str
    """Human text: ``syscalls:sys_enter_openat``, ``/sys/fs/cgroup/demo ingress``, ``veth0 (driver)``."""
    link_id: int = 0

    def __str__(self) -> str:
        return f"{self.kind} {self.target}".strip()


def link_ids() -> Iterator[int]:
    """Every BPF link id in the kernel, ascending."""
    attr = sc.GetIdAttr()
    while True:
        try:
            sc.bpf(sc.BPF_LINK_GET_NEXT_ID, attr)
        except FileNotFoundError:
            return
        yield attr.next_id
        attr.start_id = attr.next_id


def ifname(ifindex: int) -> str:
    """The interface's name in our network namespace, or ``if#N`` (another netns, or gone)."""
    try:
        return socket.if_indextoname(ifindex)
    except OSError:
        return f"if#{ifindex}"


class CgroupPaths:
    """cgroup id (the inode number of a cgroup2 directory) -> its path, from one walk of the cgroup2
    mount, walked again only when an id is unknown."""

    def __init__(self) -> None:
        self._paths: dict[int, str] = {}
        self._lock = threading.Lock()

    @staticmethod
    def mount() -> str | None:
        try:
            with open("/proc/mounts") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 3 and parts[2] == "cgroup2":
                        return parts[1]
        except OSError:
            return None
        return None

    def _walk(self) -> dict[int, str]:
        root = self.mount()
        out: dict[int, str] = {}
        if root is None:
            return out
        for dirpath, _dirs, _files in os.walk(root):
            try:
                out[os.stat(dirpath).st_ino] = dirpath
            except OSError:
                continue
        return out

    def path(self, cgroup_id: int) -> str:
        with self._lock:
            hit = self._paths.get(cgroup_id)
            if hit is None:
                self._paths = self._walk()
                hit = self._paths.get(cgroup_id)
        return hit or f"cgroup id {cgroup_id}"


_cgroups = CgroupPaths()

TRACEFS_EVENTS = ("/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events")
_tp_categories: dict[str, str] | None = None
_tp_lock = threading.Lock()


def tracepoint_category(event: str) -> str:
    """The category of a tracepoint event (``sys_enter_openat`` -> ``syscalls``) from tracefs, read once;
    "" when tracefs is not mounted or the event is not listed there."""
    global _tp_categories
    with _tp_lock:
        if _tp_categories is None:
            found: dict[str, str] = {}
            for root in TRACEFS_EVENTS:
                try:
                    cats = [e for e in os.scandir(root) if e.is_dir()]
                except OSError:
                    continue
                for cat in cats:
                    try:
                        for ev in os.scandir(cat.path):
                            if ev.is_dir():
                                found.setdefault(ev.name, cat.name)
                    except OSError:
                        continue
                break
            _tp_categories = found
        return _tp_categories.get(event, "")


def _name_at(buf: ctypes.Array) -> str:
    return buf.value.decode(errors="replace")


def link_attachment(fd: int) -> Attachment:
    """What the link behind ``fd`` attaches, and to what."""
    raw = sc.LinkInfoStruct()
    attr = sc.InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(raw), info=ctypes.addressof(raw))
    sc.bpf(sc.BPF_OBJ_GET_INFO_BY_FD, attr)
    ltype, x = raw.type, raw.extra
    name = ctypes.create_string_buffer(512)
    target = ""
    kind = link_type_name(ltype)

    def refetch(ptr_slot: int, len_slot: int) -> str:
        again = sc.LinkInfoStruct()
        again.extra[ptr_slot] = ctypes.addressof(name)
        again.extra[len_slot] = len(name)
        a2 = sc.InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(again), info=ctypes.addressof(again))
        sc.bpf(sc.BPF_OBJ_GET_INFO_BY_FD, a2)
        return _name_at(name)

    lo = [v & 0xFFFFFFFF for v in x]
    hi = [v >> 32 for v in x]
    if ltype == LINK_RAW_TRACEPOINT:
        kind, target = "raw_tracepoint", refetch(0, 1)
    elif ltype == LINK_TRACING:
        kind, target = attach_type_name(lo[0]), f"btf type {lo[1]}"
    elif ltype == LINK_CGROUP:
        kind, target = "cgroup", f"{_cgroups.path(x[0])} {attach_type_name(lo[1])}"
    elif ltype == LINK_ITER:
        kind, target = "iter", refetch(0, 1)
    elif ltype == LINK_NETNS:
        kind, target = "netns", f"ino {lo[0]} {attach_type_name(hi[0])}"
    elif ltype == LINK_XDP:
        kind, target = "xdp", ifname(lo[0])
    elif ltype == LINK_PERF_EVENT:
        pkind = lo[0]
        kind = PERF_EVENT_KINDS.get(pkind, "perf_event")
        if pkind in (1, 2, 3, 4, 5):
            target = refetch(1, 2)
            if pkind == 5 and ":" not in target:
                cat = tracepoint_category(target)
                target = f"{cat}:{target}" if cat else target
            if pkind in (3, 4) and hi[2]:
                target += f"+{hi[2]:#x}"
        else:
            target = f"type {lo[2]} config {x[1]:#x}"
    elif ltype == LINK_KPROBE_MULTI:
        kind, target = "kprobe_multi", f"{lo[1]} functions"
    elif ltype == LINK_STRUCT_OPS:
        kind, target = "struct_ops", f"map {lo[0]}"
    elif ltype == LINK_NETFILTER:
        kind, target = "netfilter", f"pf {lo[0]} hook {hi[0]} prio {ctypes.c_int32(lo[1]).value}"
    elif ltype in (LINK_TCX, LINK_NETKIT):
        kind, target = attach_type_name(hi[0]), ifname(lo[0])
    elif ltype == LINK_UPROBE_MULTI:
        kind, target = "uprobe_multi", refetch(0, 4)
    elif ltype == LINK_SOCKMAP:
        kind, target = "sockmap", f"map {lo[0]} {attach_type_name(hi[0])}"
    return Attachment(raw.prog_id, kind, target, raw.id)


def all_link_attachments() -> list[Attachment]:
    """The attachment of every BPF link (links freed while we look are skipped)."""
    out: list[Attachment] = []
    for lid in link_ids():
        try:
            fd = sc.bpf(sc.BPF_LINK_GET_FD_BY_ID, sc.GetIdAttr(start_id=lid))
        except FileNotFoundError:
            continue
        try:
            out.append(link_attachment(fd))
        except OSError:
            continue
        finally:
            os.close(fd)
    return out


def task_fd_query(pid: int, fd: int) -> Attachment | None:
    """BPF_TASK_FD_QUERY: the program behind a process's perf_event (or raw tracepoint) fd and where it is
    attached; None when the fd carries no program."""
    buf = ctypes.create_string_buffer(512)
    attr = sc.TaskFdQueryAttr(pid=pid, fd=fd, buf_len=len(buf), buf=ctypes.addressof(buf))
    try:
        sc.bpf(sc.BPF_TASK_FD_QUERY, attr)
    except OSError:
        return None
    kind = TASK_FD_KINDS.get(attr.fd_type, str(attr.fd_type))
    target = _name_at(buf)
    if kind == "tracepoint" and ":" not in target:
        cat = tracepoint_category(target)
        target = f"{cat}:{target}" if cat else target
    if kind in ("kprobe", "kretprobe", "uprobe", "uretprobe") and attr.probe_offset:
        target += f"+{attr.probe_offset:#x}"
    if kind in ("kprobe", "kretprobe") and not target and attr.probe_addr:
        target = f"{attr.probe_addr:#x}"
    return Attachment(attr.prog_id, kind, target)


# -- XDP through netlink ------------------------------------------------------------------------------

_NLMSG_HDR = struct.Struct("=IHHII")
_IFINFO = struct.Struct("=BxHiII")
_RTA = struct.Struct("=HH")
RTM_NEWLINK, RTM_GETLINK = 16, 18
NLMSG_ERROR, NLMSG_DONE = 2, 3
IFLA_IFNAME, IFLA_XDP = 3, 43
IFLA_XDP_ATTACHED, IFLA_XDP_PROG_ID = 2, 4
IFLA_XDP_DRV_PROG_ID, IFLA_XDP_SKB_PROG_ID, IFLA_XDP_HW_PROG_ID = 5, 6, 7


def _attrs(data: bytes, pos: int, end: int) -> Iterator[tuple[int, bytes]]:
    while pos + 4 <= end:
        ln, typ = _RTA.unpack_from(data, pos)
        if ln < 4:
            return
        yield typ & 0x3FFF, data[pos + 4 : pos + ln]
        pos += (ln + 3) & ~3


def parse_xdp_links(messages: bytes) -> list[Attachment]:
    """XDP attachments from RTM_NEWLINK messages (one recv() worth)."""
    out: list[Attachment] = []
    pos = 0
    while pos + _NLMSG_HDR.size <= len(messages):
        ln, typ, _flags, _seq, _pid = _NLMSG_HDR.unpack_from(messages, pos)
        if ln < _NLMSG_HDR.size:
            break
        if typ == RTM_NEWLINK:
            body = pos + _NLMSG_HDR.size
            name = ""
            xdp: dict[int, bytes] = {}
            for t, v in _attrs(messages, body + _IFINFO.size, pos + ln):
                if t == IFLA_IFNAME:
                    name = v.split(b"\0", 1)[0].decode(errors="replace")
                elif t == IFLA_XDP:
                    xdp = dict(_attrs(v, 0, len(v)))
            if xdp:
                mode = xdp.get(IFLA_XDP_ATTACHED, b"\0")[0]
                per_mode = {
                    "driver": IFLA_XDP_DRV_PROG_ID,
                    "generic": IFLA_XDP_SKB_PROG_ID,
                    "offload": IFLA_XDP_HW_PROG_ID,
                }
                seen = False
                for mname, attr_id in per_mode.items():
                    if attr_id in xdp:
                        pid = int.from_bytes(xdp[attr_id][:4], "little")
                        if pid:
                            out.append(Attachment(pid, "xdp", f"{name} ({mname})"))
                            seen = True
                if not seen and IFLA_XDP_PROG_ID in xdp:
                    pid = int.from_bytes(xdp[IFLA_XDP_PROG_ID][:4], "little")
                    if pid:
                        mtext = XDP_MODES.get(mode, f"mode {mode}")
                        out.append(Attachment(pid, "xdp", f"{name} ({mtext})"))
        pos += (ln + 3) & ~3
    return out


def xdp_attachments() -> list[Attachment]:
    """Every XDP program attached in this network namespace, with its interface and mode."""
    out: list[Attachment] = []
    try:
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    except OSError:
        return out
    with s:
        s.settimeout(2.0)
        body = _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        hdr = _NLMSG_HDR.pack(_NLMSG_HDR.size + len(body), RTM_GETLINK, 0x301, 1, 0)
        try:
            s.send(hdr + body)
            while True:
                data = s.recv(65536)
                if not data:
                    break
                out.extend(parse_xdp_links(data))
                done = False
                pos = 0
                while pos + _NLMSG_HDR.size <= len(data):
                    ln, typ, *_ = _NLMSG_HDR.unpack_from(data, pos)
                    if typ in (NLMSG_DONE, NLMSG_ERROR):
                        done = True
                    if ln < _NLMSG_HDR.size:
                        break
                    pos += (ln + 3) & ~3
                if done:
                    break
        except OSError:
            return out
    return out
