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
import os
import socket
import threading
import time
from collections.abc import Callable

from mapexplorer.demo_bpf import loader
from mapexplorer.demo_bpf.bccdemo import BccMixin
from mapexplorer.demo_bpf.catalog import (
    BY_TYPE,
    CATALOG,
    host_support,
    kernel_map_types,
)
from mapexplorer.demo_bpf.env import EnvironmentMixin
from mapexplorer.demo_bpf.rawmaps import RawMapsMixin
from mapexplorer.demo_bpf.state import (
    DemoEnvironment,
    DemoStatus,
    DemoSummary,
    Progress,
    RawBtf,
    one_line,
)
from mapexplorer.kernel import maps as km


class DemoSession(EnvironmentMixin, RawMapsMixin, BccMixin):
    """Loads the demos for ``types`` (all 33 when None) and keeps them alive until ``stop()``."""

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
        self._btf = RawBtf()
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
            if self._compile_with_fallback(bcc_types):
                say("attaching programs and filling maps")
                self._fill_bcc()
        say("starting traffic")
        self._attempt(net_types, "traffic", self._start_child_traffic)
        thread = threading.Thread(target=self._local_traffic, name="demo-traffic", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _compile_with_fallback(self, bcc_types: tuple[str, ...]) -> bool:
        """Compile demo.c; if that fails and the task_storage demo is in it, retry without it.

        BPF() loads the tracepoint programs itself, so one helper the kernel lacks fails the whole
        module; task storage from a tracepoint is the newest feature among them (older kernels refuse it).
        """
        try:
            self._compile()
        except Exception as exc:  # BCC raises plain Exception; the reason is kept for the summary
            reason = f"BCC: {one_line(exc)}"
        else:
            return True
        if self._wanted("task_storage"):
            self._skip["task_storage"] = reason
            return self._attempt(bcc_types, "BCC", self._compile)
        for t in bcc_types:
            self._skip.setdefault(t, reason)
        return False

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

    # -- traffic from this process ---------------------------------------------------------------

    def _local_traffic(self) -> None:
        """Every 0.2 s: UDP into the reuseport group, arena pages and counters, user ringbuf records, every
        second the cgrp_storage stats, and room made in the stack map. A failing step is
        counted in ``traffic_errors`` (with the last message in ``last_traffic_error``) and tried again
        on the next tick; nothing is printed, since a TUI may own the terminal."""
        clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(8)]
        tick = 0
        steps: list[Callable[[int], None]] = [
            lambda t: self._reuseport_tick(clients, t),
            self._arena_tick,
            self._user_rb_tick,
            self._stacks_tick,
            lambda t: self._cgrp_tick() if t % 5 == 0 else None,
        ]
        try:
            while not self._stop_event.wait(0.2):
                tick += 1
                for step in steps:
                    try:
                        step(tick)
                    except OSError as exc:
                        self.traffic_errors += 1
                        self.last_traffic_error = one_line(exc)
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
