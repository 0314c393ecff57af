"""Demo maps created with raw bpf() (types BCC 0.26 cannot create), and their userspace filling:
bloom_filter, reuseport_sockarray, devmap_hash, user_ringbuf (+ drainer), arena (+ allocator), cgrp_storage.
"""

from __future__ import annotations

import mmap
import os
import socket
import struct
import time

from mapexplorer.demo_bpf.state import (
    ARENA_PAGES,
    BUSY_BIT,
    PAGE,
    REUSEPORT_SOCKS,
    USER_RB_SIZE,
    SessionState,
    vmlinux_id,
)
from mapexplorer.kernel import maps as km
from mapexplorer.kernel import syscall as sc
from mapexplorer.kernel.progs import prog_info


class RawMapsMixin(SessionState):
    """Maps created with raw bpf(), filled and kept changing from userspace."""

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
        from mapexplorer.kernel.progs import run_once

        if self._user_rb is None:
            return
        self._user_rb_write(f"tick {tick} from pid {os.getpid()}")
        if self._drainer >= 0 and self._user_rb_fill() > USER_RB_SIZE // 2:
            self.user_rb_drained += run_once(self._drainer)

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

        kfunc = vmlinux_id("bpf_arena_alloc_pages", "func")
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
            from mapexplorer.kernel.progs import run_once

            if run_once(self._arena_alloc):
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
