"""A ringbuf that nobody reads, for the stream-safety tests: a BPF_MAP_TYPE_RINGBUF map and a tiny
raw_tracepoint program that writes one 8-byte record (``ctx->args[0]``) into it per
``BPF_PROG_TEST_RUN``. No BCC: the map can then be pinned, or kept alive by the program alone, with no
process holding a map fd, which is the case where a reader is restarting.
"""

from __future__ import annotations

import contextlib
import os
import struct

from mapexplorer.kernel import maps, progs, ringbuf
from mapexplorer.kernel.names import map_type_id

BPF_PROG_TYPE_RAW_TRACEPOINT = 17
BPF_FUNC_RINGBUF_OUTPUT = 130
BPF_PSEUDO_MAP_FD = 1
RECORD = 8  # bytes of one record's sample (plus an 8-byte header in the ring)


class Emitter:
    """A ringbuf map named ``name`` and the program writing into it; this process holds only the program
    after :meth:`drop_map_fd` (and the pin, if :meth:`pin` was called)."""

    def __init__(self, name: str = "hd_rb", size: int = 4096 * 4) -> None:
        self.map_fd = maps.create_map(map_type_id("ringbuf"), 0, 0, size, name=name)
        self.map_id = maps.map_info(self.map_fd).id
        self.size = size
        self.pin_path: str | None = None
        insns = b"".join(
            [
                progs.insn(0x79, dst=6, src=1),  # r6 = *(u64 *)(r1 + 0): args[0]
                progs.insn(0x7B, dst=10, src=6, off=-8),  # *(u64 *)(r10 - 8) = r6
                progs.insn(0x18, dst=1, src=BPF_PSEUDO_MAP_FD, imm=self.map_fd),  # r1 = map
                progs.insn(0x00),
                progs.insn(0xBF, dst=2, src=10),  # r2 = r10
                progs.insn(0x07, dst=2, imm=-8),  # r2 += -8
                progs.insn(0xB7, dst=3, imm=RECORD),  # r3 = 8
                progs.insn(0xB7, dst=4, imm=0),  # r4 = 0
                progs.insn(0x85, imm=BPF_FUNC_RINGBUF_OUTPUT),  # call bpf_ringbuf_output
                progs.insn(0xB7, dst=0, imm=0),  # r0 = 0
                progs.insn(0x95),  # exit
            ]
        )
        try:
            self.prog_fd = progs.load_prog(insns, BPF_PROG_TYPE_RAW_TRACEPOINT, name="hd_rb_emit")
        except BaseException:
            os.close(self.map_fd)
            raise
        self.emitted = 0

    def emit(self, n: int) -> None:
        """Write ``n`` records carrying the sequence numbers that follow the last ones."""
        for _ in range(n):
            progs.run_once(self.prog_fd, struct.pack("<Q", self.emitted))
            self.emitted += 1

    def pin(self, path: str) -> None:
        maps.obj_pin(self.map_fd, path)
        self.pin_path = path

    def drop_map_fd(self) -> None:
        """Close our map fd: the map lives on through the program (and the pin)."""
        if self.map_fd >= 0:
            os.close(self.map_fd)
            self.map_fd = -1

    def consumer_position(self) -> int:
        """The ringbuf's consumer position now, read through a read-only mapping of its consumer page."""
        fd = maps.open_map(self.map_id, write=True)  # mmap of a bpf map needs a writable fd
        try:
            with ringbuf.RingBufReader(fd, self.size, consume=False) as r:
                return r.positions().consumer
        finally:
            os.close(fd)

    def close(self) -> None:
        self.drop_map_fd()
        if self.prog_fd >= 0:
            os.close(self.prog_fd)
            self.prog_fd = -1
        if self.pin_path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.pin_path)
            self.pin_path = None

    def __enter__(self) -> Emitter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
