"""Real maps with hand-made BTF for the write-mode tests (names start with ``wr_``), held open by the test
process and closed by an ExitStack.

Value type of the struct maps (56 bytes)::

    enum color { RED, GREEN, BLUE };
    struct inner { u16 a; u8 flags; char tag[8]; };            // a@0 flags@2 tag@3, 12 bytes
    struct stats { u64 count; struct inner in; enum color c; u32 arr[3]; s32 neg; bool on; float f;
                   u64 last; };                                  // in@8 c@20 arr@24 neg@36 on@40 f@44 last@48
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass

from mapexplorer.btf.build import BtfBuilder
from mapexplorer.kernel import maps
from mapexplorer.kernel.btf_fetch import load_btf
from mapexplorer.kernel.names import map_type_id

STATS_SIZE = 56


@dataclass
class Types:
    u8: int
    u32: int
    u64: int
    stats: int
    lpm_key: int
    locked: int
    blob: bytes


def build_types() -> Types:
    b = BtfBuilder()
    u8 = b.int("u8", 1)
    u16 = b.int("u16", 2)
    u32 = b.int("u32", 4)
    u64 = b.int("u64", 8)
    s32 = b.int("s32", 4, signed=True)
    char = b.int("char", 1, char=True)
    bool_ = b.int("bool", 1, bool_=True)
    flt = b.float("float", 4)
    color = b.enum("color", 4, [("RED", 0), ("GREEN", 1), ("BLUE", 2)])
    tag = b.array(char, 8, u32)
    inner = b.struct("inner", 12, [("a", u16, 0), ("flags", u8, 16), ("tag", tag, 24)])
    arr3 = b.array(u32, 3, u32)
    stats = b.struct("stats", STATS_SIZE, [
        ("count", u64, 0), ("in", inner, 64), ("c", color, 160), ("arr", arr3, 192), ("neg", s32, 288),
        ("on", bool_, 320), ("f", flt, 352), ("last", u64, 384),
    ])
    data4 = b.array(u8, 4, u32)
    lpm_key = b.struct("lpm_v4", 8, [("prefixlen", u32, 0), ("data", data4, 32)])
    lock = b.struct("bpf_spin_lock", 4, [("val", u32, 0)])
    locked = b.struct("locked", 8, [("lock", lock, 0), ("v", u32, 32)])
    return Types(u8, u32, u64, stats, lpm_key, locked, b.blob())


class WriteMaps:
    """Create maps typed with :func:`build_types`'s BTF; all closed with the stack."""

    def __init__(self, stack: ExitStack) -> None:
        self.t = build_types()
        self.btf_fd = load_btf(self.t.blob)
        stack.callback(os.close, self.btf_fd)
        self.stack = stack

    def make(self, type_name: str, name: str, key_size: int, value_size: int, max_entries: int, *,
             key_type: int = 0, value_type: int = 0, flags: int = 0) -> maps.Map:
        assert name.startswith("wr_") and len(name) <= 15
        fd = maps.create_map(map_type_id(type_name), key_size, value_size, max_entries, name=name,
                             flags=flags, btf_fd=self.btf_fd if value_type else 0, btf_key_type_id=key_type,
                             btf_value_type_id=value_type)
        m = maps.Map(fd)
        self.stack.callback(m.close)
        return m

    def stats_hash(self, name: str = "wr_hash", max_entries: int = 16) -> maps.Map:
        return self.make("hash", name, 4, STATS_SIZE, max_entries, key_type=self.t.u32,
                         value_type=self.t.stats)

    def u64_map(self, type_name: str, name: str, max_entries: int = 8, **kw: int) -> maps.Map:
        return self.make(type_name, name, 4, 8, max_entries, key_type=self.t.u32, value_type=self.t.u64, **kw)
