"""DemoSession: load the demo BPF programs and maps, drive traffic in the background, and remove
everything on ``stop()``.

    with DemoSession(["hash", "ringbuf"]) as session:
        session.start(progress=print)
        for status in session.summary: ...

What one session creates, and how it goes away:
- one BCC module (``demo.c``): tracepoint, XDP, cgroup_skb, sock_ops, SK_REUSEPORT and struct_ops
  programs and ~30 maps; ``BPF.cleanup()`` and closing the fds frees them;
- maps BCC cannot create (bloom_filter, reuseport_sockarray, devmap_hash, user_ringbuf, arena,
  cgrp_storage, struct_ops, the extra inner maps) through :mod:`mapexplorer.kernel.maps`; closed fds;
- links (XDP on the veth, cgroup_skb and sock_ops on the demo cgroup, struct_ops): fds, closed;
- a cgroup2 directory ``mapexplorer_demo_<pid>``: removed after its processes exit;
- a veth pair ``demo_h<pid>``/``demo_p<pid>`` whose peer lives in the traffic child's private network
  namespace: the namespace dies with the child and takes the pair with it (deleted explicitly too);
- a temp directory of files tagged through inode storage: removed.
Nothing is pinned.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import itertools
import json
import mmap
import os
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from mapexplorer.demo_bpf import loader
from mapexplorer.demo_bpf.btfmini import KIND_FUNC, BtfBuilder, vmlinux
from mapexplorer.demo_bpf.catalog import (
    BY_TYPE,
    CATALOG,
    EXTRA_MAP_NAMES,
    cgroup2_root,
    host_support,
    kernel_map_types,
)
from mapexplorer.kernel import maps as km
from mapexplorer.kernel import syscall as sc
from mapexplorer.kernel.btf_fetch import load_btf
from mapexplorer.kernel.names import MAP_TYPE_IDS
from mapexplorer.kernel.progs import prog_info

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


def _one_line(exc: BaseException) -> str:
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    text = detail.strip().splitlines()
    return (text[-1] if text else type(exc).__name__)[:160]


class _Btf:
    """The small BTF blob the raw-created maps use for keys and values."""

    def __init__(self) -> None:
        b = BtfBuilder()
        self.int = b.int_type("int", 4, signed=True)
        self.u32 = b.int_type("unsigned int", 4)
        self.u64 = b.int_type("unsigned long long", 8)
        char = b.int_type("char", 1, signed=True)
        comm16 = b.array(char, self.int, 16)
        name32 = b.array(char, self.int, 32)
        self.comm = b.struct_type("comm_key", 16, [("comm", comm16, 0)])
        self.cgrp_stats = b.struct_type(
            "cgrp_stats", 56,
            [("updated_ns", self.u64, 0), ("procs", self.u32, 8), ("updates", self.u32, 12),
             ("name", name32, 16), ("bytes_hint", self.u64, 48)],
        )
        self.port = b.struct_type("devmap_port", 8, [("ifindex", self.u32, 0), ("prog_id", self.u32, 4)])
        self.fd = load_btf(b.blob())


class DemoSession:
    """Loads the demos for ``types`` (all 33 when None) and keeps them alive until ``stop()``."""

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
        self._btf: _Btf | None = None
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

    # -- public API ------------------------------------------------------------------------------

    def __enter__(self) -> DemoSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def summary(self) -> DemoSummary:
        """One status per requested type, in catalog order (empty before ``start()`` finished);
        ``str(session.summary)`` is the one-line headline."""
        return DemoSummary(self._summary)

    def map_ids(self) -> dict[str, int]:
        """Name -> id of every map this session holds (demo maps, inner maps, helpers)."""
        return {name: km.map_info(fd).id for name, fd in sorted(self._fds.items())}

    @property
    def environment(self) -> DemoEnvironment:
        """The veth pair, cgroup, traffic child and congestion control name of this session."""
        net = bool(self._host_ifindex)
        return DemoEnvironment(
            veth=self._host_if if net else None,
            veth_peer=self._peer_if if net else None,
            host_ip=self._host_ip or None,
            cgroup=self._cg_path,
            child_pid=self._child.pid if self._child is not None else None,
            tcp_congestion=self._cc_name if "demo_tcp_cc" in self._fds else None,
        )

    def raw_prog_ids(self) -> list[int]:
        """Ids of the programs loaded outside BCC (struct_ops members, LSM, the user ringbuf drainer);
        BCC's programs are found through the maps they use."""
        return list(self._raw_prog_ids)

    @property
    def headline(self) -> str:
        """One line for a status bar: how many demos run, how many were skipped."""
        if not self._summary:
            return "demo not started"
        return str(self.summary)

    def key_fds(self, map_name: str) -> list[int]:
        """Fds that key entries of an fd-keyed storage map (sk/task/inode/cgrp storage) in this session.

        The explorer can look these entries up (BPF_MAP_LOOKUP_ELEM with the fd as key); they stay
        valid until ``stop()``.
        """
        return list(self._key_fds.get(map_name, ()))

    def start(self, progress: Progress | None = None) -> DemoSummary:
        """Load every requested demo and start the traffic; blocking, safe from a worker thread.

        A demo the host cannot run is skipped with a reason; the others still run.
        """
        say: Progress = progress or (lambda _msg: None)
        with self._lock:
            if self._stopped:
                raise RuntimeError("a stopped DemoSession cannot be restarted")
            if self._started:
                return self.summary
            self._started = True
            atexit.register(self.stop)  # a caller that forgets stop() still leaves nothing behind
            t0 = time.monotonic()
            try:
                self._start(say)
            except BaseException:
                self._stop_locked()
                raise
            self.load_seconds = time.monotonic() - t0
            self._summary = self._build_summary()
            ok = sum(s.ok for s in self._summary)
            say(f"{ok}/{len(self._summary)} demos running (loaded in {self.load_seconds:.1f} s)")
            return self.summary

    def stop(self) -> None:
        """Stop the traffic and remove everything this session created. Idempotent."""
        with self._lock:
            self._stop_locked()

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
            self._notes[type_] = f"{what}: {_one_line(exc)}"

    def _attempt(self, types: tuple[str, ...], what: str, fn: Callable[[], None]) -> bool:
        """Run one loading step; on failure mark ``types`` skipped with a one-line reason."""
        if not self._wanted(*types):
            return False
        try:
            fn()
        except Exception as exc:  # one demo's failure (OSError, BCC's plain Exception) skips it only
            reason = f"{what}: {_one_line(exc)}"
            for t in types:
                self._skip.setdefault(t, reason)
            return False
        return True

    def _start(self, say: Progress) -> None:
        kernel_types = kernel_map_types()
        try:
            self._bcc = loader.import_bcc()
        except loader.BccUnavailable:
            self._bcc = None
        for t in self.types:
            ok, reason = host_support(BY_TYPE[t], bcc_ok=self._bcc is not None, kernel_types=kernel_types)
            if not ok:
                self._skip[t] = reason
        self._btf = _Btf()
        self._stack.callback(os.close, self._btf.fd)

        cg_types = tuple(s.type for s in CATALOG if "cgroup" in s.needs)
        net_types = tuple(s.type for s in CATALOG if "net" in s.needs)
        say("creating the demo cgroup and veth pair")
        self._attempt(cg_types, "cgroup", self._setup_cgroup)
        self._attempt(net_types, "veth/netns", self._setup_net)

        say("creating maps BCC cannot create")
        self._attempt(("bloom_filter",), "bloom_filter", self._make_bloom)
        self._attempt(("reuseport_sockarray",), "reuseport", self._make_reuseport)
        self._attempt(("devmap_hash",), "devmap_hash", self._make_devmap_hash)
        self._attempt(("user_ringbuf",), "user_ringbuf", self._make_user_ringbuf)
        self._optional("user_ringbuf", "no draining program, records pile up", self._load_drainer)
        self._attempt(("arena",), "arena", self._make_arena)
        self._optional("arena", "no allocating program", self._load_arena_allocator)
        self._attempt(("cgrp_storage",), "cgrp_storage", self._make_cgrp_storage)

        bcc_types = tuple(s.type for s in CATALOG if "bcc" in s.needs)
        if self._wanted(*bcc_types):
            say("compiling the BCC module (demo.c)")
            if self._attempt(bcc_types, "BCC", self._compile):
                say("attaching programs and filling maps")
                self._fill_bcc()
        say("starting traffic")
        self._attempt(net_types, "traffic", self._start_child_traffic)
        thread = threading.Thread(target=self._local_traffic, name="demo-traffic", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _stop_threads(self) -> None:
        self._stop_event.set()
        for t in self._threads:
            t.join(timeout=5)

    def _stop_locked(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        self._stop_event.set()
        map_ids = set(self.map_ids().values())
        prog_ids = set(self._raw_prog_ids)
        self._stop_threads()  # before any fd, reader or socket they use is released
        self._stack.close()
        self._await_release(map_ids, prog_ids)

    @staticmethod
    def _await_release(map_ids: set[int], prog_ids: set[int], attempts: int = 60) -> None:
        """Wait (up to ~3 s) until the kernel has freed our maps and struct_ops programs: struct_ops
        programs are released an RCU grace period after their map, so stop() returns only once they
        are gone and a caller listing ids right after sees nothing of ours."""
        from mapexplorer.kernel.progs import prog_ids as all_prog_ids

        for _ in range(attempts):
            if not (set(km.map_ids()) & map_ids or set(all_prog_ids()) & prog_ids):
                return
            time.sleep(0.05)

    def _build_summary(self) -> list[DemoStatus]:
        out = []
        for t in self.types:
            spec = BY_TYPE[t]
            if t in self._skip:
                out.append(DemoStatus(t, spec.map_name, spec.how, False, self._skip[t]))
                continue
            fd = self._fds.get(spec.map_name)
            if fd is None:
                out.append(DemoStatus(t, spec.map_name, spec.how, False, "map was not created"))
                continue
            how = f"{spec.how} [{self._notes[t]}]" if t in self._notes else spec.how
            out.append(DemoStatus(t, spec.map_name, how, True, "", km.map_info(fd).id))
        return out

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

    # -- environment: cgroup, veth pair, netns child ---------------------------------------------

    @staticmethod
    def _remove_stale_cgroups(root: str) -> None:
        """rmdir empty demo cgroups left by a demo process that was killed (SIGKILL skips stop())."""
        for entry in os.listdir(root):
            if not entry.startswith("mapexplorer_demo_"):
                continue
            pid = entry.removeprefix("mapexplorer_demo_").partition("x")[0]
            if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                with contextlib.suppress(OSError):  # not empty or already gone: leave it
                    os.rmdir(os.path.join(root, entry))

    def _mount_private_cgroup2(self) -> str:
        """Mount a cgroup2 hierarchy on a temp dir (hosts that mount only cgroup v1); unmounted on stop."""
        path = tempfile.mkdtemp(prefix="mapexplorer_cg2_")
        self._stack.callback(os.rmdir, path)
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.mount(b"none", path.encode(), b"cgroup2", 0, None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"mount cgroup2: {os.strerror(err)}")
        self._stack.callback(lambda: libc.umount2(path.encode(), 2))  # MNT_DETACH
        return path

    def _setup_cgroup(self) -> None:
        root = cgroup2_root() or self._mount_private_cgroup2()
        self._remove_stale_cgroups(root)
        path = os.path.join(root, f"mapexplorer_demo_{self._tag}")
        os.mkdir(path)
        self._cg_path = path
        self._stack.callback(self._remove_cgroup, path)
        self._cg_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        self._stack.callback(os.close, self._cg_fd)

    @staticmethod
    def _remove_cgroup(path: str) -> None:
        for _ in range(50):
            try:
                os.rmdir(path)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.05)  # the last process is still exiting
        os.rmdir(path)

    def _ip(self, *args: str) -> None:
        proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
        if proc.returncode:
            raise OSError(f"ip {' '.join(args)}: {proc.stderr.strip()}")

    def _del_link(self) -> None:
        subprocess.run(["ip", "link", "del", self._host_if], capture_output=True, check=False)

    def _pick_subnet(self) -> None:
        """A 10.77.N.0/24 no interface of this host uses (other demo sessions may run)."""
        out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True,
                             check=False).stdout
        start = (os.getpid() * 10 + int(self._tag[-1])) % 250
        for i in range(250):
            n = (start + i) % 250 + 1
            if f" 10.77.{n}." not in out:
                self._host_ip, self._peer_ip = f"10.77.{n}.1", f"10.77.{n}.2"
                return
        raise OSError("no free 10.77.N.0/24 subnet for the veth pair")

    def _setup_net(self) -> None:
        self._pick_subnet()
        self._ip("link", "add", self._host_if, "type", "veth", "peer", "name", self._peer_if)
        self._stack.callback(self._del_link)
        self._child_log = self._stack.enter_context(tempfile.TemporaryFile(mode="w+"))  # noqa: SIM115
        env = dict(os.environ)
        pkg_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_root, env.get("PYTHONPATH", "")) if p)
        child = subprocess.Popen(
            [sys.executable, "-m", "mapexplorer.demo_bpf.traffic"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._child_log, text=True, env=env,
        )
        self._child = child
        self._stack.callback(self._stop_child)
        self._expect(child, "ready")
        if self._cg_path:
            with open(os.path.join(self._cg_path, "cgroup.procs"), "w") as f:
                f.write(str(child.pid))
        self._ip("link", "set", self._peer_if, "netns", str(child.pid))
        self._ip("addr", "add", f"{self._host_ip}/24", "dev", self._host_if)
        self._ip("link", "set", self._host_if, "up")
        self._host_ifindex = socket.if_nametoindex(self._host_if)
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((self._host_ip, 0))
        server.listen(16)
        self._tcp_port = server.getsockname()[1]
        self._stack.callback(server.close)
        thread = threading.Thread(target=self._tcp_server, args=(server,), name="demo-tcp", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _expect(self, child: subprocess.Popen[str], word: str, timeout: float = 15.0) -> None:
        assert child.stdout is not None
        ready, _, _ = select.select([child.stdout], [], [], timeout)
        line = child.stdout.readline().strip() if ready else ""
        if line != word:
            self._child_log.seek(0)
            errors = self._child_log.read().strip().splitlines()
            why = errors[-1] if errors else f"got {line!r}"
            raise OSError(f"traffic child did not say {word!r}: {why}")

    def _start_child_traffic(self) -> None:
        child = self._child
        if child is None or child.stdin is None:
            raise OSError("no traffic child")
        cfg = {"peer": self._peer_if, "peer_ip": self._peer_ip, "host_ip": self._host_ip,
               "tcp_port": self._tcp_port, "congestion": self._cc_name if "demo_tcp_cc" in self._fds else ""}
        child.stdin.write(json.dumps(cfg) + "\n")
        child.stdin.flush()
        self._expect(child, "up")

    def _stop_child(self) -> None:
        child = self._child
        if child is None:
            return
        if child.stdin:
            with contextlib.suppress(OSError):
                child.stdin.close()
        try:
            child.wait(timeout=3)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        if child.stdout:
            child.stdout.close()
        self._child = None

    def _tcp_server(self, server: socket.socket) -> None:
        server.settimeout(0.2)
        conns: list[socket.socket] = []
        try:
            while not self._stop_event.is_set():
                try:
                    conn, _ = server.accept()
                    conn.setblocking(False)
                    conns.append(conn)
                except (TimeoutError, BlockingIOError):
                    pass
                if conns:
                    readable, _, _ = select.select(conns, [], [], 0.05)
                    for c in readable:
                        try:
                            data = c.recv(65536)
                        except OSError:
                            data = b""
                        if not data:
                            conns.remove(c)
                            c.close()
        finally:
            for c in conns:
                c.close()

    # -- maps created with raw bpf() -------------------------------------------------------------

    def _make_bloom(self) -> None:
        assert self._btf is not None
        fd = self._create("bloom_filter", "demo_bloom", 0, 16, 1024, map_extra=3,
                          btf_value_type_id=self._btf.comm)
        with km.Map(os.dup(fd)) as m:
            for comm in (b"systemd", b"sshd", b"bash", b"python3", b"mapexplorer"):
                m.update(None, comm.ljust(16, b"\0"))

    def _make_reuseport(self) -> None:
        assert self._btf is not None
        fd = self._create("reuseport_sockarray", "demo_reuseport", 4, 8, REUSEPORT_SOCKS,
                          btf_key_type_id=self._btf.u32, btf_value_type_id=self._btf.u64)
        port = 0
        for _ in range(REUSEPORT_SOCKS):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._stack.callback(s.close)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind(("127.0.0.1", port))
            s.setblocking(False)
            port = s.getsockname()[1]
            self._reuse_socks.append(s)
        with km.Map(os.dup(fd)) as m:
            for i, s in enumerate(self._reuse_socks):
                m.update(struct.pack("<I", i), struct.pack("<Q", s.fileno()))

    def _make_devmap_hash(self) -> None:
        assert self._btf is not None
        fd = self._create("devmap_hash", "demo_devhash", 4, 8, 16,
                          btf_key_type_id=self._btf.u32, btf_value_type_id=self._btf.port)
        ports = [1]
        if self._host_ifindex:
            ports.append(self._host_ifindex)
        with km.Map(os.dup(fd)) as m:
            for ifindex in ports:
                m.update(struct.pack("<I", 1000 + ifindex), struct.pack("<II", ifindex, 0))

    def _make_user_ringbuf(self) -> None:
        fd = self._create("user_ringbuf", "demo_user_rb", 0, 0, USER_RB_SIZE)
        self._user_rb = mmap.mmap(fd, PAGE + 2 * USER_RB_SIZE, mmap.MAP_SHARED,
                                  mmap.PROT_READ | mmap.PROT_WRITE, offset=PAGE)
        self._stack.callback(self._close_mmap, "_user_rb")
        for _ in range(16):
            self._user_rb_write(f"startup record {self._user_rb_seq}")

    def _load_drainer(self) -> None:
        """A hand-assembled SYSCALL program that drains the user ringbuf (BPF_PROG_TEST_RUN)."""
        from mapexplorer.demo_bpf.asm import load_user_ringbuf_drainer

        prog, btf = load_user_ringbuf_drainer(self._fds["demo_user_rb"])
        self._stack.callback(os.close, btf)
        self._stack.callback(os.close, prog)
        self._raw_prog_ids.append(prog_info(prog).id)
        self._drainer = prog

    def _user_rb_tick(self, tick: int) -> None:
        """One record per tick; when the ring is half full, the drainer program consumes it."""
        from mapexplorer.demo_bpf.asm import test_run

        if self._user_rb is None:
            return
        self._user_rb_write(f"tick {tick} from pid {os.getpid()}")
        if self._drainer >= 0 and self._user_rb_fill() > USER_RB_SIZE // 2:
            self.user_rb_drained += test_run(self._drainer)

    def _user_rb_fill(self) -> int:
        """Bytes produced and not yet consumed."""
        assert self._user_rb is not None
        cons = mmap.mmap(self._fds["demo_user_rb"], PAGE, mmap.MAP_SHARED, mmap.PROT_READ)
        try:
            cons_pos = struct.unpack_from("<Q", cons, 0)[0]
        finally:
            cons.close()
        return struct.unpack_from("<Q", self._user_rb, 0)[0] - cons_pos

    def _user_rb_write(self, text: str) -> bool:
        """Produce one record {seq, ts_ns, pid, text[40]} through the user ringbuf's mmap."""
        rb = self._user_rb
        assert rb is not None and "demo_user_rb" in self._fds
        prod_pos = struct.unpack_from("<Q", rb, 0)[0]
        payload = struct.pack("<QQI40s", self._user_rb_seq, time.monotonic_ns(), os.getpid(),
                              text.encode()[:40])
        total = (len(payload) + 8 + 7) & ~7
        if self._user_rb_fill() + total > USER_RB_SIZE:
            return False  # full: nobody drains it on this host
        off = PAGE + (prod_pos & (USER_RB_SIZE - 1))
        struct.pack_into("<II", rb, off, len(payload) | BUSY_BIT, 0)
        rb[off + 8 : off + 8 + len(payload)] = payload
        struct.pack_into("<Q", rb, 0, prod_pos + total)
        struct.pack_into("<I", rb, off, len(payload))
        self._user_rb_seq += 1
        return True

    def _make_arena(self) -> None:
        fd = self._create("arena", "demo_arena", 0, 0, ARENA_PAGES, flags=sc.BPF_F_MMAPABLE)
        self._arena = mmap.mmap(fd, ARENA_PAGES * PAGE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self._stack.callback(self._close_mmap, "_arena")
        header = b"mapexplorer demo arena: page 0 counters, page 1 text\n"
        self._arena[PAGE : PAGE + len(header)] = header
        self._arena_tick()

    def _load_arena_allocator(self) -> None:
        """A hand-assembled SYSCALL program (kfunc bpf_arena_alloc_pages) that adds a page now and
        then, so the arena grows live."""
        from mapexplorer.demo_bpf.asm import load_arena_allocator

        kfunc = vmlinux().find("bpf_arena_alloc_pages", KIND_FUNC)
        prog, btf = load_arena_allocator(self._fds["demo_arena"], kfunc)
        self._stack.callback(os.close, btf)
        self._stack.callback(os.close, prog)
        self._raw_prog_ids.append(prog_info(prog).id)
        self._arena_alloc = prog

    def arena_bytes(self, offset: int, size: int) -> bytes:
        """Bytes of the demo arena through this session's mapping (an arena can be mapped only once per
        address space, at one address); empty when there is no arena."""
        if self._arena is None:
            return b""
        return bytes(self._arena[offset : offset + size])

    def _arena_tick(self, tick: int = 0) -> None:
        if self._arena is None:
            return
        if self._arena_alloc >= 0 and tick % 10 == 0:
            from mapexplorer.demo_bpf.asm import test_run

            if test_run(self._arena_alloc):
                self.arena_pages_allocated += 1
            else:
                self._arena_alloc = -1  # full: stop asking
        counters = list(struct.unpack_from("<8Q", self._arena, 0))
        counters[0] += 1
        counters[1] = time.monotonic_ns()
        counters[2 + counters[0] % 6] += counters[0]
        struct.pack_into("<8Q", self._arena, 0, *counters)

    def _close_mmap(self, attr: str) -> None:
        m = getattr(self, attr)
        if m is not None:
            m.close()
            setattr(self, attr, None)

    def _make_cgrp_storage(self) -> None:
        assert self._btf is not None
        if self._cg_fd < 0:
            raise OSError("no demo cgroup")
        self._create("cgrp_storage", "demo_cgrp_store", 4, 56, 0, flags=sc.BPF_F_NO_PREALLOC,
                     btf_key_type_id=self._btf.int, btf_value_type_id=self._btf.cgrp_stats)
        self._key_fds["demo_cgrp_store"] = [self._cg_fd]
        self._cgrp_tick()

    def _cgrp_tick(self) -> None:
        if "demo_cgrp_store" not in self._fds or self._cg_fd < 0 or self._cg_path is None:
            return
        with open(os.path.join(self._cg_path, "cgroup.procs")) as f:
            procs = len(f.read().split())
        with self._map("demo_cgrp_store") as m:
            try:
                old = m.lookup(struct.pack("<i", self._cg_fd))
                updates = struct.unpack_from("<I", old, 12)[0] + 1
            except FileNotFoundError:
                updates = 1
            name = os.path.basename(self._cg_path).encode()[:32]
            value = struct.pack("<QII32sQ", time.monotonic_ns(), procs, updates, name, updates * 4096)
            m.update(struct.pack("<i", self._cg_fd), value)

    # -- the BCC module --------------------------------------------------------------------------

    def _compile(self) -> None:
        from importlib.resources import files

        bcc = self._bcc
        assert bcc is not None
        src = files("mapexplorer.demo_bpf").joinpath("demo.c").read_text()
        cflags = ["-w"]  # BCC's rewriter output draws harmless clang warnings
        # One W_<TYPE> per requested demo: the module declares only those maps and programs.
        cflags += [f"-DW_{t.upper()}=1" for t in self.types if t not in self._skip]
        host_ip = socket.inet_aton(self._host_ip) if self._host_ip else bytes(4)
        cflags.append(f"-DDEMO_HOST_IP={struct.unpack('<I', host_ip)[0]:#x}")
        cflags.append(f"-DDEMO_NCPU={km.possible_cpu_count()}")
        cflags.append(f"-DDEMO_XSK_PORT={XSK_PORT}")
        if "demo_bloom" in self._fds:
            cflags.append(f"-DBLOOM_FD={self._fds['demo_bloom']}")
        if "demo_reuseport" in self._fds:
            cflags.append(f"-DREUSEPORT_FD={self._fds['demo_reuseport']}")
            cflags.append(f"-DREUSEPORT_SOCKS={REUSEPORT_SOCKS}")
        self._bpf = bcc.BPF(text=src.encode(), cflags=cflags)
        self._stack.callback(self._bpf.cleanup)
        lib = __import__("bcc.libbcc", fromlist=["lib"]).lib
        for spec_name in [s.map_name for s in CATALOG] + list(EXTRA_MAP_NAMES):
            if spec_name in self._fds:
                continue
            fd = lib.bpf_table_fd(self._bpf.module, spec_name.encode())
            if fd >= 0:
                self._own(spec_name, os.dup(fd))

    def _fill_bcc(self) -> None:
        b, bcc = self._bpf, self._bcc
        assert b is not None and bcc is not None
        self._attempt(("prog_array",), "tail calls", self._fill_tail_calls)
        self._attempt(("queue", "stack"), "queue/stack seed", self._seed_queue_stack)
        self._attempt(("array_of_maps", "hash_of_maps"), "inner maps", self._fill_map_of_maps)
        self._attempt(("lpm_trie",), "routes", self._fill_routes)
        if self._wanted("lpm_trie"):
            self._attempt(("lpm_trie",), "XDP", self._attach_xdp)
        else:
            redirect = next((t for t in ("cpumap", "devmap", "xskmap") if self._wanted(t)), None)
            if redirect:
                self._optional(redirect, "no XDP redirect", self._attach_xdp)
        self._optional("percpu_array", "no tc counters", self._attach_tc)
        self._attempt(("devmap",), "devmap", self._fill_devmap)
        self._attempt(("cpumap",), "cpumap", self._fill_cpumap)
        self._attempt(("xskmap",), "AF_XDP", self._fill_xskmap)
        self._attempt(("cgroup_array",), "cgroup_array", self._fill_cgroup_array)
        cg_skb = ("cgroup_storage", "percpu_cgroup_storage", "sk_storage")
        self._attempt(cg_skb, "cgroup_skb", self._attach_cg_skb)
        self._attempt(("sockmap", "sockhash"), "sock_ops", self._attach_sockops)
        self._attempt(("reuseport_sockarray",), "SK_REUSEPORT", self._attach_reuseport)
        self._attempt(("inode_storage",), "inode_storage", self._fill_inode_storage)
        self._optional("inode_storage", "LSM program refused, filled from userspace", self._attach_lsm)
        self._attempt(("sk_storage",), "sk_storage", self._fill_sk_storage)
        self._attempt(("task_storage",), "task_storage", self._task_storage_key)
        self._attempt(("struct_ops",), "struct_ops", self._make_struct_ops)
        self._attempt(("perf_event_array", "ringbuf"), "consumers", self._open_consumers)

    def _seed_queue_stack(self) -> None:
        """One record each from userspace, so both show content before the first exec/close.
        BPF_EXIST: when the programs already filled them, the oldest record makes room."""
        comm = b"mapexplorer".ljust(16, b"\0")
        if self._wanted("queue"):
            with self._map("demo_queue_exec") as m:
                m.update(None, struct.pack("<QII16s", time.monotonic_ns(), os.getpid(), os.getppid(), comm),
                         sc.BPF_EXIST)
        if self._wanted("stack"):
            with self._map("demo_lifo_close") as m:
                m.update(None, struct.pack("<QIi", time.monotonic_ns(), os.getpid(), -1), sc.BPF_EXIST)

    def _fill_tail_calls(self) -> None:
        b, bcc = self._bpf, self._bcc
        assert b is not None and bcc is not None
        even = b.load_func(b"demo_tail_even", bcc.BPF.TRACEPOINT)
        odd = b.load_func(b"demo_tail_odd", bcc.BPF.TRACEPOINT)
        with self._map("demo_tail_calls") as m:
            m.update(struct.pack("<I", 0), struct.pack("<I", even.fd))
            m.update(struct.pack("<I", 1), struct.pack("<I", odd.fd))

    def _inner_array(self, name: str) -> int:
        """An inner map shaped like the template demo_inner0 (u32 -> u64, 8 slots), with BTF."""
        assert self._btf is not None
        return self._create("array", name, 4, 8, 8, btf_key_type_id=self._btf.u32,
                            btf_value_type_id=self._btf.u64)

    def _fill_map_of_maps(self) -> None:
        if self._wanted("array_of_maps"):
            shards = [self._fds["demo_inner0"]] + [self._inner_array(f"demo_inner{i}") for i in range(1, 4)]
            with self._map("demo_aom_shards") as m:
                for i, fd in enumerate(shards):
                    m.update(struct.pack("<I", i), struct.pack("<I", fd))
        if self._wanted("hash_of_maps"):
            tenants = [self._inner_array(f"demo_tenant{i}") for i in range(4)]
            with self._map("demo_hom_tenant") as m:
                for i, fd in enumerate(tenants):
                    m.update(struct.pack("<I", i), struct.pack("<I", fd))

    def _routes(self) -> list[tuple[str, int, str, int, int]]:
        """(prefix, length, label, metric, flags)."""
        net = self._host_ip.rsplit(".", 1)[0]
        return [
            ("0.0.0.0", 0, "default", 1000, 0),
            ("10.0.0.0", 8, "rfc1918-10", 100, 0),
            ("10.77.0.0", 16, "demo-fabric", 50, 0),
            (f"{net}.0", 24, "demo-veth-link", 10, 0),
            (self._host_ip, 32, "demo-host-local", 0, 1),
            ("172.16.0.0", 12, "rfc1918-172", 100, 0),
            ("192.168.0.0", 16, "rfc1918-192", 100, 0),
            ("192.0.2.0", 24, "test-net-1", 200, 0),
            ("198.51.100.0", 24, "test-net-2", 200, 0),
            ("203.0.113.0", 24, "test-net-3", 200, 0),
            ("8.8.8.0", 24, "public-dns", 300, 0),
        ]

    def _fill_routes(self) -> None:
        with self._map("demo_lpm_routes") as m:
            for prefix, plen, label, metric, flags in self._routes():
                key = struct.pack("<I4s", plen, socket.inet_aton(prefix))
                nexthop = socket.inet_aton(self._host_ip if flags else self._peer_ip)
                value = struct.pack("<4sIII20s4xQQ", nexthop, self._host_ifindex, metric, flags,
                                    label.encode(), 0, 0)
                m.update(key, value)

    def _attach_xdp(self) -> None:
        b, bcc = self._bpf, self._bcc
        assert b is not None and bcc is not None
        if not self._host_ifindex:
            raise OSError("no veth")
        fn = b.load_func(b"demo_xdp", bcc.BPF.XDP)
        link = loader.link_create(fn.fd, self._host_ifindex, loader.ATTACH_XDP)
        self._stack.callback(os.close, link)

    def _attach_tc(self) -> None:
        b, bcc = self._bpf, self._bcc
        assert b is not None and bcc is not None
        if not self._host_ifindex:
            raise OSError("no veth")
        for fn_name, attach in ((b"demo_tc_ingress", loader.ATTACH_TCX_INGRESS),
                                (b"demo_tc_egress", loader.ATTACH_TCX_EGRESS)):
            fn = b.load_func(fn_name, bcc.BPF.SCHED_CLS)
            self._stack.callback(os.close, loader.link_create(fn.fd, self._host_ifindex, attach))

    def _attach_lsm(self) -> None:
        """Count inode_permission checks on the tagged files (LSM; refused on some hosts)."""
        b = self._bpf
        assert b is not None
        hook = vmlinux().find("bpf_lsm_inode_permission", KIND_FUNC)
        prog = loader.load_raw_prog(b.dump_func(b"demo_lsm_inode_perm"), loader.PROG_TYPE_LSM,
                                    name="demo_lsm_inode", expected_attach_type=loader.ATTACH_LSM_MAC,
                                    attach_btf_id=hook)
        self._stack.callback(os.close, prog)
        self._raw_prog_ids.append(prog_info(prog).id)
        self._stack.callback(os.close, loader.link_create(prog, 0, loader.ATTACH_LSM_MAC))

    def _fill_devmap(self) -> None:
        with self._map("demo_devmap") as m:
            m.update(struct.pack("<I", 0), struct.pack("<i", 1))
            if self._host_ifindex:
                m.update(struct.pack("<I", 1), struct.pack("<i", self._host_ifindex))

    def _fill_cpumap(self) -> None:
        with self._map("demo_cpumap") as m:
            for cpu in km.possible_cpus():
                if cpu < 64:
                    m.update(struct.pack("<I", cpu), struct.pack("<I", 192 + 64 * cpu))

    def _fill_xskmap(self) -> None:
        from mapexplorer.demo_bpf.xsk import XdpSocket

        if not self._host_ifindex:
            raise OSError("no veth")
        xsk = XdpSocket(self._host_ifindex, 0)
        self._stack.callback(xsk.close)
        with self._map("demo_xskmap") as m:
            m.update(struct.pack("<I", 0), struct.pack("<i", xsk.fileno()))

    def _fill_cgroup_array(self) -> None:
        if self._cg_fd < 0:
            raise OSError("no demo cgroup")
        with self._map("demo_cgrp_array") as m:
            m.update(struct.pack("<I", 0), struct.pack("<I", self._cg_fd))

    def _attach_cg_skb(self) -> None:
        b, bcc = self._bpf, self._bcc
        assert b is not None and bcc is not None
        if self._cg_fd < 0:
            raise OSError("no demo cgroup")
        for fn_name, attach in (("demo_cg_ingress", loader.ATTACH_CGROUP_INET_INGRESS),
                                ("demo_cg_egress", loader.ATTACH_CGROUP_INET_EGRESS)):
            fn = b.load_func(fn_name.encode(), bcc.BPF.CGROUP_SKB)
            self._stack.callback(os.close, loader.link_create(fn.fd, self._cg_fd, attach))

    def _attach_sockops(self) -> None:
        b, bcc = self._bpf, self._bcc
        assert b is not None and bcc is not None
        if self._cg_fd < 0:
            raise OSError("no demo cgroup")
        fn = b.load_func(b"demo_sockops", bcc.BPF.SOCK_OPS)
        self._stack.callback(os.close, loader.link_create(fn.fd, self._cg_fd, loader.ATTACH_CGROUP_SOCK_OPS))

    def _attach_reuseport(self) -> None:
        b = self._bpf
        assert b is not None
        if not self._reuse_socks:
            raise OSError("no reuseport sockets")
        fn = b.load_func(b"demo_reuseport", loader.PROG_TYPE_SK_REUSEPORT)
        self._reuse_socks[0].setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, struct.pack("<i", fn.fd))

    def _fill_inode_storage(self) -> None:
        self._tmpdir = tempfile.mkdtemp(prefix="mapexplorer_demo_")
        self._stack.callback(shutil.rmtree, self._tmpdir, True)
        labels = [("config.yaml", 1, "config"), ("secrets.env", 3, "secret"), ("app.log", 2, "log")]
        with self._map("demo_inode_tags") as m:
            for fname, cls, label in labels:
                path = os.path.join(self._tmpdir, fname)
                with open(path, "w") as f:
                    f.write(f"demo file {fname}\n")
                fd = os.open(path, os.O_RDONLY)
                self._stack.callback(os.close, fd)
                self._key_fds.setdefault("demo_inode_tags", []).append(fd)
                value = struct.pack("<QII16sQ", time.monotonic_ns(), os.getpid(), cls, label.encode(), 0)
                m.update(struct.pack("<i", fd), value)

    def _fill_sk_storage(self) -> None:
        """A loopback TCP pair in this process, its sockets' storage written from userspace (the
        cgroup_skb program fills the traffic child's sockets)."""
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._stack.callback(server.close)
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        client = socket.create_connection(server.getsockname())
        self._stack.callback(client.close)
        peer, _ = server.accept()
        self._stack.callback(peer.close)
        with self._map("demo_sk_storage") as m:
            for i, s in enumerate((client, peer)):
                value = struct.pack("<QQQII", 10 + i, 1500 * (10 + i), time.monotonic_ns(), socket.AF_INET,
                                    socket.IPPROTO_TCP)
                m.update(struct.pack("<i", s.fileno()), value)
                self._key_fds.setdefault("demo_sk_storage", []).append(s.fileno())

    def _task_storage_key(self) -> None:
        """A pidfd of this process: the tracepoint gave its main thread task storage."""
        pidfd = os.pidfd_open(os.getpid())
        self._stack.callback(os.close, pidfd)
        self._key_fds["demo_task_store"] = [pidfd]

    def _make_struct_ops(self) -> None:
        b = self._bpf
        assert b is not None and self._btf is not None
        vm = vmlinux()
        ops = vm.struct("tcp_congestion_ops")
        wrapper = vm.struct("bpf_struct_ops_tcp_congestion_ops")
        _i, data = wrapper.member("data")
        base = data.bit_offset // 8
        value = bytearray(wrapper.size)
        for member, fn_name in (("ssthresh", "demo_cc_ssthresh"), ("cong_avoid", "demo_cc_cong_avoid"),
                                ("undo_cwnd", "demo_cc_undo_cwnd")):
            idx, m = ops.member(member)
            insns = b.dump_func(fn_name.encode())
            prog = loader.load_raw_prog(insns, loader.PROG_TYPE_STRUCT_OPS, name=fn_name[:15],
                                        expected_attach_type=idx, attach_btf_id=ops.id)
            self._stack.callback(os.close, prog)
            self._raw_prog_ids.append(prog_info(prog).id)
            struct.pack_into("<Q", value, base + m.bit_offset // 8, prog)
        _i, name_m = ops.member("name")
        off = base + name_m.bit_offset // 8
        value[off : off + 16] = self._cc_name.encode().ljust(16, b"\0")
        fd = self._own("demo_tcp_cc", km.create_map(
            MAP_TYPE_IDS["struct_ops"], 4, wrapper.size, 1, name="demo_tcp_cc", flags=loader.BPF_F_LINK,
            btf_fd=self._btf.fd, btf_vmlinux_value_type_id=wrapper.id))
        with km.Map(os.dup(fd)) as m:
            m.update(struct.pack("<I", 0), bytes(value))
        self._stack.callback(os.close, loader.link_create(fd, 0, loader.ATTACH_STRUCT_OPS))

    def _open_consumers(self) -> None:
        b = self._bpf
        assert b is not None

        def on_event(_cpu: int, _data: Any, _size: int) -> None:
            self.events_seen += 1

        def on_ring(_ctx: Any, _data: Any, _size: int) -> int:
            self.events_seen += 1
            return 0

        def on_lost(count: int) -> None:  # without it BCC prints "Possibly lost" into the TUI
            self.events_lost += count

        if self._wanted("perf_event_array"):
            b[b"demo_perf_evts"].open_perf_buffer(on_event, page_cnt=8, lost_cb=on_lost)
            self._stack.callback(self._close_perf_buffers)
        if self._wanted("ringbuf"):
            b[b"demo_ringbuf"].open_ring_buffer(on_ring)
        thread = threading.Thread(target=self._poll_events, name="demo-events", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _close_perf_buffers(self) -> None:
        """Free our perf readers even when someone took over the slots (``watch --takeover``) and left
        them empty: BCC's own clean-up raises KeyError on an empty slot and leaks the reader."""
        b = self._bpf
        lib = __import__("bcc.libbcc", fromlist=["lib"]).lib
        table = b[b"demo_perf_evts"]
        for key in list(table._open_key_fds):
            try:
                del table[key]
            except KeyError:  # slot already empty in the kernel: free what BCC holds for it
                reader = b.perf_buffers.pop((id(table), key), None)
                if reader is not None:
                    lib.perf_reader_free(reader)
                table._cbs.pop(key, None)
                table._open_key_fds.pop(key, None)

    def _poll_events(self) -> None:
        b = self._bpf
        while not self._stop_event.is_set():
            if self._wanted("perf_event_array"):
                b.perf_buffer_poll(timeout=100)
            else:
                self._stop_event.wait(0.1)
            if self._wanted("ringbuf"):
                b.ring_buffer_consume()

    # -- traffic from this process ---------------------------------------------------------------

    def _local_traffic(self) -> None:
        """Every 0.2 s: UDP into the reuseport group, arena and cgrp_storage updates, user ringbuf records,
        bloom inserts."""
        clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(8)]
        tick = 0
        try:
            while not self._stop_event.wait(0.2):
                tick += 1
                self._reuseport_tick(clients, tick)
                self._arena_tick(tick)
                self._user_rb_tick(tick)
                if tick % 5 == 0:
                    self._cgrp_tick()
        finally:
            for c in clients:
                c.close()

    def _reuseport_tick(self, clients: list[socket.socket], tick: int) -> None:
        if not self._reuse_socks:
            return
        port = self._reuse_socks[0].getsockname()[1]
        for i, c in enumerate(clients):
            if (tick + i) % 3 == 0:
                c.sendto(b"reuseport demo %d" % tick, ("127.0.0.1", port))
        for s in self._reuse_socks:
            with contextlib.suppress(BlockingIOError):
                while s.recv(2048):
                    pass

