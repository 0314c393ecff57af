"""BPF objects for the exporter tests: maps with BTF (an int-keyed counter, a struct-keyed flow table),
and a socket filter that adds 1 to the counter of key 7 per run (run with BPF_PROG_TEST_RUN ``repeat``).

Everything is created in the test process and closed (freed) by the ExitStack the caller passes.
"""

from __future__ import annotations

import ctypes
import os
import struct
from contextlib import ExitStack
from dataclasses import dataclass

from mapexplorer.btf.build import BtfBuilder
from mapexplorer.kernel import maps, progs
from mapexplorer.kernel import syscall as sc
from mapexplorer.kernel.btf_fetch import load_btf
from mapexplorer.kernel.names import map_type_id

COUNTED_KEY = 7
SOCKET_FILTER = 1
BPF_FUNC_map_lookup_elem = 1


@dataclass
class ExportMaps:
    counter: maps.Map
    flows: maps.Map
    fill: maps.Map
    many: maps.Map
    ring: maps.Map
    prog_fd: int


def _btf() -> tuple[bytes, dict[str, int]]:
    b = BtfBuilder()
    u32 = b.int("u32", 4)
    u64 = b.int("u64", 8)
    char = b.int("char", 1, signed=True)
    comm = b.array(char, 8, u32)
    key = b.struct("ex_key", 12, [("pid", u32, 0), ("comm", comm, 32)])
    val = b.struct("ex_val", 16, [("packets", u64, 0), ("bytes", u64, 64)])
    return b.blob(), {"u32": u32, "u64": u64, "key": key, "val": val}


def _counter_prog(map_fd: int) -> bytes:
    i = progs.insn
    return b"".join(
        [
            i(0xB7, 1, imm=COUNTED_KEY),  # r1 = 7
            i(0x63, 10, 1, off=-4),  # *(u32 *)(r10 - 4) = r1
            i(0xBF, 2, 10),  # r2 = r10
            i(0x07, 2, imm=-4),  # r2 += -4
            i(0x18, 1, 1, imm=map_fd),  # r1 = map (ld_imm64, BPF_PSEUDO_MAP_FD)
            i(0, 0, 0),
            i(0x85, imm=BPF_FUNC_map_lookup_elem),
            i(0x15, 0, off=2),  # if r0 == 0 goto exit
            i(0xB7, 1, imm=1),  # r1 = 1
            i(0xDB, 0, 1),  # lock *(u64 *)(r0 + 0) += r1
            i(0xB7, 0, imm=0),  # r0 = 0
            i(0x95),
        ]
    )


def create(stack: ExitStack, prefix: str = "ex") -> ExportMaps:
    blob, t = _btf()
    btf_fd = load_btf(blob)
    stack.callback(os.close, btf_fd)
    hash_t = map_type_id("hash")

    def new(name: str, ks: int, vs: int, n: int, kt: int = 0, vt: int = 0) -> maps.Map:
        fd = maps.create_map(
            hash_t,
            ks,
            vs,
            n,
            name=f"{prefix}_{name}",
            btf_fd=btf_fd if kt else 0,
            btf_key_type_id=kt,
            btf_value_type_id=vt,
        )
        m = maps.Map(fd)
        stack.callback(m.close)
        return m

    counter = new("calls", 4, 8, 16, t["u32"], t["u64"])
    counter.update(struct.pack("<I", COUNTED_KEY), struct.pack("<Q", 0))
    counter.update(struct.pack("<I", 3), struct.pack("<Q", 41))
    flows = new("flows", 12, 16, 16, t["key"], t["val"])
    for pid, comm, pkts, nbytes in [(100, b"curl", 3, 1500), (200, b"sshd", 9, 4200)]:
        flows.update(struct.pack("<I8s", pid, comm), struct.pack("<QQ", pkts, nbytes))
    fill = new("fill", 4, 8, 100)
    for k in range(37):
        fill.update(struct.pack("<I", k), struct.pack("<Q", k))
    many = new("many", 4, 8, 64, t["u32"], t["u64"])
    for k in range(50):
        many.update(struct.pack("<I", k), struct.pack("<Q", k))
    ring_fd = maps.create_map(map_type_id("ringbuf"), 0, 0, 4096, name=f"{prefix}_ring")
    ring = maps.Map(ring_fd)
    stack.callback(ring.close)
    prog_fd = progs.load_prog(_counter_prog(counter.fd), SOCKET_FILTER, name=f"{prefix}_count")
    stack.callback(os.close, prog_fd)
    return ExportMaps(counter, flows, fill, many, ring, prog_fd)


def run_counter(prog_fd: int, times: int) -> None:
    """Run the counting program ``times`` times in one BPF_PROG_TEST_RUN (on a 64-byte packet)."""
    pkt = ctypes.create_string_buffer(64)
    attr = sc.TestRunAttr(prog_fd=prog_fd, data_in=ctypes.addressof(pkt), data_size_in=64, repeat=times)
    sc.bpf(sc.BPF_PROG_TEST_RUN, attr)
