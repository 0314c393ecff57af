"""Shared state of a demo session: the status records, the small BTF blob for raw maps, and the base
class whose helpers (create a map, record an fd, run a step that may skip a demo) the loading parts use.
"""

from __future__ import annotations

import contextlib
import itertools
import mmap
import os
import socket
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from mapexplorer.btf.build import BtfBuilder
from mapexplorer.codec import vmlinux
from mapexplorer.demo_bpf.catalog import (
    BY_TYPE,
    CATALOG,
)
from mapexplorer.kernel import maps as km
from mapexplorer.kernel.btf_fetch import load_btf
from mapexplorer.kernel.names import MAP_TYPE_IDS

Progress = Callable[[str], None]

PAGE = mmap.PAGESIZE
REUSEPORT_SOCKS = 4
SO_ATTACH_REUSEPORT_EBPF = 52
USER_RB_SIZE = 4 * PAGE
ARENA_PAGES = 16
BUSY_BIT = 1 << 31
XSK_PORT = 10002  # UDP port whose packets XDP hands to the AF_XDP socket (traffic.py sends there)
_SESSION_COUNTER = itertools.count()



@dataclass(frozen=True, slots=True)
class DemoStatus:
    """The outcome of one demo: ``ok`` with the map's id, or skipped with a one-line ``reason``."""

    type: str
    map_name: str
    how: str
    ok: bool
    reason: str = ""
    map_id: int | None = None


@dataclass(frozen=True, slots=True)
class DemoEnvironment:
    """What a running session set up besides BPF objects (None: not created on this run)."""

    veth: str | None  # the host end; its peer lives in the traffic child's network namespace
    veth_peer: str | None
    host_ip: str | None
    cgroup: str | None  # the cgroup2 directory the traffic child runs in
    child_pid: int | None  # the traffic child (private network namespace)
    tcp_congestion: str | None  # the struct_ops tcp_congestion_ops name


class DemoSummary(list[DemoStatus]):
    """The statuses of a session: a list, whose ``str()`` is one line for a status bar."""

    def __str__(self) -> str:
        ok = sum(s.ok for s in self)
        text = f"{ok}/{len(self)} demo maps live"
        skipped = [s.type for s in self if not s.ok]
        return f"{text} (skipped: {', '.join(skipped)})" if skipped else text


def one_line(exc: BaseException) -> str:
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    text = detail.strip().splitlines()
    return (text[-1] if text else type(exc).__name__)[:160]


def vmlinux_id(name: str, kind: str) -> int:
    """The id of the type ``name`` of ``kind`` ("func", "struct") in the running kernel's BTF.

    Raises:
        KeyError: vmlinux has no such type.
        OSError: vmlinux BTF is unreadable.
    """
    type_id = vmlinux().find(name, kind)
    if type_id is None:
        raise KeyError(f"no BTF {kind} {name!r} in vmlinux")
    return type_id


class RawBtf:
    """The small BTF blob the raw-created maps use for keys and values."""

    def __init__(self) -> None:
        b = BtfBuilder()
        self.int = b.int("int", 4, signed=True)
        self.u32 = b.int("unsigned int", 4)
        self.u64 = b.int("unsigned long long", 8)
        char = b.int("char", 1, signed=True)  # the kernel accepts one encoding bit; clang marks char SIGNED
        comm16 = b.array(char, 16, self.int)
        name32 = b.array(char, 32, self.int)
        # members: (name, type id, bit offset)
        self.comm = b.struct("comm_key", 16, [("comm", comm16, 0)])
        self.cgrp_stats = b.struct(
            "cgrp_stats", 56,
            [("updated_ns", self.u64, 0), ("procs", self.u32, 8 * 8), ("updates", self.u32, 12 * 8),
             ("name", name32, 16 * 8), ("bytes_hint", self.u64, 48 * 8)],
        )
        self.port = b.struct("devmap_port", 8, [("ifindex", self.u32, 0), ("prog_id", self.u32, 4 * 8)])
        self.fd = load_btf(b.blob())


