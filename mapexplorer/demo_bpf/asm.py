"""Hand-assembled programs for what BCC 0.26 cannot compile: a callback (bpf_user_ringbuf_drain) and
a kfunc call (bpf_arena_alloc_pages).

Both are sleepable SYSCALL programs run on demand with BPF_PROG_TEST_RUN; each carries a minimal BTF
blob with func_info (the verifier requires it for callback subprograms).
"""

from __future__ import annotations

import os
import struct

from mapexplorer.btf.build import BtfBuilder
from mapexplorer.kernel.btf_fetch import load_btf
from mapexplorer.kernel.progs import insn as _insn
from mapexplorer.kernel.progs import load_prog

PROG_TYPE_SYSCALL = 31
HELPER_USER_RINGBUF_DRAIN = 209
PSEUDO_MAP_FD = 1
PSEUDO_FUNC = 4
PSEUDO_KFUNC_CALL = 2
BPF_F_SLEEPABLE = 1 << 4


def _ld_imm64(dst: int, src: int, imm: int) -> bytes:
    return _insn(0x18, dst, src, 0, imm) + _insn(0, 0, 0, 0, 0)


def _mov_imm(dst: int, imm: int) -> bytes:
    return _insn(0xB7, dst, 0, 0, imm)


CALL, EXIT = 0x85, 0x95


def _main_types(b: BtfBuilder) -> tuple[int, int, int]:
    """Types 1..3 of both blobs: int, void *, and the prototype int (void *ctx); returns their ids."""
    int_ = b.int("int", 4, signed=True)
    voidp = b.ptr(0)
    return int_, voidp, b.func_proto(int_, [("ctx", voidp)])


def _drain_btf() -> bytes:
    """int main(void *ctx); static long cb(void *dynptr, void *ctx) -- as BTF types 1..6."""
    b = BtfBuilder()
    int_, voidp, main_proto = _main_types(b)
    b.func("demo_urb_drain", main_proto, linkage=0)  # 4 FUNC static
    cb_proto = b.func_proto(int_, [("dynptr", voidp), ("data", voidp)])  # 5
    b.func("demo_urb_cb", cb_proto, linkage=0)  # 6 FUNC static
    return b.blob()


def _main_only_btf(func_name: str) -> bytes:
    """int <func_name>(void *ctx) -- as BTF types 1..4."""
    b = BtfBuilder()
    b.func(func_name, _main_types(b)[2], linkage=0)  # 4 FUNC static
    return b.blob()


def _load_syscall_prog(insns: bytes, name: str, btf: bytes, func_info: bytes) -> tuple[int, int]:
    """BPF_PROG_LOAD a sleepable SYSCALL program with BTF func_info; returns (prog fd, btf fd)."""
    btf_fd = load_btf(btf)
    try:
        prog_fd = load_prog(
            insns,
            PROG_TYPE_SYSCALL,
            name=name,
            prog_flags=BPF_F_SLEEPABLE,  # SYSCALL programs must be sleepable
            prog_btf_fd=btf_fd,
            func_info=func_info,
        )
    except OSError:
        os.close(btf_fd)
        raise
    return prog_fd, btf_fd


def load_arena_allocator(map_fd: int, kfunc_btf_id: int) -> tuple[int, int]:
    """A SYSCALL program that allocates one page in the arena ``map_fd`` per run and returns 1 (0 when
    the arena is full), calling bpf_arena_alloc_pages by its vmlinux BTF id; returns (prog fd, btf fd).
    """
    insns = b"".join(
        [
            _ld_imm64(1, PSEUDO_MAP_FD, map_fd),  # r1 = arena
            _mov_imm(2, 0),  # r2 = any address
            _mov_imm(3, 1),  # r3 = one page
            _mov_imm(4, -1),  # r4 = NUMA_NO_NODE
            _mov_imm(5, 0),  # r5 = flags
            _insn(CALL, 0, PSEUDO_KFUNC_CALL, 0, kfunc_btf_id),  # r0 = page address or NULL
            _insn(0x15, 0, 0, 2, 0),  # if r0 == 0 goto +2
            _mov_imm(0, 1),
            _insn(EXIT),  # 1: allocated
            _mov_imm(0, 0),
            _insn(EXIT),  # 0: the arena is full
        ]
    )
    return _load_syscall_prog(insns, "demo_arena_alloc", _main_only_btf("demo_arena_alloc"),
                              struct.pack("<2I", 0, 4))


def load_user_ringbuf_drainer(map_fd: int) -> tuple[int, int]:
    """Load a SYSCALL program that drains ``map_fd`` (a user_ringbuf); returns (prog fd, btf fd)."""
    cb_idx = 8
    insns = b"".join(
        [
            _ld_imm64(1, PSEUDO_MAP_FD, map_fd),  # 0-1: r1 = map
            _ld_imm64(2, PSEUDO_FUNC, cb_idx - 2 - 1),  # 2-3: r2 = callback
            _mov_imm(3, 0),  # 4: r3 = ctx
            _mov_imm(4, 0),  # 5: r4 = flags
            _insn(CALL, imm=HELPER_USER_RINGBUF_DRAIN),  # 6: r0 = records drained
            _insn(EXIT),  # 7
            _mov_imm(0, 0),  # 8: callback: keep draining
            _insn(EXIT),  # 9
        ]
    )
    return _load_syscall_prog(insns, "demo_urb_drain", _drain_btf(), struct.pack("<4I", 0, 4, cb_idx, 6))
