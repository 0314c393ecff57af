"""The BCC part of the demo: compile demo.c with one W_<TYPE> per requested demo, attach its programs
(tail calls, XDP, tc, cgroup_skb, sock_ops, SK_REUSEPORT, LSM, struct_ops) and fill its maps.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import socket
import struct
import tempfile
import threading
import time
from typing import Any

from mapexplorer.codec import vmlinux
from mapexplorer.demo_bpf import loader
from mapexplorer.demo_bpf.catalog import (
    CATALOG,
    EXTRA_MAP_NAMES,
)
from mapexplorer.demo_bpf.state import (
    REUSEPORT_SOCKS,
    SO_ATTACH_REUSEPORT_EBPF,
    XSK_PORT,
    SessionState,
    vmlinux_id,
)
from mapexplorer.kernel import maps as km
from mapexplorer.kernel import syscall as sc
from mapexplorer.kernel import tee
from mapexplorer.kernel.names import MAP_TYPE_IDS
from mapexplorer.kernel.perf import claim_own_reader, release_own_reader
from mapexplorer.kernel.progs import load_prog, prog_info


class BccMixin(SessionState):
    """The BCC module: compile, attach, fill."""

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
        hook = vmlinux_id("bpf_lsm_inode_permission", "func")
        prog = load_prog(b.dump_func(b"demo_lsm_inode_perm"), loader.PROG_TYPE_LSM,
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

    @staticmethod
    def _remove_stale_tmpdirs() -> None:
        """Remove the tagged-file dirs of demo processes that were killed (SIGKILL skips stop())."""
        tmp = tempfile.gettempdir()
        for entry in os.listdir(tmp):
            if not entry.startswith("mapexplorer_demo_"):
                continue
            pid = entry.removeprefix("mapexplorer_demo_").partition("x")[0]
            if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                shutil.rmtree(os.path.join(tmp, entry), ignore_errors=True)

    def _fill_inode_storage(self) -> None:
        self._remove_stale_tmpdirs()
        self._tmpdir = tempfile.mkdtemp(prefix=f"mapexplorer_demo_{self._tag}_")
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
        ops = vm.type(vmlinux_id("tcp_congestion_ops", "struct"))
        wrapper = vm.type(vmlinux_id("bpf_struct_ops_tcp_congestion_ops", "struct"))
        _i, data = vm.member(wrapper.id, "data")
        base = data.bit_offset // 8
        value = bytearray(wrapper.size)
        for member, fn_name in (("ssthresh", "demo_cc_ssthresh"), ("cong_avoid", "demo_cc_cong_avoid"),
                                ("undo_cwnd", "demo_cc_undo_cwnd")):
            idx, m = vm.member(ops.id, member)
            insns = b.dump_func(fn_name.encode())
            prog = load_prog(insns, loader.PROG_TYPE_STRUCT_OPS, name=fn_name[:15],
                                        expected_attach_type=idx, attach_btf_id=ops.id)
            self._stack.callback(os.close, prog)
            self._raw_prog_ids.append(prog_info(prog).id)
            struct.pack_into("<Q", value, base + m.bit_offset // 8, prog)
        _i, name_m = vm.member(ops.id, "name")
        off = base + name_m.bit_offset // 8
        value[off : off + 16] = self._cc_name.encode().ljust(16, b"\0")
        fd = self._own("demo_tcp_cc", km.create_map(
            MAP_TYPE_IDS["struct_ops"], 4, wrapper.size, 1, name="demo_tcp_cc", flags=loader.BPF_F_LINK,
            btf_fd=self._btf.fd, btf_vmlinux_value_type_id=wrapper.id))
        with km.Map(os.dup(fd)) as m:
            m.update(struct.pack("<I", 0), bytes(value))
        self._stack.callback(os.close, loader.link_create(fd, 0, loader.ATTACH_STRUCT_OPS))

    def _open_consumers(self) -> None:
        """The demo's own readers of demo_perf_evts and demo_ringbuf, shared in-process through
        :mod:`mapexplorer.kernel.tee`: the TUI (``--demo``) watching either map gets copies of what
        these callbacks receive instead of installing a reader of its own (which, for the perf map,
        could only take the demo's slots over)."""
        b = self._bpf
        assert b is not None
        string_at = ctypes.string_at
        perf_tee: tee.StreamTee | None = None
        ring_tee: tee.StreamTee | None = None

        def on_event(cpu: int, data: Any, size: int) -> None:
            self.events_seen += 1
            if perf_tee is not None and perf_tee.active:
                perf_tee.feed(cpu, string_at(data, size))

        def on_ring(_ctx: Any, data: Any, size: int) -> int:
            self.events_seen += 1
            if ring_tee is not None and ring_tee.active:
                ring_tee.feed(None, string_at(data, size))
            return 0

        def on_lost(count: int) -> None:  # without it BCC prints "Possibly lost" into the TUI
            self.events_lost += count
            if perf_tee is not None:
                perf_tee.report_lost(count)

        owner = "the demo"
        if self._wanted("perf_event_array"):
            table = b[b"demo_perf_evts"]
            table.open_perf_buffer(on_event, page_cnt=8, lost_cb=on_lost)
            self._stack.callback(self._close_perf_buffers)
            # The TUI (--demo) runs in this process: it must never take these slots over; it shares
            # what this reader receives instead.
            perf_id = km.map_info(table.get_fd() if hasattr(table, "get_fd") else table.map_fd).id
            claim_own_reader(perf_id)
            self._stack.callback(release_own_reader, perf_id)
            perf_tee = tee.share(perf_id, owner)
            self._stack.callback(tee.unshare, perf_tee)
        if self._wanted("ringbuf"):
            ring = b[b"demo_ringbuf"]
            ring.open_ring_buffer(on_ring)
            ring_tee = tee.share(km.map_info(self._fds["demo_ringbuf"]).id, owner)
            self._stack.callback(tee.unshare, ring_tee)
        thread = threading.Thread(target=self._poll_events, name="demo-events", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _stacks_tick(self, tick: int) -> None:
        """Every tick (0.2 s): once demo_stacks is half full, delete stack ids down to a quarter, those no
        demo_stack_cnt key refers to first. A stack map takes each new stack from a free list that a full
        table has emptied, so from then on every bpf_get_stackid fails with ENOMEM (-12), with
        BPF_F_REUSE_STACKID or without: its consumer has to delete the ids it no longer needs."""
        fd = self._fds.get("demo_stacks")
        if fd is None:
            return
        stacks = km.Map(fd)  # not closed here: the fd is the session's
        ids: list[bytes] = []
        key: bytes | None = None
        while (key := stacks.next_key(key)) is not None:
            ids.append(key)
        cap = stacks.info.max_entries
        if len(ids) < cap // 2:
            return
        used: set[bytes] = set()
        counts_fd = self._fds.get("demo_stack_cnt")
        if counts_fd is not None:
            counts = km.Map(counts_fd)
            ck: bytes | None = None
            while (ck := counts.next_key(ck)) is not None:
                used.update((ck[4:8], ck[8:12]))
        ids.sort(key=lambda k: k in used)  # unreferenced ids go first
        for key in ids[: len(ids) - cap // 4]:
            with contextlib.suppress(FileNotFoundError):
                stacks.delete(key)

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