class SessionState:
    """Everything a session holds; the loading mixins (environment, raw maps, BCC) work on it."""

    def __init__(self, types: list[str] | None = None) -> None:
        unknown = [t for t in types or () if t not in BY_TYPE]
        if unknown:
            raise ValueError(f"unknown map type(s): {', '.join(unknown)} (see mapexplorer demo --list)")
        self.types: list[str] = [s.type for s in CATALOG if not types or s.type in types]
        self.load_seconds: float = 0.0
        self.events_seen: int = 0
        self.events_lost: int = 0
        self.user_rb_drained: int = 0
        self._drainer = -1
        self._arena_alloc = -1
        self.arena_pages_allocated: int = 0
        self.traffic_errors: int = 0
        self.last_traffic_error: str = ""
        self._skip: dict[str, str] = {}
        self._fds: dict[str, int] = {}  # map name -> an fd we own
        self._stack = contextlib.ExitStack()
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._started = False
        self._stopped = False
        self._summary: list[DemoStatus] = []
        self._threads: list[threading.Thread] = []
        self._raw_prog_ids: list[int] = []
        self._notes: dict[str, str] = {}
        self._tag = f"{os.getpid()}x{next(_SESSION_COUNTER) % 10}"  # unique per session, <= 9 chars
        self._bcc: ModuleType | None = None
        self._bpf: Any = None
        self._btf: RawBtf | None = None
        self._cg_path: str | None = None
        self._cg_fd = -1
        self._child: subprocess.Popen[str] | None = None
        self._host_if = f"demo_h{self._tag}"
        self._peer_if = f"demo_p{self._tag}"
        self._host_ifindex = 0
        self._host_ip = self._peer_ip = ""  # chosen in _setup_net from the free 10.77.N.0/24 subnets
        self._tcp_port = 0
        self._cc_name = f"dcc{self._tag}"  # TCP_CA_NAME_MAX: 15 characters
        self._reuse_socks: list[socket.socket] = []
        self._user_rb: mmap.mmap | None = None
        self._user_rb_seq = 0
        self._arena: mmap.mmap | None = None
        self._tmpdir: str | None = None
        self._key_fds: dict[str, list[int]] = {}
        self._child_log: Any = None

    # -- orchestration ---------------------------------------------------------------------------

    def _wanted(self, *types: str) -> bool:
        return any(t in self.types and t not in self._skip for t in types)

    def _optional(self, type_: str, what: str, fn: Callable[[], None]) -> None:
        """A bonus step: on failure the demo still runs, and its summary says what is missing."""
        if not self._wanted(type_):
            return
        try:
            fn()
        except Exception as exc:  # a refused extra (e.g. LSM on a locked-down host) is only noted
            self._notes[type_] = f"{what}: {one_line(exc)}"

    def _attempt(self, types: tuple[str, ...], what: str, fn: Callable[[], None]) -> bool:
        """Run one loading step; on failure mark ``types`` skipped with a one-line reason."""
        if not self._wanted(*types):
            return False
        try:
            fn()
        except Exception as exc:  # one demo's failure (OSError, BCC's plain Exception) skips it only
            reason = f"{what}: {one_line(exc)}"
            for t in types:
                self._skip.setdefault(t, reason)
            return False
        return True

    # -- helpers ---------------------------------------------------------------------------------

    def _own(self, name: str, fd: int) -> int:
        """Record ``fd`` as the session's handle on map ``name`` and close it on stop."""
        self._fds[name] = fd
        self._stack.callback(os.close, fd)
        return fd

    def _map(self, name: str) -> km.Map:
        """A Map on a dup of the session's fd for ``name`` (the caller closes it)."""
        return km.Map(os.dup(self._fds[name]))

    def _create(self, type_name: str, name: str, key: int, value: int, entries: int, **kw: Any) -> int:
        """Create a map, with BTF when given and accepted, else without."""
        t = MAP_TYPE_IDS[type_name]
        if kw.get("btf_value_type_id") and self._btf is not None:
            try:
                fd = km.create_map(t, key, value, entries, name=name, btf_fd=self._btf.fd, **kw)
                return self._own(name, fd)
            except OSError:
                kw = {k: v for k, v in kw.items() if not k.startswith("btf_")}
        kw = {k: v for k, v in kw.items() if not k.startswith("btf_")}
        return self._own(name, km.create_map(t, key, value, entries, name=name, **kw))
